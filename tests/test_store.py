"""Write, rerun, correction, delete and latest-values semantics of the offline store, read back from Delta."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from featurestore.columns import EVENT_TIME, IS_DELETED, WRITE_TIME
from featurestore.errors import DataValidationError, SchemaMismatchError
from featurestore.offline.store import OfflineStore
from featurestore.spec import Feature, FeatureGroupSpec, Key

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
SCHEMA = "user_id string, region string, ts timestamp, clicks long, score double"


def _spec(name: str = "clicks") -> FeatureGroupSpec:
    return FeatureGroupSpec(
        name=name, description="test group", owner="tests", keys=(Key("user_id"), Key("region")),
        features=(Feature("clicks", "long"), Feature("score", "double")), transform=lambda ctx: None,
        sources=("events",), grain="daily", start="2026-01-01", event_time_column="ts", ttl="7d")


@pytest.fixture
def store(spark, tmp_path):
    return OfflineStore(spark, str(tmp_path / "store"))


def _rows(spark, rows):
    return spark.createDataFrame(rows, SCHEMA)


def _history(store, spec):
    return sorted((r["user_id"], r["region"], r[EVENT_TIME], r["clicks"], r["score"], r[IS_DELETED], r[WRITE_TIME])
                  for r in store.read_history(spec.name).collect())


def test_first_write_appends_every_row_with_system_columns(spark, store):
    spec = _spec()
    result = store.write_features(spec, _rows(spark, [("u1", "eu", T0, 3, 0.5), ("u2", "us", T0, None, 1.0)]),
                                  now=T0 + timedelta(hours=1))
    assert (result.rows_written, result.rows_corrected, result.table_version) == (2, 0, 0)
    history = _history(store, spec)
    assert [(h[0], h[3], h[5]) for h in history] == [("u1", 3, False), ("u2", None, False)]
    assert {h[6] for h in history} == {datetime(2026, 1, 1, 1)}  # UTC, read back naive in the UTC session


def test_rerun_with_same_data_writes_nothing(spark, store):
    spec = _spec()
    rows = [("u1", "eu", T0, 3, 0.5), ("u2", "us", T0, None, None)]
    store.write_features(spec, _rows(spark, rows))
    again = store.write_features(spec, _rows(spark, rows))
    assert (again.rows_written, again.rows_unchanged, again.table_version) == (0, 2, 0)
    assert len(_history(store, spec)) == 2


def test_correction_is_appended_beside_the_original_with_later_write_time(spark, store):
    spec = _spec()
    store.write_features(spec, _rows(spark, [("u1", "eu", T0, 3, 0.5), ("u2", "us", T0, 1, 1.0)]))
    result = store.write_features(spec, _rows(spark, [("u1", "eu", T0, 4, 0.5), ("u2", "us", T0, 1, 1.0),
                                                     ("u3", "us", T0, 7, 0.0)]))
    assert (result.rows_written, result.rows_corrected, result.rows_unchanged) == (2, 1, 1)
    u1 = [h for h in _history(store, spec) if h[0] == "u1"]
    assert [h[3] for h in sorted(u1, key=lambda h: h[6])] == [3, 4]
    assert u1[0][6] != u1[1][6]


def test_write_time_is_monotonic_even_if_the_clock_goes_back(spark, store):
    spec = _spec()
    first = store.write_features(spec, _rows(spark, [("u1", "eu", T0, 1, 0.0)]), now=T0 + timedelta(days=2))
    second = store.write_features(spec, _rows(spark, [("u1", "eu", T0, 2, 0.0)]), now=T0 + timedelta(days=1))
    assert second.write_time == first.write_time + timedelta(microseconds=1)


def test_soft_delete_writes_markers_and_hides_the_key_from_latest(spark, store):
    spec = _spec()
    store.write_features(spec, _rows(spark, [("u1", "eu", T0, 1, 0.0), ("u2", "eu", T0, 2, 0.0)]))
    result = store.soft_delete(spec, [{"user_id": "u1", "region": "eu"}], at=T0 + timedelta(hours=5))
    assert result.rows_written == 1
    marker = [h for h in _history(store, spec) if h[5]]
    assert marker and marker[0][:3] == ("u1", "eu", datetime(2026, 1, 1, 5)) and marker[0][3] is None
    assert [r["user_id"] for r in store.read_latest(spec.name).collect()] == ["u2"]
    again = store.soft_delete(spec, [{"user_id": "u1", "region": "eu"}], at=T0 + timedelta(hours=5))
    assert again.rows_written == 0


def test_late_backfill_older_than_a_delete_does_not_resurrect_the_key(spark, store):
    spec = _spec()
    store.write_features(spec, _rows(spark, [("u1", "eu", T0, 1, 0.0)]))
    store.soft_delete(spec, [{"user_id": "u1", "region": "eu"}], at=T0 + timedelta(days=1))
    store.write_features(spec, _rows(spark, [("u1", "eu", T0 + timedelta(hours=12), 9, 0.0)]))
    assert store.read_latest(spec.name).count() == 0
    store.write_features(spec, _rows(spark, [("u1", "eu", T0 + timedelta(days=2), 5, 0.0)]))
    assert [r["clicks"] for r in store.read_latest(spec.name).collect()] == [5]


def test_latest_holds_newest_event_and_the_latest_correction(spark, store):
    spec = _spec()
    store.write_features(spec, _rows(spark, [("u1", "eu", T0, 1, 0.0), ("u1", "eu", T0 + timedelta(days=1), 2, 0.0)]))
    store.write_features(spec, _rows(spark, [("u1", "eu", T0 + timedelta(days=1), 3, 0.0)]))
    store.write_features(spec, _rows(spark, [("u1", "eu", T0 - timedelta(days=3), 0, 0.0)]))  # older backfill
    found = store.lookup(spec, [{"user_id": "u1", "region": "eu"}, {"user_id": "nobody", "region": "eu"}])
    assert [(r["clicks"], r[EVENT_TIME]) for r in found.collect()] == [(3, datetime(2026, 1, 2))]


def test_composite_keys_that_collide_as_strings_stay_apart(spark, store):
    spec = _spec()
    store.write_features(spec, _rows(spark, [("a_b", "c", T0, 1, 0.0), ("a", "b_c", T0, 2, 0.0)]))
    assert store.read_latest(spec.name).count() == 2


def test_missing_column_is_refused_naming_group_and_column(spark, store):
    spec = _spec()
    df = spark.createDataFrame([("u1", "eu", T0, 1)], "user_id string, region string, ts timestamp, clicks long")
    with pytest.raises(SchemaMismatchError, match=r"'clicks'.*\['score'\]"):
        store.write_features(spec, df)
    assert not store.exists(store.history_path(spec.name))


def test_wrong_type_is_refused_and_nothing_is_written(spark, store):
    spec = _spec()
    store.write_features(spec, _rows(spark, [("u1", "eu", T0, 1, 0.0)]))
    bad = spark.createDataFrame([("u1", "eu", T0, "many", 0.0)],
                                "user_id string, region string, ts timestamp, clicks string, score double")
    with pytest.raises(SchemaMismatchError, match=r"feature group 'clicks': column 'clicks' has type string"):
        store.write_features(spec, bad)
    assert store.version(store.history_path(spec.name)) == 0


def test_safe_widening_is_applied(spark, store):
    spec = _spec()
    df = spark.createDataFrame([("u1", "eu", T0, 1, 0.5)],
                               "user_id string, region string, ts timestamp, clicks int, score float")
    assert store.write_features(spec, df).rows_written == 1
    assert dict(store.read_history(spec.name).dtypes)["clicks"] == "bigint"


def test_extra_column_is_refused(spark, store):
    df = spark.createDataFrame([("u1", "eu", T0, 1, 0.5, "x")],
                               "user_id string, region string, ts timestamp, clicks long, score double, junk string")
    with pytest.raises(SchemaMismatchError, match=r"unexpected column\(s\) \['junk'\]"):
        store.write_features(_spec(), df)


def test_null_key_and_duplicate_key_time_are_refused(spark, store):
    spec = _spec()
    with pytest.raises(DataValidationError, match=r"null 'user_id'"):
        store.write_features(spec, _rows(spark, [(None, "eu", T0, 1, 0.0)]))
    with pytest.raises(DataValidationError, match=r"null 'ts'"):
        store.write_features(spec, _rows(spark, [("u1", "eu", None, 1, 0.0)]))
    with pytest.raises(DataValidationError, match=r"several rows for the same key"):
        store.write_features(spec, _rows(spark, [("u1", "eu", T0, 1, 0.0), ("u1", "eu", T0, 2, 0.0)]))
    assert not store.exists(store.history_path(spec.name))


def test_history_is_time_travelable_and_as_known_at_filters_writes(spark, store):
    spec = _spec()
    first = store.write_features(spec, _rows(spark, [("u1", "eu", T0, 1, 0.0)]), now=T0 + timedelta(days=1))
    store.write_features(spec, _rows(spark, [("u1", "eu", T0, 2, 0.0)]), now=T0 + timedelta(days=2))
    assert store.read_history(spec.name, version=first.table_version).count() == 1
    assert store.read_history(spec.name, as_known_at=T0 + timedelta(days=1, hours=1)).count() == 1
    assert store.read_history(spec.name).count() == 2
