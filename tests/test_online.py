"""Online lookups: SQLite and Delta backends agree, syncs are incremental, deletes respected, checks catch drift."""

from __future__ import annotations

from datetime import date, datetime, timedelta, timezone

import pytest

from featurestore.errors import FeatureStoreError, SpecError
from featurestore.offline.store import OfflineStore
from featurestore.online.store import OnlineStore, check_consistency, get_online_features
from featurestore.spec import Feature, FeatureGroupSpec, Key

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
USERS = FeatureGroupSpec(
    name="users", description="typed features", owner="tests", keys=(Key("user_id"),),
    features=(Feature("clicks", "long"), Feature("score", "double"), Feature("ratio", "float"),
              Feature("active", "bool"), Feature("day", "date"), Feature("seen", "timestamp")),
    transform=lambda ctx: None, sources=("events",), grain="daily", start="2026-01-01")
PAIRS = FeatureGroupSpec(
    name="pairs", description="composite key", owner="tests", keys=(Key("user_id"), Key("region")),
    features=(Feature("clicks", "long"),), transform=lambda ctx: None, sources=("events",), grain="daily",
    start="2026-01-01")
USER_SCHEMA = "user_id string, event_time timestamp, clicks long, score double, ratio float, active boolean, " \
              "day date, seen timestamp"
PAIR_SCHEMA = "user_id string, region string, event_time timestamp, clicks long"


def _user(user: str, days: int, clicks):
    return (user, T0 + timedelta(days=days), clicks, clicks and clicks / 3, clicks and clicks / 7,
            bool(clicks and clicks % 2), date(2026, 1, 1 + days), T0 + timedelta(days=days, microseconds=123))


@pytest.fixture(scope="module")
def stores(spark, tmp_path_factory):
    root = tmp_path_factory.mktemp("online")
    store = OfflineStore(spark, str(root / "store"))
    store.write_features(USERS, spark.createDataFrame(
        [_user("u1", 0, 1), _user("u2", 0, 2), _user("u3", 0, None), _user("u1", 1, 5), _user("u4", 0, 4)],
        USER_SCHEMA))
    store.soft_delete(USERS, [{"user_id": "u4"}], at=T0 + timedelta(days=2))
    store.write_features(PAIRS, spark.createDataFrame(
        [("u1", "eu", T0, 10), ("u1", "us", T0, 11), ("u2", "eu", T0, 12)], PAIR_SCHEMA))
    return store, OnlineStore(root / "online.sqlite")


ENTITIES = [{"user_id": "u1", "region": "eu"}, {"user_id": "u4", "region": "eu"},
            {"user_id": "nobody", "region": "us"}, {"user_id": "u1", "region": "us"}, {"user_id": "u3", "region": "eu"}]


def test_sqlite_and_delta_return_the_same_values(stores):
    store, online = stores
    first = [online.sync(store, spec) for spec in (USERS, PAIRS)]
    assert [(r.upserted, r.deleted, r.full) for r in first] == [(3, 1, True), (3, 0, True)]
    with pytest.raises(SpecError, match=r"'clicks' of group 'pairs' and feature 'clicks' of group 'users'.*"
                                        r"full_feature_names=True"):
        get_online_features(online, [USERS, PAIRS], ENTITIES)
    from_delta = get_online_features(store, [USERS, PAIRS], ENTITIES, include_event_time=True,
                                     full_feature_names=True)
    from_sqlite = get_online_features(online, [USERS, PAIRS], ENTITIES, include_event_time=True,
                                      full_feature_names=True)
    assert from_sqlite == from_delta
    u1 = from_sqlite[0]
    assert u1 == {"user_id": "u1", "region": "eu", "users__clicks": 5, "users__score": 5 / 3,
                  "users__ratio": pytest.approx(5 / 7), "users__active": True, "users__day": date(2026, 1, 2),
                  "users__seen": T0 + timedelta(days=1, microseconds=123),
                  "users__event_time": T0 + timedelta(days=1), "pairs__clicks": 10, "pairs__event_time": T0}
    assert from_sqlite[1]["users__clicks"] is None and from_sqlite[1]["pairs__clicks"] is None  # deleted, absent
    assert from_sqlite[2]["users__score"] is None and from_sqlite[3]["pairs__clicks"] == 11
    assert from_sqlite[4]["users__event_time"] == T0 and from_sqlite[4]["users__clicks"] is None  # a null value
    single = get_online_features(online, USERS, {"user_id": "u2"})
    assert single == [{"user_id": "u2", "clicks": 2, "score": 2 / 3, "ratio": pytest.approx(2 / 7), "active": False,
                       "day": date(2026, 1, 1), "seen": T0 + timedelta(microseconds=123)}]


def test_incremental_sync_copies_only_changes_and_applies_deletes(stores, spark):
    store, online = stores
    online.sync(store, USERS)
    store.write_features(USERS, spark.createDataFrame([_user("u1", 3, 7), _user("u5", 3, 9)], USER_SCHEMA))
    store.soft_delete(USERS, [{"user_id": "u2"}], at=T0 + timedelta(days=3))
    result = online.sync(store, USERS)
    assert (result.upserted, result.deleted, result.full) == (2, 1, False)
    assert online.sync(store, USERS).upserted == 0  # nothing new
    keys = [{"user_id": u} for u in ("u1", "u2", "u3", "u4", "u5")]
    assert get_online_features(online, USERS, keys) == get_online_features(store, USERS, keys)
    assert [r["clicks"] for r in get_online_features(online, USERS, keys)] == [7, None, None, None, 9]
    assert online.count("users") == 3


def test_consistency_check_reports_lag_and_catches_drift(stores, spark):
    store, online = stores
    online.sync(store, USERS)
    report = check_consistency(store, online, USERS, sample_size=10, seed=1)
    assert report.ok and report.lag_versions == 0 and report.online_rows == report.offline_rows
    store.write_features(USERS, spark.createDataFrame([_user("u6", 4, 1)], USER_SCHEMA))
    behind = check_consistency(store, online, USERS, sample_size=10, seed=1)
    assert behind.ok and behind.lag_versions > 0  # not synced yet: lag, not a mismatch
    online.connection().execute('UPDATE "fg_users" SET clicks = 99 WHERE user_id = \'u1\'')
    drifted = check_consistency(store, online, USERS, sample_size=10, seed=1)
    assert not drifted.ok
    assert drifted.mismatches[0]["key"] == {"user_id": "u1"} and drifted.mismatches[0]["online"]["clicks"] == 99
    online.sync(store, USERS, full=True)
    assert check_consistency(store, online, USERS, sample_size=10).ok


def test_unsynced_group_and_bad_keys_fail_clearly(stores, tmp_path):
    store, _ = stores
    empty = OnlineStore(tmp_path / "empty.sqlite")
    with pytest.raises(FeatureStoreError, match="never been synced"):
        get_online_features(empty, USERS, {"user_id": "u1"})
    with pytest.raises(FeatureStoreError, match=r"key column\(s\) \['region'\] missing"):
        get_online_features(empty, PAIRS, {"user_id": "u1"})


def test_online_asset_and_check_through_dagster(stores):
    from dagster import DagsterInstance, materialize

    from featurestore.registry import Registry
    from orchestration.online_checks import OnlineStoreResource, online_definitions
    from orchestration.resources import SparkResource, StoreResource

    store, _ = stores
    registry = Registry(sources={}, groups={"users": USERS, "pairs": PAIRS}, training_sets={})
    definitions = online_definitions(registry)
    assert "sensors" not in definitions  # synced by automation (orchestration.automation.inputs_ready)
    path = store.root + "/../dagster_online.sqlite"
    resources = {"store": StoreResource(spark=SparkResource(master="local[2]"), root=store.root),
                 "online": OnlineStoreResource(path=path)}
    result = materialize([*definitions["assets"], *definitions["asset_checks"]], resources=resources,
                         instance=DagsterInstance.ephemeral())
    assert result.success
    checks = result.get_asset_check_evaluations()
    assert len(checks) == 2 and all(c.passed for c in checks)
    assert OnlineStore(path).count("pairs") == 3


def test_sync_runs_by_automation_after_each_group_materialisation(tmp_path):
    from dagster import AssetKey, AssetMaterialization, DagsterInstance, Definitions, evaluate_automation_conditions

    from featurestore.registry import Registry
    from orchestration.online_checks import online_definitions, online_key
    from orchestration.resources import SparkResource, StoreResource

    parts = online_definitions(Registry(sources={}, groups={"users": USERS}, training_sets={}))
    parts["resources"]["store"] = StoreResource(spark=SparkResource(), root=str(tmp_path))
    definitions = Definitions(**parts)
    instance = DagsterInstance.ephemeral()
    idle = evaluate_automation_conditions(defs=definitions, instance=instance)
    assert idle.total_requested == 0
    instance.report_runless_asset_event(AssetMaterialization(asset_key=AssetKey(["features", "users"])))
    tick = evaluate_automation_conditions(defs=definitions, instance=instance, cursor=idle.cursor)
    assert tick.total_requested == 1 and tick.get_num_requested(online_key("users")) == 1
    again = evaluate_automation_conditions(defs=definitions, instance=instance, cursor=tick.cursor)
    assert again.total_requested == 0
