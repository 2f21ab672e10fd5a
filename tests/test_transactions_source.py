"""The example generator is deterministic and produces the declared columns inside its window."""

from __future__ import annotations

from datetime import datetime, timezone

from feature_groups.transactions import TransactionsConfig, generate_transactions

DAY = datetime(2026, 10, 1, tzinfo=timezone.utc)
END = datetime(2026, 10, 3, tzinfo=timezone.utc)


def test_same_window_and_seed_give_the_same_rows(spark):
    config = TransactionsConfig(per_day=500, cards=50, consumers=20)
    first = generate_transactions(spark, DAY, END, config).orderBy("tid").collect()
    second = generate_transactions(spark, DAY, END, config).orderBy("tid").collect()
    assert first == second and len(first) == 1000
    assert generate_transactions(spark, DAY, END, TransactionsConfig(per_day=500, cards=50, consumers=20, seed=8)) \
        .orderBy("tid").collect() != first


def test_rows_are_in_the_window_with_sane_values(spark):
    df = generate_transactions(spark, DAY, END, TransactionsConfig(per_day=500, cards=50, consumers=20))
    assert df.columns == ["tid", "event_time", "cc_num", "consumer_id", "amount", "fraud_label"]
    stats = df.selectExpr("min(event_time) lo", "max(event_time) hi", "min(amount) amin",
                          "count(distinct cc_num) cards", "count(distinct consumer_id) consumers",
                          "count(distinct tid) tids", "sum(fraud_label) frauds").first()
    assert datetime(2026, 10, 1) <= stats.lo and stats.hi < datetime(2026, 10, 3)
    assert stats.amin > 0 and stats.cards <= 50 and stats.consumers <= 20 and stats.tids == 1000
    assert 0 < stats.frauds < 100


def test_injected_drift_scales_amounts_from_the_given_day(spark):
    base = TransactionsConfig(per_day=300, cards=10, consumers=5)
    drifted = TransactionsConfig(per_day=300, cards=10, consumers=5, drift_from=datetime(2026, 10, 2).date())
    plain = {r.tid: r.amount for r in generate_transactions(spark, DAY, END, base).collect()}
    shifted = {r.tid: r.amount for r in generate_transactions(spark, DAY, END, drifted).collect()}
    day_two = [tid for tid in plain if tid % 10_000_000 >= 0 and shifted[tid] != plain[tid]]
    assert len(day_two) == 300
    assert all(abs(shifted[t] - round(plain[t] * 3, 2)) < 0.02 for t in day_two)
