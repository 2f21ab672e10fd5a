"""Consumer activity: transaction counts and average amounts over the last 1 and 7 days (nightly)."""

from __future__ import annotations

from featurestore.aggregations import Window
from featurestore.spec import FeatureGroupSpec, Key
from quality import Severity
from quality.drift import DriftCheckConfig
from quality.expectations import between, expectation, not_null, row_count_between
from feature_groups import example_start


consumer = FeatureGroupSpec(
    name="consumer",
    description="Per-consumer transaction activity over the last day and week",
    owner="fraud-ml@example.com",
    keys=(Key("consumer_id", "string"),),
    windows=(
        Window(None, "row_count", "1d", name="num_trans_last_1d"),
        Window(None, "row_count", "7d", name="num_trans_last_7d"),
        Window("amount", "avg", "1d", name="avg_amt_last_1d"),
        Window("amount", "avg", "7d", name="avg_amt_last_7d"),
    ),
    sources=("transactions",),
    grain="daily",
    cron="30 1 * * *",
    start=example_start("2026-10-01"),
    ttl="1d",
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
