"""One partitioned asset job and one schedule per source and feature group, from their specs."""

from __future__ import annotations

import os

from collections.abc import Sequence

from dagster import (
    AssetCheckKey,
    AssetKey,
    AssetSelection,
    DefaultScheduleStatus,
    ScheduleDefinition,
    build_schedule_from_partitioned_job,
    define_asset_job,
    in_process_executor,
)

from featurestore.spec import FeatureGroupSpec, SourceSpec

SOURCE_SCHEDULE_MINUTE = 10  # sources load a day 00:10 after it closes


def asset_job(name: str, key: AssetKey, *, without_checks: Sequence[AssetCheckKey] = ()):
    """A job materialising one partitioned asset and its checks but `without_checks`, in-process (one
    SparkSession per process). Returns define_asset_job's (unresolved) job definition."""
    selection = AssetSelection.assets(key)
    if without_checks:
        selection = selection - AssetSelection.checks(*without_checks)
    return define_asset_job(f"{name}_job", selection=selection, executor_def=in_process_executor)


def _default_status() -> DefaultScheduleStatus:
    running = os.environ.get("FEATURESTORE_SCHEDULES_RUNNING", "").lower() in {"1", "true", "yes"}
    return DefaultScheduleStatus.RUNNING if running else DefaultScheduleStatus.STOPPED


def group_schedule(spec: FeatureGroupSpec, job) -> ScheduleDefinition:
    """Hourly groups run every hour, daily groups nightly, at the minute/hour of the spec's cron."""
    minute, hour = spec.schedule_offsets
    return build_schedule_from_partitioned_job(job, name=f"{spec.name}_schedule", minute_of_hour=minute,
                                               hour_of_day=hour, default_status=_default_status(),
                                               description=f"{spec.grain} ({spec.cron}) for feature group {spec.name}")


def source_schedule(source: SourceSpec, job) -> ScheduleDefinition:
    """Sources load each closed day (or hour) shortly after it ends."""
    return build_schedule_from_partitioned_job(job, name=f"{source.name}_schedule",
                                               minute_of_hour=SOURCE_SCHEDULE_MINUTE,
                                               hour_of_day=0 if source.grain == "daily" else None,
                                               default_status=_default_status())
