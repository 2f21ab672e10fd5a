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

    registry = discover("feature_groups")
    graph = defs.resolve_asset_graph()
    for name, spec in registry.groups.items():
        keys = set(group_check_keys(spec))
        assert keys == graph.get_check_keys_for_assets({AssetKey(["features", name])})
        names = {k.name for k in keys}
        assert {"row_count", "not_null_event_time", "drift_row_volume"} <= names
        assert {f"drift_{f}" for f in spec.feature_names} <= names
        assert spec.expectations and spec.drift is not None
        job = defs.resolve_job_def(f"{name}_job")
        assert keys <= set(job.asset_layer.asset_graph.asset_check_keys)  # checks run with the group
        assert {f"{name}_quality_suite", f"{name}_drift"} <= set(job.graph.node_dict)
        for key in keys:  # partitioned like the group; ERROR checks block what runs after them
            check_spec = graph.get_check_spec(key)
            assert check_spec.partitions_def == graph.get(AssetKey(["features", name])).partitions_def
        assert graph.get_check_spec(AssetCheckKey(AssetKey(["features", name]), "row_count")).blocking


def test_alert_sensors_and_resources_are_wired(monkeypatch):
    from orchestration.definitions import build_resources

    assert {"check_failure_alerts", "run_failure_alerts"} <= {s.name for s in defs.sensors}
    assert {"store", "quality", "alerts", "online"} <= set(defs.resources)
    assert defs.resources["alerts"].get_sink().__class__.__name__ == "JsonlAlertSink"  # offline default
    monkeypatch.setenv("FEATURESTORE_ALERT_WEBHOOK_URL", "https://hooks.example.com/services/s3cr3t")
    alerts = build_resources()["alerts"]
    assert isinstance(alerts.webhook_url, EnvVar)  # resolved at run time; the UI shows the variable's name
    assert "s3cr3t" not in repr(alerts) and "s3cr3t" not in repr(alerts.process_config_and_initialize())


def test_online_store_assets_checks_and_sync_sensors_are_wired():
    graph = defs.resolve_asset_graph()
    for group in discover("feature_groups").groups:
        assert AssetKey(["online", group]) in graph.get_all_asset_keys()
        assert f"online_sync_{group}" in {s.name for s in defs.sensors} or \
            any(group in s.name and "online" in s.name for s in defs.sensors)
    assert defs.resolve_job_def("online_sync_job") is not None
