"""Reliability: bad input is refused with named errors and nothing written; faults lose and duplicate nothing."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
from dataclasses import replace
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from featurestore.errors import DataValidationError, FeatureStoreError, SchemaMismatchError, SpecError
from featurestore.offline.store import OfflineStore, WritePolicy
from featurestore.spec import Feature
from featurestore.training.sets import get_historical_features
from tests.faults.writer import T0, faults, rows

PROJECT = Path(__file__).resolve().parent.parent


@pytest.fixture
def store(spark, tmp_path):
    return OfflineStore(spark, str(tmp_path / "store"))


def _write(store, data, now=None):
    return store.write_features(faults, data, now=now)


def _history_version(store):
    return store.version(store.history_path(faults.name))


# ---- bad input ------------------------------------------------------------------------------------------------

def test_event_time_beyond_future_tolerance_is_refused(spark, store):
    _write(store, rows(spark, 10, 0), now=T0 + timedelta(days=3))
    future = rows(spark, 8, 40)  # event times T0 + 40h .. T0 + 47h
    with pytest.raises(DataValidationError, match=r"'faults': 'event_time' .* is later than now \+ 1:00:00"):
        _write(store, future, now=T0 + timedelta(hours=40))
    assert _history_version(store) == 0 and store.read_history("faults").count() == 10


def test_event_time_older_than_retention_is_refused(spark, tmp_path):
    store = OfflineStore(spark, str(tmp_path / "retained"), WritePolicy(max_event_age=timedelta(days=30)))
    with pytest.raises(DataValidationError, match=r"'faults': 'event_time' .* older than the retention of 30 days"):
        _write(store, rows(spark, 5, 0), now=T0 + timedelta(days=60))
    assert not store.exists(store.history_path("faults"))


def test_naive_timestamps_are_utc_and_offsets_are_converted(spark, store):
    naive = spark.createDataFrame([(1, datetime(2026, 5, 1, 2), 1.0, "a")],
                                  "entity_id long, event_time timestamp, value double, label string")
    offset = spark.createDataFrame([(2, "2026-05-01T04:00:00+02:00", 2.0, "b")],
                                   "entity_id long, event_time string, value double, label string")
    offset = offset.selectExpr("entity_id", "cast(event_time as timestamp) event_time", "value", "label")
    _write(store, naive.unionByName(offset), now=T0 + timedelta(days=1))
    times = {r.entity_id: r.event_time for r in store.read_history("faults").collect()}
    assert times == {1: datetime(2026, 5, 1, 2), 2: datetime(2026, 5, 1, 2)}  # both 02:00 UTC


def test_timezone_naive_timestamp_ntz_column_is_refused(spark, store):
    ntz = spark.createDataFrame([(1, "2026-05-01 02:00:00", 1.0, "a")],
                                "entity_id long, event_time string, value double, label string")
    ntz = ntz.selectExpr("entity_id", "cast(event_time as timestamp_ntz) event_time", "value", "label")
    with pytest.raises(SchemaMismatchError, match=r"'faults': column 'event_time' is a timezone-naive timestamp"):
        _write(store, ntz)
    assert not store.exists(store.history_path("faults"))


def test_type_change_is_refused_with_advice_and_version_unchanged(spark, store):
    _write(store, rows(spark, 10, 0), now=T0 + timedelta(days=3))
    changed = replace(faults, features=(Feature("value", "string"), Feature("label", "string")))
    data = rows(spark, 10, 0).selectExpr("entity_id", "event_time", "cast(value + 1 as string) value", "label")
    with pytest.raises(SchemaMismatchError, match=r"'faults': column 'value' is double in the stored history but "
                                                  r"string in the spec.*add a new feature"):
        store.write_features(changed, data, now=T0 + timedelta(days=3))
    assert _history_version(store) == 0


def test_additive_schema_change_is_allowed_and_old_rows_read_null(spark, store):
    _write(store, rows(spark, 4, 0), now=T0 + timedelta(days=3))
    grown = replace(faults, features=faults.features + (Feature("extra", "long"),))
    data = rows(spark, 6, 0).selectExpr("*", "entity_id * 10 as extra")
    result = store.write_features(grown, data, now=T0 + timedelta(days=3))
    assert (result.rows_written, result.rows_corrected) == (6, 4)  # a new column is a new value for old keys
    history = store.read_history("faults")
    assert "extra" in history.columns
    assert history.filter("extra is null").count() == 4 and history.count() == 10
    assert store.read_latest("faults").filter("extra is null").count() == 0


def test_missing_and_corrupt_tables_give_named_errors(spark, store):
    with pytest.raises(FeatureStoreError, match=r"feature group 'faults': no Delta table at .*materialise it first"):
        store.read_history("faults")
    _write(store, rows(spark, 3, 0), now=T0 + timedelta(days=3))
    log = Path(store.history_path("faults")) / "_delta_log" / "00000000000000000000.json"
    log.write_text("{not json")
    log.with_name(f".{log.name}.crc").unlink(missing_ok=True)
    spark._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()  # as a new process would see it
    with pytest.raises(FeatureStoreError, match=r"feature group 'faults': cannot read the Delta table at .*faults/history"):
        store.read_history("faults").collect()


def test_training_entity_table_errors(spark, store):
    _write(store, rows(spark, 3, 0), now=T0 + timedelta(days=3))
    groups = {"faults": faults}
    entities = spark.createDataFrame([(1, T0)], "entity_id long, ts timestamp")
    with pytest.raises(SpecError, match=r"ts"):
        get_historical_features(store, entities.drop("ts"), ["faults:value"], groups)
    with pytest.raises(SpecError, match=r"entity_id"):
        get_historical_features(store, entities.drop("entity_id"), ["faults:value"], groups)
    with_null = spark.createDataFrame([(1, None), (1, T0 + timedelta(hours=1))], "entity_id long, ts timestamp")
    result = get_historical_features(store, with_null, ["faults:value"], groups).collect()
    assert sorted((r.ts is None, r.value) for r in result) == [(False, 1.0), (True, None)]  # kept, null features


# ---- faults -----------------------------------------------------------------------------------------------------

def _writer(root, count, *extra, **popen):
    env = {**os.environ, "PYTHONPATH": str(PROJECT)}
    return subprocess.Popen([sys.executable, "-m", "tests.faults.writer", root, str(count), *map(str, extra)],
                            cwd=PROJECT, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                            start_new_session=True, **popen)


def _data_files(path):
    return {p for p in Path(path).rglob("*.parquet")}


def test_a_killed_write_leaves_all_or_nothing_and_the_next_run_completes_it(spark, store):
    _write(store, rows(spark, 100, 0), now=T0 + timedelta(days=3))
    before = _data_files(store.history_path("faults"))
    process = _writer(store.root, 600_000)
    deadline = time.monotonic() + 240
    while time.monotonic() < deadline and process.poll() is None:
        if _data_files(store.history_path("faults")) - before:  # the big append is under way
            break
        time.sleep(0.05)
    os.killpg(process.pid, signal.SIGKILL)
    process.wait()
    spark.catalog.clearCache()
    count, version = store.read_history("faults").count(), _history_version(store)
    assert (count, version) in {(100, 0), (600_000, 1)}, (count, version)  # all or none of the write
    result = _write(store, rows(spark, 600_000, 0), now=T0 + timedelta(days=3))
    history = store.read_history("faults")
    assert history.count() == 600_000 == history.select("entity_id", "event_time").distinct().count()
    assert result.rows_written == (600_000 - 100 if version == 0 else 0)
    assert store.read_latest("faults").count() == 600_000


def test_two_concurrent_writers_lose_and_duplicate_nothing(spark, store, tmp_path):
    _write(store, rows(spark, 10, 1_000_000), now=T0 + timedelta(days=3))  # the table exists
    together = ("--barrier", tmp_path, "--parties", 2)  # both processes have Spark up, then write together
    first = _writer(store.root, 40_000, "--offset", 0, *together)
    second = _writer(store.root, 40_000, "--offset", 20_000, *together)
    outputs = [p.communicate(timeout=400) for p in (first, second)]
    assert [p.returncode for p in (first, second)] == [0, 0], [o[1][-2000:] for o in outputs]
    spark.catalog.clearCache()
    history = store.read_history("faults")
    assert history.count() == 60_010  # the 20,000 shared rows are stored once
    assert history.select("entity_id", "event_time").distinct().count() == 60_010
    written = sorted(int(o[0].split()[1]) for o in outputs)
    assert sum(written) == 60_000, outputs
    assert store.read_latest("faults").count() == 60_010


def test_rerun_is_idempotent_and_a_correction_adds_only_changed_rows(spark, store):
    _write(store, rows(spark, 50, 0), now=T0 + timedelta(days=3))
    assert _write(store, rows(spark, 50, 0), now=T0 + timedelta(days=3)).rows_written == 0
    corrected = rows(spark, 50, 0).selectExpr("entity_id", "event_time",
                                              "if(entity_id < 5, value + 0.5, value) as value", "label")
    result = _write(store, corrected, now=T0 + timedelta(days=4))
    assert (result.rows_written, result.rows_corrected, result.rows_unchanged) == (5, 5, 45)
    assert store.read_history("faults").count() == 55


def test_as_known_at_training_set_is_identical_after_later_backfills(spark, store):
    _write(store, rows(spark, 20, 0), now=T0 + timedelta(days=3))
    entities = spark.createDataFrame([(i, T0 + timedelta(days=2)) for i in range(25)], "entity_id long, ts timestamp")
    cutoff = T0 + timedelta(days=3, hours=1)
    before = sorted(get_historical_features(store, entities, ["faults:*"], {"faults": faults},
                                            as_known_at=cutoff).collect())
    _write(store, rows(spark, 25, 0, scale=3.0), now=T0 + timedelta(days=5))  # corrections and new keys
    store.soft_delete(faults, [{"entity_id": 1}], at=T0, now=T0 + timedelta(days=5))
    after = sorted(get_historical_features(store, entities, ["faults:*"], {"faults": faults},
                                           as_known_at=cutoff).collect())
    assert after == before
    latest = sorted(get_historical_features(store, entities, ["faults:*"], {"faults": faults}).collect())
    assert latest != before
