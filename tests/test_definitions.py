"""The Definitions load, every group is a partitioned asset with a job and a schedule firing the right partition."""

from __future__ import annotations

from datetime import datetime, timezone

import pytest
from dagster import AssetKey, Definitions, build_schedule_context

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
