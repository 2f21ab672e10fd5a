"""The delta-rs side of a small write (`featurestore.storage.delta_log`, `featurestore.offline.local_classify`)
answers as Spark does on the same table: log probes, classification, and the latest table's sync."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import pytest

from featurestore.offline import history_write, latest_table, local_classify
from featurestore.offline.store import OfflineStore
from featurestore.spec import Feature, FeatureGroupSpec, Key
from featurestore.storage import delta_log

T0 = datetime(2026, 5, 1, 23, tzinfo=timezone.utc)
SPEC = FeatureGroupSpec(name="logs", description="test group", owner="tests", keys=(Key("k"), Key("x", "double")),
                        features=(Feature("f", "double"), Feature("g", "string")), transform=lambda ctx: None,
                        sources=("events",), grain="hourly", start="2026-05-01", event_time_column="ts")
SCHEMA = "k string, x double, ts timestamp, f double, g string"


def _write(spark, store, rows, now):
    return store.write_features(SPEC, spark.createDataFrame(rows, SCHEMA), now=now)


@pytest.fixture()
def store(spark, tmp_path):
    store = OfflineStore(spark, str(tmp_path))
    _write(spark, store, [("a", 0.0, T0, 1.0, "u"), ("a", math.nan, T0, math.nan, None),
                          ("b", 1.5, T0 + timedelta(hours=2), None, "v")], T0 + timedelta(hours=3))
    store.soft_delete(SPEC, [{"k": "b", "x": 1.5}], at=T0 + timedelta(hours=2), now=T0 + timedelta(hours=4))
    _write(spark, store, [("a", -0.0, T0, 2.0, "u")], T0 + timedelta(hours=5))
    return store


def test_only_local_tables_on_a_classic_session_use_delta_rs(spark):
    assert delta_log.usable(spark, "/data/store/features/g/history")
    assert delta_log.usable(spark, "file:///data/store/features/g/history")
    assert not delta_log.usable(spark, "s3a://bucket/store/features/g/history")
    assert not delta_log.usable(spark, "abfss://c@account.dfs.core.windows.net/store")


def test_the_log_probes_match_delta_spark(spark, store, monkeypatch):
    history, latest = store.history_path(SPEC.name), store.latest_path(SPEC.name)
    fast_history, fast_latest = history_write.probe(spark, history), latest_table.probe(spark, latest)
    recent = history_write.recent_commits(spark, history, 20)
    monkeypatch.setattr(delta_log, "usable", lambda *_: False)
    spark_history, spark_latest = history_write.probe(spark, history), latest_table.probe(spark, latest)
    assert fast_history.version == spark_history.version == 2
    assert fast_history.watermark == spark_history.watermark == T0 + timedelta(hours=5)
    assert fast_history.columns == spark_history.columns
    assert fast_history.schema == spark_history.schema
    assert fast_latest == spark_latest and fast_latest.synced == 2
    assert recent == history_write.recent_commits(spark, history, 20)
    assert [v for v, _ in recent] == [2, 1, 0]
    assert history_write.probe(spark, store.history_path("absent")).version is None


def test_the_driver_classifies_as_spark_does(spark, store):
    """NaN keys equal NaN, -0.0 equals 0.0, NaN values are unchanged, a delete marker differs from a live row."""
    rows = [("a", 0.0, T0, 2.0, "u"),  # the -0.0 correction of the last write: unchanged
            ("a", math.nan, T0, math.nan, None),  # unchanged
            ("b", 1.5, T0 + timedelta(hours=2), None, "v"),  # differs from the delete marker
            ("c", 1.0, T0 + timedelta(hours=1), 1.0, "w")]  # new
    frame = spark.createDataFrame(rows, SCHEMA).withColumnRenamed("ts", "event_time")
    batch = frame.toArrow()
    path = store.history_path(SPEC.name)
    state = history_write.probe(spark, path)
    stats = {"dates": sorted({T0.date(), (T0 + timedelta(hours=2)).date()}),
             "min_time": T0, "max_time": T0 + timedelta(hours=2)}
    for deleted in (False, True):
        driver = local_classify.classify(SPEC, batch, path, state, stats, deleted)
        by_spark = history_write.classify(spark, SPEC, frame, path, state, stats, deleted, small=True).toArrow()
        assert driver.column(history_write.STATUS).to_pylist() == by_spark.column(history_write.STATUS).to_pylist()
        assert driver.column(history_write.BASE).to_pylist() == by_spark.column(history_write.BASE).to_pylist()
    def statuses(deleted):
        return local_classify.classify(SPEC, batch, path, state, stats, deleted).column(history_write.STATUS)

    assert statuses(False).to_pylist() == ["unchanged", "unchanged", "correction", "new"]
    assert statuses(True).to_pylist() == ["correction", "correction", "unchanged", "new"]


def test_a_write_that_changes_no_latest_row_still_records_the_sync(spark, store):
    """delta-rs commits nothing for a MERGE that changes no file: the sync is recorded in an empty commit, so
    the next write is not sent down the change-feed path."""
    result = _write(spark, store, [("a", 0.0, T0 - timedelta(hours=1), 9.0, "old")], T0 + timedelta(hours=6))
    assert result.rows_written == 1
    state = latest_table.probe(spark, store.latest_path(SPEC.name))
    assert state.synced == result.table_version == 3
    latest = spark.read.format("delta").load(store.latest_path(SPEC.name)).collect()
    assert sorted((r.k, r.x, r.f, r.g) for r in latest if r.x == 0.0) == [("a", 0.0, 2.0, "u")]  # newer event


def test_the_classified_schema_is_the_batch_and_status_columns(spark):
    schema = spark.createDataFrame([], SCHEMA).schema
    assert [f.name for f in local_classify.classified_schema(schema).fields] == [
        "k", "x", "ts", "f", "g", history_write.STATUS, history_write.BASE]
