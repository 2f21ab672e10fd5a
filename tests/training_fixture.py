"""A tiny store for maintenance / staleness / extension tests: one group, one label source, one training set."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta, timezone

from featurestore.offline.store import OfflineStore
from featurestore.registry import Registry
from featurestore.spec import Feature, FeatureGroupSpec, Key, SourceSpec
from featurestore.training.sets import TrainingSetSpec

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)
FEATURES = "account_id string, event_time timestamp, amount double, n long"
LABELS = "account_id string, ts timestamp, label int"

ACCT = FeatureGroupSpec(name="acct", description="accounts", owner="tests", keys=(Key("account_id"),),
                        features=(Feature("amount", "double"), Feature("n", "long")), transform=lambda ctx: None,
                        sources=("labels",), grain="daily", start="2026-03-01", ttl="2d")
LABELS_SOURCE = SourceSpec(name="labels", description="labels", event_time_column="ts", start="2026-03-01",
                           load=lambda spark, start, end: None)
TRAINING = TrainingSetSpec(name="small_set", description="", entity_source="labels", timestamp_column="ts",
                           entity_columns=("account_id", "ts", "label"), features=("acct:*",), label="label")
REGISTRY = Registry(sources={"labels": LABELS_SOURCE}, groups={"acct": ACCT},
                    training_sets={"small_set": TRAINING})


@dataclass
class Loaded:
    store: OfflineStore
    spark: object

    def write(self, rows, day: int):
        return self.store.write_features(ACCT, self.spark.createDataFrame(rows, FEATURES),
                                         now=T0 + timedelta(days=day))

    def labels(self, rows, start_day: int, end_day: int):
        return self.store.write_source(LABELS_SOURCE, self.spark.createDataFrame(rows, LABELS),
                                       T0 + timedelta(days=start_day), T0 + timedelta(days=end_day))


def day(d: float) -> datetime:
    return T0 + timedelta(days=d)


def loaded_store(spark, root) -> Loaded:
    """Two feature writes (two days) and labels for days 1-2."""
    loaded = Loaded(OfflineStore(spark, str(root)), spark)
    loaded.write([("a", day(0), 1.0, 1), ("b", day(0), 2.0, 2)], 5)
    loaded.write([("a", day(1), 3.0, 3), ("b", day(1.5), 4.0, 4)], 6)
    loaded.labels([("a", day(1.5), 1), ("b", day(1.75), 0), ("a", day(1.25), 0), ("c", day(1.5), 1)], 1, 2)
    return loaded
