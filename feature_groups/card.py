"""Card velocity: transaction counts and average amounts over the last hour and day (hourly)."""

from __future__ import annotations

from datetime import timedelta

from pyspark.sql import DataFrame

from feature_groups._rolling import rolling_count_avg
from featurestore.spec import Feature, FeatureGroupSpec, Key, TransformInput
from quality.drift import DriftCheckConfig
from quality.expectations import between, not_null, row_count_between


def card_velocity(ctx: TransformInput) -> DataFrame:
    """Per card and hourly snapshot: num_trans_last_1h/1d and avg_amt_last_1h/1d."""
    return rolling_count_avg(ctx, ctx.sources["transactions"], key="cc_num", value="amount",
                             windows={"1h": timedelta(hours=1), "1d": timedelta(days=1)})


card = FeatureGroupSpec(
    name="card",
    description="Per-card transaction velocity over the last hour and day",
    owner="fraud-ml@example.com",
    keys=(Key("cc_num", "string"),),
    features=(
        Feature("num_trans_last_1h", "long", "transactions in the last hour"),
        Feature("num_trans_last_1d", "long", "transactions in the last 24 hours"),
        Feature("avg_amt_last_1h", "double", "average amount in the last hour"),
        Feature("avg_amt_last_1d", "double", "average amount in the last 24 hours"),
    ),
    transform=card_velocity,
    sources=("transactions",),
    grain="hourly",
    cron="5 * * * *",
    start="2026-10-01",
    ttl="1h",
    source_lookback="1d",
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
