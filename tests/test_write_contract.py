"""The write contract whatever the zone, the threads or the damage: stored data read back from Delta.

Times are read back as epoch microseconds (`F.unix_micros`) so that the assertions themselves depend on no zone.
"""

from __future__ import annotations

import os
import threading
import time
import warnings
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from pyspark.sql import functions as F

from featurestore.columns import EVENT_DATE, EVENT_TIME, IS_DELETED, WRITE_TIME
from featurestore.errors import DataValidationError, FeatureStoreError
from featurestore.offline.store import LatestTableRepaired, OfflineStore
from featurestore.session import SESSION_TIME_ZONE, build_spark_session
from featurestore.spec import Feature, FeatureGroupSpec, Key, SourceSpec
from featurestore.storage.delta_utils import parse_metadata
from featurestore.times import to_micros
from featurestore.training.sets import get_historical_features

T0 = datetime(2026, 11, 1, tzinfo=timezone.utc)  # US daylight saving ends that night
SCHEMA = "user_id string, ts timestamp, clicks long"


def _spec(name: str = "zones") -> FeatureGroupSpec:
    return FeatureGroupSpec(name=name, description="test group", owner="tests", keys=(Key("user_id"),),
                            features=(Feature("clicks", "long"),), transform=lambda ctx: None, sources=("events",),
                            grain="daily", start="2026-10-01", event_time_column="ts")


@pytest.fixture
def store(spark, tmp_path):
    return OfflineStore(spark, str(tmp_path / "store"))


def _rows(spark, rows):
    """Rows given with aware datetimes (exact in every zone)."""
    micros = [(key, to_micros(moment), clicks) for key, moment, clicks in rows]
    df = spark.createDataFrame(micros, "user_id string, ts_us long, clicks long")
    return df.select("user_id", F.timestamp_micros("ts_us").alias("ts"), "clicks")


def _history(store, group="zones"):
    return sorted((r.user_id, r.ts, r.day, r.clicks, r.deleted) for r in store.read_history(group).select(
        "user_id", F.unix_micros(EVENT_TIME).alias("ts"), F.col(EVENT_DATE).cast("string").alias("day"),
        "clicks", F.col(IS_DELETED).alias("deleted")).collect())


def _latest(store, group="zones"):
    return sorted((r.user_id, r.clicks) for r in store.read_latest(group).collect())


@contextmanager
def _session_zone(spark, zone):
    previous = spark.conf.get(SESSION_TIME_ZONE)
    spark.conf.set(SESSION_TIME_ZONE, zone)
    try:
        yield
    finally:
        spark.conf.set(SESSION_TIME_ZONE, previous)


@contextmanager
def _process_zone(zone):
    previous = os.environ.get("TZ")
    os.environ["TZ"] = zone
    time.tzset()
    try:
        yield
    finally:
        os.environ["TZ"] = previous or "UTC"
        time.tzset()


# ---- time zones (issue 16, items 1 and 2) ------------------------------------------------------------------

@pytest.mark.tz
def test_a_session_in_another_zone_stores_the_same_data_and_reruns_write_nothing(spark, store):
    spec, now = _spec(), T0 + timedelta(days=1)
    data = [("a", T0 + timedelta(hours=2), 1), ("b", T0 + timedelta(hours=23, minutes=30), 2)]
    with _session_zone(spark, "America/New_York"):
        first = store.write_features(spec, _rows(spark, data), now=now)
        again = store.write_features(spec, _rows(spark, data), now=now)
    assert (first.rows_written, again.rows_written, again.rows_unchanged) == (2, 0, 2)
    expected = [("a", to_micros(data[0][1]), "2026-11-01", 1, False), ("b", to_micros(data[1][1]), "2026-11-01", 2, False)]
    assert _history(store) == expected  # 02:00Z lands in its UTC day, not New York's previous day
    # UTC 1 -> New York 5 -> UTC 1: the revert is a correction and is served
    with _session_zone(spark, "Asia/Kolkata"):
        assert store.write_features(spec, _rows(spark, [("a", data[0][1], 5)]), now=now).rows_corrected == 1
    assert store.write_features(spec, _rows(spark, [("a", data[0][1], 1)]), now=now).rows_corrected == 1
    assert _latest(store) == [("a", 1), ("b", 2)]
    assert len(_history(store)) == 4


@pytest.mark.tz
def test_sources_are_partitioned_and_reloaded_by_utc_day_in_any_session_zone(spark, store):
    source = SourceSpec(name="events", description="test source", event_time_column="ts", start="2026-10-01",
                        load=lambda *a: None)
    start, end = T0, T0 + timedelta(days=1)
    day = _rows(spark, [("a", T0 + timedelta(hours=1), 1), ("b", T0 + timedelta(hours=12), 2),
                        ("c", T0 + timedelta(hours=23, minutes=59), 3)])
    with _session_zone(spark, "America/New_York"):
        store.write_source(source, day, start, end)
        store.write_source(source, day, start, end)  # a reload replaces that UTC day, no REPLACE_WHERE mismatch
        read = store.read_source("events", "ts", start, end).count()
    with _session_zone(spark, "Asia/Kolkata"):
        assert store.read_source("events", "ts", start, end).count() == read == 3
    days = {r[0] for r in spark.read.format("delta").load(store.source_path("events")).select(EVENT_DATE).collect()}
    assert {d.isoformat() for d in days} == {"2026-11-01"}


@pytest.mark.tz
def test_a_machine_in_another_zone_keeps_limits_reruns_and_corrections(spark, store):
    spec = _spec()
    written_at = datetime.now(timezone.utc).replace(microsecond=0)
    recent = [("a", written_at - timedelta(hours=1), 1)]
    with _process_zone("America/New_York"):  # Python's zone only; every input is an aware instant
        store.write_features(spec, _rows(spark, recent))
        assert store.write_features(spec, _rows(spark, recent)).rows_written == 0  # no "commit not found"
        corrected = store.write_features(spec, _rows(spark, [("a", recent[0][1], 7)]))
        assert corrected.rows_corrected == 1
        with pytest.raises(DataValidationError, match=r"'zones': 'ts' .* is later than now \+ 1:00:00"):
            store.write_features(spec, _rows(spark, [("b", written_at + timedelta(hours=3), 1)]))
    assert _latest(store) == [("a", 7)]


@pytest.mark.tz
def test_build_spark_session_makes_the_session_and_the_process_utc_so_naive_means_utc(spark, store):
    with _session_zone(spark, "America/New_York"):
        with _process_zone("America/New_York"):
            session = build_spark_session()
            assert session is spark and spark.conf.get(SESSION_TIME_ZONE) == "UTC"
            assert os.environ["TZ"] == "UTC"
            naive = spark.createDataFrame([("a", datetime(2026, 11, 1, 2), 1)], SCHEMA)
            store.write_features(_spec(), naive, now=T0 + timedelta(days=1))
    assert _history(store) == [("a", to_micros(datetime(2026, 11, 1, 2, tzinfo=timezone.utc)), "2026-11-01", 1, False)]


# ---- threads (issue 16, item 3) -------------------------------------------------------------------------------

def test_threads_of_one_session_write_two_groups_safely(spark, store):
    specs = [_spec("left"), _spec("right")]
    errors: list[BaseException] = []

    def writer(spec, offset):
        try:
            for batch in range(3):
                data = [(f"k{i}", T0 + timedelta(hours=batch), offset + batch) for i in range(30)]
                result = store.write_features(spec, _rows(spark, data), now=T0 + timedelta(days=1))
                assert result.rows_written == 30 and result.table_version is not None
        except BaseException as error:  # noqa: BLE001 - reported below
            errors.append(error)

    threads = [threading.Thread(target=writer, args=(spec, 100 * n)) for n, spec in enumerate(specs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert not errors, errors
    from delta.tables import DeltaTable

    for n, spec in enumerate(specs):
        commits = DeltaTable.forPath(spark, store.history_path(spec.name)).history().select("userMetadata").collect()
        assert {parse_metadata(m).get("group") for (m,) in commits} == {spec.name}  # nobody else's metadata
        assert len(_history(store, spec.name)) == 90
        assert _latest(store, spec.name) == [(f"k{i}", 100 * n + 2) for i in sorted(range(30), key=str)]
        assert store.synced_history_version(spec.name) == store.version(store.history_path(spec.name))


# ---- damage (issue 16, item 7) ------------------------------------------------------------------------------

def _damage_data_file(spark, path):
    """Delete every data file of the table's current version."""
    for file in spark.read.format("delta").load(path).inputFiles():
        Path(file.removeprefix("file:")).unlink()


def _truncate_last_commit(spark, path):
    commits = sorted((Path(path) / "_delta_log").glob("*.json"))
    commits[-1].write_text(commits[-1].read_text()[:40])
    for crc in (Path(path) / "_delta_log").glob("*.crc"):
        crc.unlink()


@pytest.mark.parametrize("damage", [_damage_data_file, _truncate_last_commit])
def test_a_damaged_latest_table_is_rebuilt_from_the_history_and_said_so(spark, store, damage):
    spec = _spec()
    store.write_features(spec, _rows(spark, [("a", T0, 1), ("b", T0, 2)]), now=T0 + timedelta(days=1))
    store.write_features(spec, _rows(spark, [("a", T0, 3)]), now=T0 + timedelta(days=1))
    damage(spark, store.latest_path(spec.name))
    spark._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()  # as a new process would see it
    with pytest.warns(LatestTableRepaired, match=r"'zones': the latest table .* was damaged"):
        result = store.write_features(spec, _rows(spark, [("a", T0 + timedelta(hours=1), 4), ("b", T0, 5)]),
                                      now=T0 + timedelta(days=1))  # the MERGE reads the damaged part
    assert result.rows_written == 2 and "rebuilt from the history" in result.latest_repaired
    assert _latest(store) == [("a", 4), ("b", 5)]
    with warnings.catch_warnings():
        warnings.simplefilter("error", LatestTableRepaired)
        later = store.write_features(spec, _rows(spark, [("a", T0 + timedelta(hours=2), 6)]), now=T0 + timedelta(days=1))
    assert later.latest_repaired is None and _latest(store) == [("a", 6), ("b", 5)]


def test_a_damaged_history_gives_an_error_naming_group_table_and_cause(spark, store):
    spec = _spec()
    store.write_features(spec, _rows(spark, [("a", T0, 1)]), now=T0 + timedelta(days=1))
    store.write_features(spec, _rows(spark, [("b", T0, 2)]), now=T0 + timedelta(days=1))
    _damage_data_file(spark, store.history_path(spec.name))
    spark._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()
    with pytest.raises(FeatureStoreError, match=r"feature group 'zones': the history table at .*history failed: "
                                                r".*(FileNotFound|does not exist|FAILED_READ_FILE)"):
        store.write_features(spec, _rows(spark, [("a", T0, 5)]), now=T0 + timedelta(days=1))
    _truncate_last_commit(spark, store.history_path(spec.name))
    spark._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()
    with pytest.raises(FeatureStoreError, match=r"feature group 'zones': the history table at .*history failed") as info:
        store.write_features(spec, _rows(spark, [("c", T0, 5)]), now=T0 + timedelta(days=1))
    assert "z:" not in str(info.value) and "An error occurred while calling" not in str(info.value)


# ---- smaller (issue 16, item 8) -----------------------------------------------------------------------------

def test_soft_delete_takes_an_iso_time_and_names_a_missing_key_column(spark, store):
    spec = FeatureGroupSpec(name="pairs", description="test", owner="tests", keys=(Key("user_id"), Key("region")),
                            features=(Feature("clicks", "long"),), transform=lambda ctx: None, sources=("events",),
                            grain="daily", start="2026-10-01", event_time_column="ts")
    rows = spark.createDataFrame([("u1", "eu", T0, 1)], "user_id string, region string, ts timestamp, clicks long")
    store.write_features(spec, rows, now=T0 + timedelta(days=1))
    result = store.soft_delete(spec, [{"user_id": "u1", "region": "eu"}], at="2026-11-01T05:00:00Z",
                               now=T0 + timedelta(days=1))
    assert result.rows_written == 1 and store.read_latest("pairs").count() == 0
    with pytest.raises(DataValidationError, match=r"'pairs': key column\(s\) \['region'\] missing"):
        store.soft_delete(spec, [{"user_id": "u1"}], at=T0, now=T0 + timedelta(days=1))


def test_event_times_outside_the_supported_range_are_refused_with_a_message(spark, store):
    ancient = spark.createDataFrame([("a", 1)], "user_id string, clicks long").select(
        "user_id", F.lit("0001-01-01 00:00:00").cast("timestamp").alias("ts"), "clicks")
    with pytest.raises(DataValidationError, match=r"'zones': 'ts' 0001-01-01.* outside the supported range"):
        store.write_features(_spec(), ancient)
    assert not store.exists(store.history_path("zones"))


# ---- empty groups (issue 14, item 4) ------------------------------------------------------------------------

def test_a_first_write_of_zero_rows_creates_both_tables_and_reads_give_nulls(spark, store):
    spec = _spec()
    empty = _rows(spark, [("a", T0, 1)]).limit(0)
    result = store.write_features(spec, empty)
    assert (result.rows_written, result.table_version) == (0, 0)
    history = spark.read.format("delta").load(store.history_path("zones"))
    assert history.count() == 0 and history.columns == ["user_id", EVENT_TIME, WRITE_TIME, IS_DELETED, "clicks",
                                                        EVENT_DATE]
    detail = spark.sql(f"DESCRIBE DETAIL delta.`{store.history_path('zones')}`").first()
    assert detail.partitionColumns == [EVENT_DATE]
    assert detail.properties.get("delta.enableChangeDataFeed") == "true"
    assert store.write_features(spec, empty).table_version == 0  # a rerun commits nothing
    assert store.read_latest("zones").count() == 0 and store.lookup(spec, [{"user_id": "a"}]).count() == 0
    entities = spark.createDataFrame([("a", T0)], "user_id string, ts timestamp")
    rows = get_historical_features(store, entities, ["zones:clicks"], {"zones": spec}).collect()
    assert [(r.user_id, r.clicks) for r in rows] == [("a", None)]
    store.write_features(spec, _rows(spark, [("a", T0, 1)]), now=T0 + timedelta(days=1))
    assert _latest(store) == [("a", 1)]
