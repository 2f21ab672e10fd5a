"""The store-level point-in-time API: feature references, TTL overrides, as-known-at and pinned versions."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest

from featurestore.errors import SpecError
from featurestore.offline.store import OfflineStore
from featurestore.spec import Feature, FeatureGroupSpec, Key
from featurestore.training.sets import get_historical_features, parse_feature_refs
from tests.oracles.pit_reference import ReferenceGroup, pit_join_reference

T0 = datetime(2026, 3, 1, tzinfo=timezone.utc)


def _group(name, keys, ttl):
    return FeatureGroupSpec(name=name, description="", owner="tests", keys=tuple(Key(k) for k in keys),
                            features=(Feature("value", "double"), Feature(f"{name}_n", "long")),
                            transform=lambda ctx: None, sources=("events",), grain="daily", start="2026-01-01",
                            ttl=ttl)


@pytest.fixture(scope="module")
def loaded(spark, tmp_path_factory):
    """Two groups with corrections, a delete and a late backfill, written through the store at known times."""
    store = OfflineStore(spark, str(tmp_path_factory.mktemp("pitstore")))
    users, pairs = _group("users", ["user_id"], "2d"), _group("pairs", ["user_id", "item"], None)
    schema_u = "user_id string, event_time timestamp, value double, users_n long"
    schema_p = "user_id string, item string, event_time timestamp, value double, pairs_n long"
    write = lambda spec, schema, rows, day: store.write_features(  # noqa: E731
        spec, spark.createDataFrame(rows, schema), now=T0 + timedelta(days=day))
    write(users, schema_u, [("u1", T0, 1.0, 1), ("u2", T0, 2.0, 2), ("u1", T0 + timedelta(days=1), None, 3)], 10)
    write(users, schema_u, [("u1", T0 + timedelta(days=1), 5.0, 3)], 12)  # correction
    store.soft_delete(users, [{"user_id": "u2"}], at=T0 + timedelta(days=1), now=T0 + timedelta(days=13))
    write(pairs, schema_p, [("a_b", "c", T0, 1.0, 1), ("a", "b_c", T0, 2.0, 2)], 10)
    write(pairs, schema_p, [("a", "b_c", T0 + timedelta(hours=3), 9.0, 9)], 14)
    entities = [("u1", "a_b", "c", T0 + timedelta(days=1), 1), ("u1", "a_b", "c", T0 + timedelta(days=1), 1),
                ("u2", "a", "b_c", T0 + timedelta(hours=12), 0), ("u2", "a", "b_c", T0 + timedelta(days=1), 0),
                ("u1", "x", "y", T0 + timedelta(days=3, microseconds=1), 1), ("u3", "a", "b_c", T0 - timedelta(1), 0),
                ("u1", "a", "b_c", T0 + timedelta(days=3), 1)]
    entity_df = spark.createDataFrame(entities, "user_id string, item_user string, item string, ts timestamp, label int")
    entity_df = entity_df.withColumnRenamed("item_user", "pair_user")
    return store, {"users": users, "pairs": pairs}, entity_df


def _reference(store, groups, entity_df, refs_groups, ttl=None, as_known_at=None):
    entities = [r.asDict() for r in entity_df.collect()]
    ref_groups = [ReferenceGroup(name, [r.asDict() for r in store.read_history(name).collect()],
                                 groups[name].key_names, groups[name].feature_names,
                                 (ttl or {}).get(name, groups[name].ttl)) for name in refs_groups]
    return pit_join_reference(entities, ref_groups, as_known_at=as_known_at)


def _rows(df):
    return sorted((tuple(r) for r in df.collect()), key=repr)


def test_matches_reference_with_corrections_and_deletes(loaded):
    store, groups, entity_df = loaded
    df = get_historical_features(store, entity_df, ["users:*"], groups)
    expected = _reference(store, groups, entity_df, ["users"])
    assert _rows(df) == sorted((tuple(r.values()) for r in expected), key=repr)
    by_user_time = {(r["user_id"], r["ts"]): r["value"] for r in df.collect()}
    assert by_user_time[("u1", datetime(2026, 3, 2))] == 5.0  # the correction wins
    assert by_user_time[("u2", datetime(2026, 3, 2))] is None  # deleted from its time on
    assert by_user_time[("u2", datetime(2026, 3, 1, 12))] == 2.0  # ... but not before
    assert by_user_time[("u1", datetime(2026, 3, 4, 0, 0, 0, 1))] is None  # TTL 2d, one microsecond past
    assert df.count() == entity_df.count()


def test_ttl_override_and_as_known_at(loaded):
    store, groups, entity_df = loaded
    df = get_historical_features(store, entity_df, ["users:value"], groups, ttl_overrides={"users": "5d"},
                                 as_known_at=T0 + timedelta(days=11))
    values = {(r["user_id"], r["ts"]): r["value"] for r in df.collect()}
    assert values[("u1", datetime(2026, 3, 2))] is None  # only the null original was known on day 11
    assert values[("u1", datetime(2026, 3, 4, 0, 0, 0, 1))] is None
    assert values[("u2", datetime(2026, 3, 2))] == 2.0  # the delete was written on day 13


def test_composite_keys_and_several_groups(loaded):
    store, groups, entity_df = loaded
    entity = entity_df.drop("user_id").withColumnRenamed("pair_user", "user_id")
    df = get_historical_features(store, entity, ["pairs:*", "users:users_n"], groups)
    entities = [r.asDict() for r in entity.collect()]
    history = {name: [r.asDict() for r in store.read_history(name).collect()] for name in groups}
    expected = pit_join_reference(entities, [
        ReferenceGroup("pairs", history["pairs"], ["user_id", "item"], ["value", "pairs_n"], None),
        ReferenceGroup("users", history["users"], ["user_id"], ["users_n"], groups["users"].ttl)])
    assert df.columns == list(expected[0])
    assert _rows(df) == sorted((tuple(r.values()) for r in expected), key=repr)
    by_key = {(r["user_id"], r["item"], r["ts"]): r["pairs_n"] for r in df.collect()}
    assert by_key[("a_b", "c", datetime(2026, 3, 2))] == 1 and by_key[("a", "b_c", datetime(2026, 3, 2))] == 9


def test_pinned_versions_ignore_later_writes(loaded, spark):
    store, groups, entity_df = loaded
    df = get_historical_features(store, entity_df, ["pairs:pairs_n"], groups, versions={"pairs": 0},
                                 timestamp_column="ts")
    assert [r["pairs_n"] for r in df.collect() if r["user_id"] == "u2"] == [None, None]


@pytest.mark.parametrize("refs, message", [
    (["users"], r"must look like 'group:feature'"),
    (["nope:value"], r"unknown feature group 'nope'"),
    (["users:nope"], r"feature group 'users' has no feature 'nope'"),
    ([], r"no features requested"),
])
def test_bad_feature_references_are_refused(loaded, refs, message):
    _, groups, _ = loaded
    with pytest.raises(SpecError, match=message):
        parse_feature_refs(refs, groups)


def test_ttl_override_for_unrequested_group_is_refused_and_a_naive_cutoff_is_utc(loaded):
    store, groups, entity_df = loaded
    with pytest.raises(SpecError, match=r"ttl_overrides for group\(s\) \['pairs'\]"):
        get_historical_features(store, entity_df, ["users:value"], groups, ttl_overrides={"pairs": "1d"})
    naive = get_historical_features(store, entity_df, ["users:value"], groups, as_known_at="2026-03-12T00:00:00")
    aware = get_historical_features(store, entity_df, ["users:value"], groups, as_known_at="2026-03-12T00:00:00Z")
    assert sorted(map(tuple, naive.collect()), key=repr) == sorted(map(tuple, aware.collect()), key=repr)
    with pytest.raises(SpecError, match=r"as_known_at: 'soon' is not an ISO-8601 timestamp"):
        get_historical_features(store, entity_df, ["users:value"], groups, as_known_at="soon")
