"""The example's raw source: credit-card transactions (SageMaker / GoDaddy fraud example), generated.

Deterministic: every value is a hash of (seed, transaction id), so a day's rows are the same on every run
and on any cluster. Size and an optional injected drift come from environment variables read at call time (the drift day also
from a file named by FEATURESTORE_DEMO_DRIFT_FILE).
"""

from __future__ import annotations

import os
from dataclasses import dataclass
from datetime import date, datetime, timedelta

from typing import TYPE_CHECKING

from featurestore.spec import SourceSpec
from feature_groups import example_start

if TYPE_CHECKING:  # pyspark is imported when data is generated, not when the spec is discovered
    from pyspark.sql import Column, DataFrame, SparkSession

_TWO_POW_63 = float(2**63)
_EPOCH_2000_MICROS = 946_684_800_000_000  # 2000-01-01T00:00:00Z


@dataclass(frozen=True)
class TransactionsConfig:
    """How much data to generate, and from which day (if any) to shift the amount distribution."""

    per_day: int = 20_000
    cards: int = 4_000
    consumers: int = 1_500
    seed: int = 7
    drift_from: date | None = None
    drift_factor: float = 3.0

    @classmethod
    def from_env(cls) -> TransactionsConfig:
        drift = os.environ.get("FEATURESTORE_DEMO_DRIFT_FROM") or _drift_file_day()
        return cls(per_day=int(os.environ.get("FEATURESTORE_DEMO_TX_PER_DAY", cls.per_day)),
                   cards=int(os.environ.get("FEATURESTORE_DEMO_CARDS", cls.cards)),
                   consumers=int(os.environ.get("FEATURESTORE_DEMO_CONSUMERS", cls.consumers)),
                   seed=int(os.environ.get("FEATURESTORE_DEMO_SEED", cls.seed)),
                   drift_from=date.fromisoformat(drift) if drift else None)


def _drift_file_day() -> str | None:
    """The day in the file FEATURESTORE_DEMO_DRIFT_FILE names, if it exists: the demo writes it while it reloads
    a day with drift, so runs the Dagster daemon launches (in their own processes) see it without a restart."""
    path = os.environ.get("FEATURESTORE_DEMO_DRIFT_FILE")
    if not path or not os.path.exists(path):
        return None
    with open(path, encoding="utf-8") as handle:
        return handle.read().strip() or None


def _uniform(seed: int, salt: str, tid: Column) -> Column:
    """A deterministic uniform in [0, 1) from (seed, salt, tid)."""
    from pyspark.sql import functions as F

    return F.abs(F.xxhash64(F.lit(seed), F.lit(salt), tid)).cast("double") / F.lit(_TWO_POW_63)


def generate_transactions(spark: SparkSession, start: datetime, end: datetime,
                          config: TransactionsConfig | None = None) -> DataFrame:
    """Transactions with start <= event_time < end (whole UTC days): tid, event_time, cc_num, consumer_id,
    amount, fraud_label."""
    from pyspark.sql import functions as F

    config = config or TransactionsConfig.from_env()
    days = [start.date() + timedelta(days=i) for i in range((end.date() - start.date()).days or 1)]
    frames = []
    for day in days:
        day_index = (day - date(2000, 1, 1)).days
        base = spark.range(config.per_day).withColumn("tid", F.col("id") + F.lit(day_index * 10_000_000))
        tid = F.col("tid")
        card = (_uniform(config.seed, "card", tid) * config.cards).cast("long")
        micros = (_uniform(config.seed, "time", tid) * 86_400_000_000).cast("long")
        gauss = F.sqrt(-2 * F.log(1 - _uniform(config.seed, "u1", tid))) * F.cos(
            2 * 3.141592653589793 * _uniform(config.seed, "u2", tid))
        amount = F.round(F.exp(F.lit(3.5) + F.lit(1.0) * gauss), 2)
        if config.drift_from is not None and day >= config.drift_from:
            amount = F.round(amount * F.lit(config.drift_factor), 2)
        frames.append(base.select(
            tid,
            F.timestamp_micros(F.lit(day_index * 86_400_000_000 + _EPOCH_2000_MICROS) + micros)
            .alias("event_time"),
            F.format_string("4%015d", card).alias("cc_num"),
            F.format_string("c%06d", card % config.consumers).alias("consumer_id"),
            amount.alias("amount"),
            (_uniform(config.seed, "fraud", tid) < F.when(amount > 300, 0.08).otherwise(0.005))
            .cast("int").alias("fraud_label"),
        ))
    result = frames[0]
    for frame in frames[1:]:
        result = result.unionByName(frame)
    return result.filter((F.col("event_time") >= F.lit(start)) & (F.col("event_time") < F.lit(end)))


transactions = SourceSpec(
    name="transactions",
    description="Card transactions (generated): tid, event_time, cc_num, consumer_id, amount, fraud_label",
    event_time_column="event_time",
    start=example_start("2026-09-01", lead_days=7),  # the consumer group reads 7 days back
    load=generate_transactions,
)
