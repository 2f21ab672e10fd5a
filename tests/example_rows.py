"""Hand-made rows of the example's source and groups (transactions, card, consumer) for small test stores."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

T0 = datetime(2026, 10, 1, tzinfo=timezone.utc)
CARDS = ["4000000000000001", "4000000000000002", "4000000000000003"]
TX_SCHEMA = "tid long, event_time timestamp, cc_num string, consumer_id string, amount double, fraud_label int"
CARD_SCHEMA = ("cc_num string, event_time timestamp, num_trans_last_1h long, num_trans_last_1d long, "
               "avg_amt_last_1h double, avg_amt_last_1d double")
CONSUMER_SCHEMA = ("consumer_id string, event_time timestamp, num_trans_last_1d long, num_trans_last_7d long, "
                   "avg_amt_last_1d double, avg_amt_last_7d double")


def write_transactions(spark, store, registry, count: int, minutes_apart: int) -> None:
    """Transactions 1..count-1 on T0's day, `minutes_apart` apart, over the three cards and two consumers."""
    transactions = [(i, T0 + timedelta(minutes=minutes_apart * i), CARDS[i % 3], f"c{i % 2}", 10.0 * i, i % 2)
                    for i in range(1, count)]
    store.write_source(registry.source("transactions"), spark.createDataFrame(transactions, TX_SCHEMA),
                       T0, T0 + timedelta(days=1))
