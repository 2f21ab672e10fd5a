"""Entity keys are taken exactly as typed: a lookup or delete key of the wrong type is refused naming the
group and key (no 3.7 -> 3, no True -> 1, no '3' -> 3); NaN feature values round-trip through SQLite; a key
that cannot be served (NaN) is skipped and counted by the sync instead of blocking the group."""

from __future__ import annotations

import logging
import math
import sqlite3
from datetime import date, datetime, timedelta, timezone

import numpy as np
import pytest

from featurestore.errors import DataValidationError, InvalidKeyError
from featurestore.online.store import (OnlineStore, _apply, check_consistency, delta_get, get_online_features,
                                 key_tuples, keys_from_text)
from featurestore.offline.store import OfflineStore
from featurestore.spec import Feature, FeatureGroupSpec, Key

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)


def _spec(name: str, *keys: Key, features=(Feature("x", "double"),)) -> FeatureGroupSpec:
    return FeatureGroupSpec(name=name, description="d", owner="tests", keys=keys, features=features,
                            transform=lambda ctx: None, sources=("events",), grain="daily", start="2026-01-01")


INTS = _spec("ints", Key("entity_id", "long"))
FLOATS = _spec("floats", Key("score", "double"))
TYPED = _spec("typed", Key("i", "int"), Key("s", "string"), Key("f", "float"), Key("b", "bool"), Key("d", "date"),
              Key("t", "timestamp"))
GOOD = {"i": 1, "s": "a", "f": 0.5, "b": True, "d": date(2026, 1, 1), "t": T0}


@pytest.mark.parametrize("column, value", [
    ("i", 3.7), ("i", 3.0), ("i", True), ("i", np.bool_(True)), ("i", "3"), ("i", 2**31), ("i", np.float64(3)),
    ("s", 42), ("s", None), ("f", float("nan")), ("f", True), ("f", "0.5"), ("f", 2**60),
    ("b", 1), ("b", "true"), ("d", T0), ("d", "01/01/2026"), ("t", 1767225600), ("t", "yesterday"),
])
def test_a_key_of_the_wrong_type_is_refused_naming_group_and_key(column, value):
    with pytest.raises(InvalidKeyError, match=rf"feature group 'typed': key '{column}' is "):
        key_tuples(TYPED, [{**GOOD, column: value}])


def test_what_a_key_accepts_is_exact():
    (typed,) = key_tuples(TYPED, [{"i": np.int32(7), "s": np.str_("a"), "f": 0.1, "b": np.bool_(False),
                                   "d": "2026-01-02", "t": "2026-01-01T01:00:00+01:00"}])
    assert typed == (7, "a", float(np.float32(0.1)), False, date(2026, 1, 2), T0)
    assert type(typed[0]) is int and type(typed[1]) is str and type(typed[3]) is bool
    assert key_tuples(FLOATS, [{"score": 3}]) == [(3.0,)]  # an integer is exact in a double
    assert key_tuples(TYPED, [{**GOOD, "t": datetime(2026, 1, 1)}])[0][5] == T0  # naive means UTC
    with pytest.raises(InvalidKeyError, match=r"key column\(s\) \['s'\] missing"):
        key_tuples(TYPED, [{k: v for k, v in GOOD.items() if k != "s"}])


def test_text_keys_are_parsed_strictly_by_type():
    assert keys_from_text(TYPED, [{"i": "3", "s": "3", "f": "0.5", "b": "false", "d": "2026-01-01",
                                   "t": "2026-01-01T00:00:00Z"}]) == [
        {"i": 3, "s": "3", "f": 0.5, "b": False, "d": date(2026, 1, 1), "t": T0}]
    for column, text in (("i", "3.7"), ("i", "three"), ("f", "nan"), ("b", "maybe"), ("d", "soon")):
        with pytest.raises(InvalidKeyError, match=rf"'typed': key '{column}'"):
            keys_from_text(TYPED, [{**{k: "1" for k in "ifb"}, column: text}])


def test_a_row_sqlite_refuses_is_skipped_and_reported_not_fatal():
    conn = sqlite3.connect(":memory:", isolation_level=None)
    conn.execute("CREATE TABLE t (k INTEGER PRIMARY KEY, v REAL CHECK (v < 10))")
    skipped = []
    conn.execute("BEGIN")
    rows = [({"k": k}, (k, v)) for k, v in ((1, 1.0), (2, 99.0), (3, 3.0))]
    applied = _apply(conn, "INSERT OR REPLACE INTO t VALUES (?, ?)", rows, lambda row, why: skipped.append((row, why)))
    conn.execute("COMMIT")
    assert applied == 2 and conn.execute("SELECT k FROM t ORDER BY k").fetchall() == [(1,), (3,)]
    assert skipped[0][0] == {"k": 2} and "CHECK constraint" in skipped[0][1]


@pytest.fixture(scope="module")
def stores(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("keys")
    store = OfflineStore(spark, str(root / "store"))
    store.write_features(INTS, spark.createDataFrame(
        [(1, T0, 10.0), (3, T0, 30.0)], "entity_id long, event_time timestamp, x double"))
    store.write_features(FLOATS, spark.createDataFrame(
        [(1.5, T0, float("nan")), (float("nan"), T0, 2.0), (2.5, T0, 1.0)], "score double, event_time timestamp, x double"))
    return store, OnlineStore(root / "online.sqlite")


def test_lookups_refuse_float_and_bool_keys_on_both_backends(stores):
    store, online = stores
    online.sync(store, INTS)
    for backend in (store, online):
        for bad in (3.7, 3.0, True, "3"):
            with pytest.raises(InvalidKeyError, match=r"feature group 'ints': key 'entity_id' is long"):
                get_online_features(backend, INTS, {"entity_id": bad})
        assert [r["x"] for r in get_online_features(backend, INTS, [{"entity_id": np.int64(3)}, {"entity_id": 2}])] \
            == [30.0, None]
    # the lower-level lookups check their key tuples too
    with pytest.raises(InvalidKeyError, match=r"'ints': key 'entity_id' is long; got bool True"):
        online.get(INTS, [(True,)])
    with pytest.raises(InvalidKeyError, match=r"'ints': key 'entity_id' is long; got float 3.7"):
        delta_get(store, INTS, [(3.7,)])
    with pytest.raises(InvalidKeyError, match=r"one value per key column"):
        online.get(INTS, [(1, 2)])
    assert set(online.get(INTS, [(3,)])) == {(3,)}


def test_a_delete_with_wrong_typed_keys_writes_nothing(stores, spark):
    store, _ = stores
    before = store.version(store.history_path("ints"))
    with pytest.raises(InvalidKeyError, match=r"'ints': key 'entity_id' is long; got float 3.7"):
        store.soft_delete(INTS, [{"entity_id": 3.7}], at=T0 + timedelta(days=1))
    with pytest.raises(InvalidKeyError, match=r"got bool True"):
        store.soft_delete(INTS, [{"entity_id": True}], at=T0 + timedelta(days=1))
    with pytest.raises(DataValidationError, match=r"'ints': key column 'entity_id' is double in the keys given"):
        store.soft_delete(INTS, spark.createDataFrame([(3.7,)], "entity_id double"), at=T0 + timedelta(days=1))
    assert store.version(store.history_path("ints")) == before


def test_nan_round_trips_and_a_nan_key_is_skipped_not_blocking(stores, spark, caplog):
    store, online = stores
    with caplog.at_level(logging.WARNING, logger="featurestore.online.store"):
        result = online.sync(store, FLOATS)
    assert (result.upserted, result.skipped) == (2, 1)
    assert math.isnan(result.skipped_examples[0][0]["score"]) and result.skipped_examples[0][1] == "NaN key"
    assert "'floats': 1 row(s) not synced" in caplog.text
    for backend in (store, online):
        nan_value, other = get_online_features(backend, FLOATS, [{"score": 1.5}, {"score": 2.5}])
        assert math.isnan(nan_value["x"]) and other["x"] == 1.0  # NaN, not None
        with pytest.raises(InvalidKeyError, match=r"'floats': key 'score' is double; got NaN"):
            get_online_features(backend, FLOATS, {"score": float("nan")})
    report = check_consistency(store, online, FLOATS, sample_size=10, seed=3)
    assert report.ok and report.unservable_rows == 1 and report.offline_rows == report.online_rows == 2
    # later writes keep syncing incrementally; the NaN key does not come back as a failure
    store.write_features(FLOATS, spark.createDataFrame([(4.5, T0 + timedelta(days=1), 4.0)],
                                                       "score double, event_time timestamp, x double"))
    again = online.sync(store, FLOATS)
    assert (again.upserted, again.skipped, again.full) == (1, 0, False)
    assert get_online_features(online, FLOATS, {"score": 4.5})[0]["x"] == 4.0
