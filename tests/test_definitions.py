"""The Definitions load, every group is a partitioned asset with a job and a schedule firing the right partition."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from dagster import AssetCheckKey, AssetKey, Definitions, EnvVar, build_schedule_context

from featurestore.registry import discover
from orchestration.definitions import defs


def test_definitions_load():
    Definitions.validate_loadable(defs)


def test_every_group_and_source_has_an_asset_job_and_schedule():
    registry = discover("feature_groups")
    graph = defs.resolve_asset_graph()
    for name, spec in registry.groups.items():
        node = graph.get(AssetKey(["features", name]))
        assert node.partitions_def is not None and node.backfill_policy is not None
        assert node.backfill_policy.max_partitions_per_run is None  # single run for any range
        assert defs.resolve_job_def(f"{name}_job") is not None
        assert defs.resolve_schedule_def(f"{name}_schedule").cron_schedule == spec.cron
        assert AssetKey(["sources", "transactions"]) in node.parent_keys
    assert defs.resolve_job_def("source_transactions_job") is not None


@pytest.mark.parametrize("schedule, fired_at, partition", [
    ("consumer_schedule", datetime(2026, 10, 5, 1, 30, tzinfo=timezone.utc), "2026-10-04"),
    ("card_schedule", datetime(2026, 10, 5, 3, 5, tzinfo=timezone.utc), "2026-10-05-02:00"),
    ("transactions_schedule", datetime(2026, 10, 5, 0, 10, tzinfo=timezone.utc), "2026-10-04"),
])
def test_schedules_request_the_partition_that_just_closed(schedule, fired_at, partition):
    definition = defs.resolve_schedule_def(schedule)
    context = build_schedule_context(scheduled_execution_time=fired_at, repository_def=defs.get_repository_def())
    requests = definition.evaluate_tick(context).run_requests
    assert [r.partition_key for r in requests] == [partition]


def test_every_group_has_quality_and_drift_checks_run_by_its_job():
    from orchestration.checks import group_check_keys
    from orchestration.freshness import freshness_check_key

    registry = discover("feature_groups")
    graph = defs.resolve_asset_graph()
    for name, spec in registry.groups.items():
        keys = set(group_check_keys(spec))
        freshness = freshness_check_key(spec)
        assert keys | {freshness} == graph.get_check_keys_for_assets({AssetKey(["features", name])})
        names = {k.name for k in keys}
        assert {"row_count", "not_null_event_time", "drift_row_volume"} <= names
        assert {f"drift_{f}" for f in spec.feature_names} <= names
        assert spec.expectations and spec.drift is not None
        job = defs.resolve_job_def(f"{name}_job")
        job_checks = set(job.asset_layer.asset_graph.asset_check_keys)
        assert keys <= job_checks and freshness not in job_checks  # checks run with the group; freshness by sensor
        assert {f"{name}_quality_suite", f"{name}_drift"} <= set(job.graph.node_dict)
        for key in keys:  # evaluated on each run's partition range: not partitioned (no preview feature)
            assert graph.get_check_spec(key).partitions_def is None
        assert graph.get_check_spec(AssetCheckKey(AssetKey(["features", name]), "row_count")).blocking
        assert not graph.get_check_spec(freshness).blocking


def test_derived_assets_run_by_automation_and_the_sensors_are_declared():
    from dagster import DefaultSensorStatus

    graph = defs.resolve_asset_graph()
    registry = discover("feature_groups")
    derived = [AssetKey(["training_sets", n]) for n in registry.training_sets]
    derived += [AssetKey(["online", g]) for g in registry.groups]
    for key in derived:
        condition = graph.get(key).automation_condition
        assert condition is not None and condition.get_label() == "inputs ready"
    for key in registry.groups:  # groups and sources run on their schedules, not by automation
        assert graph.get(AssetKey(["features", key])).automation_condition is None
    sensors = {s.name: s for s in defs.sensors}
    assert set(sensors) == {"check_failure_alerts", "run_failure_alerts", "freshness_checks",
                            "derived_assets_automation"}
    automation = sensors["derived_assets_automation"]
    assert automation.default_status is DefaultSensorStatus.RUNNING
    assert set(automation.asset_selection.resolve(graph)) == set(derived)
    assert sensors["freshness_checks"].default_status is DefaultSensorStatus.RUNNING


def test_alert_sensors_and_resources_are_wired(monkeypatch):
    from orchestration.definitions import build_resources

    assert {"check_failure_alerts", "run_failure_alerts"} <= {s.name for s in defs.sensors}
    assert {"store", "quality", "alerts", "online"} <= set(defs.resources)
    assert defs.resources["alerts"].get_sink().__class__.__name__ == "JsonlAlertSink"  # offline default
    monkeypatch.setenv("FEATURESTORE_ALERT_WEBHOOK_URL", "https://hooks.example.com/services/s3cr3t")
    alerts = build_resources()["alerts"]
    assert isinstance(alerts.webhook_url, EnvVar)  # resolved at run time; the UI shows the variable's name
    assert "s3cr3t" not in repr(alerts) and "s3cr3t" not in repr(alerts.process_config_and_initialize())


def test_online_store_assets_and_checks_are_wired():
    graph = defs.resolve_asset_graph()
    for group in discover("feature_groups").groups:
        assert AssetKey(["online", group]) in graph.get_all_asset_keys()
        assert AssetCheckKey(AssetKey(["online", group]), "online_offline_consistency") in graph.asset_check_keys
    assert defs.resolve_job_def("online_sync_job") is not None
