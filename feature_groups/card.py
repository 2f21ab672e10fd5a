"""Card velocity: transaction counts and average amounts over the last hour and day (hourly)."""

from __future__ import annotations

from featurestore.aggregations import Window
from featurestore.spec import FeatureGroupSpec, Key
from quality.drift import DriftCheckConfig
from quality.expectations import between, not_null, row_count_between
from feature_groups import example_start


card = FeatureGroupSpec(
    name="card",
    description="Per-card transaction velocity over the last hour and day",
    owner="fraud-ml@example.com",
    keys=(Key("cc_num", "string"),),
    windows=(
        Window(None, "row_count", "1h", name="num_trans_last_1h"),
        Window(None, "row_count", "1d", name="num_trans_last_1d"),
        Window("amount", "avg", "1h", name="avg_amt_last_1h"),
        Window("amount", "avg", "1d", name="avg_amt_last_1d"),
    ),
    sources=("transactions",),
    grain="hourly",
    cron="5 * * * *",
    start=example_start("2026-10-01"),
    ttl="1h",
    expectations=(
        between("num_trans_last_1h", 0),
        between("num_trans_last_1d", 1),  # a card has a row only if its 1-day window holds a transaction
        between("avg_amt_last_1h", 0, 50_000, strict=True),  # one transaction can be large
        between("avg_amt_last_1d", 0, 50_000, strict=True),
        not_null("avg_amt_last_1d"),
        row_count_between(1, 1_000_000),  # per hourly partition
    ),
    drift=DriftCheckConfig(reference="1d"),  # each hour against the 24 hours before it
)
