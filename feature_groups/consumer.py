"""Consumer activity: transaction counts and average amounts over the last 1 and 7 days (nightly)."""

from __future__ import annotations

from datetime import timedelta

from pyspark.sql import DataFrame

from feature_groups._rolling import rolling_count_avg
from featurestore.spec import Feature, FeatureGroupSpec, Key, TransformInput
from quality import Severity
from quality.drift import DriftCheckConfig
from quality.expectations import between, expectation, not_null, row_count_between


def consumer_activity(ctx: TransformInput) -> DataFrame:
    """Per consumer and nightly snapshot: num_trans_last_1d/7d and avg_amt_last_1d/7d."""
    return rolling_count_avg(ctx, ctx.sources["transactions"], key="consumer_id", value="amount",
                             windows={"1d": timedelta(days=1), "7d": timedelta(days=7)})


consumer = FeatureGroupSpec(
    name="consumer",
    description="Per-consumer transaction activity over the last day and week",
    owner="fraud-ml@example.com",
    keys=(Key("consumer_id", "string"),),
    features=(
        Feature("num_trans_last_1d", "long", "transactions in the last 24 hours"),
        Feature("num_trans_last_7d", "long", "transactions in the last 7 days"),
        Feature("avg_amt_last_1d", "double", "average amount in the last 24 hours"),
        Feature("avg_amt_last_7d", "double", "average amount in the last 7 days"),
    ),
    transform=consumer_activity,
    sources=("transactions",),
    grain="daily",
    cron="30 1 * * *",
    start="2026-10-01",
    ttl="1d",
    source_lookback="7d",
    expectations=(
        between("num_trans_last_1d", 0),
        between("num_trans_last_7d", 1),  # a consumer has a row only if its 7-day window holds a transaction
        between("avg_amt_last_1d", 0, 10_000, strict=True),
        between("avg_amt_last_7d", 0, 10_000, strict=True),
        not_null("avg_amt_last_7d"),
        row_count_between(1, 1_000_000),  # per daily partition
        expectation("ExpectColumnMeanToBeBetween", name="mean:avg_amt_last_7d", columns=["avg_amt_last_7d"],
                    column="avg_amt_last_7d", min_value=10, max_value=500, severity=Severity.WARN),
    ),
    drift=DriftCheckConfig(reference="7d"),  # each day against the 7 days before it
)
