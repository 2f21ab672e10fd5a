"""Dagster side of table maintenance: one op job and one nightly schedule per feature group and training set.

Each job calls `featurestore.offline.maintenance` (compaction Z-ordered by the entity keys, log checkpoints, a
VACUUM that honours every training set's pins) and reports files / bytes before and after, durations, the
retention and the pins applied as an AssetObservation on the group's (or training set's) asset.
Schedule: `tags={"maintenance_cron": "..."}` on a group spec, else `DEFAULT_GROUP_CRON` (03:17 UTC nightly);
training sets at `DEFAULT_TRAINING_SET_CRON` (03:47 UTC), after their groups.
"""


import os
from datetime import timedelta

from dagster import (
    AssetKey,
    AssetObservation,
    Config,
    DefaultScheduleStatus,
    Definitions,
    JobDefinition,
    MetadataValue,
    OpExecutionContext,
    ScheduleDefinition,
    in_process_executor,
    job,
    op,
)

from featurestore.cron import validate_cron
from featurestore.offline.maintenance import (MaintenancePolicy, MaintenanceResult, maintain_group, maintain_training_set,
                                      registry_pins)
from featurestore.registry import Registry
from orchestration.keys import group_key
from orchestration.resources import StoreResource
from orchestration.keys import training_set_key

DEFAULT_GROUP_CRON = "17 3 * * *"
DEFAULT_TRAINING_SET_CRON = "47 3 * * *"
CRON_TAG = "maintenance_cron"


class MaintenanceConfig(Config):
    """Run config of a maintenance job (defaults: MaintenancePolicy)."""

    retention_hours: float = MaintenancePolicy.retention.total_seconds() / 3600
    pin_ttl_days: float = MaintenancePolicy.pin_ttl.days
    zorder: bool = True

    def policy(self) -> MaintenancePolicy:
        return MaintenancePolicy(retention=timedelta(hours=self.retention_hours),
                                 pin_ttl=timedelta(days=self.pin_ttl_days), zorder=self.zorder)


def result_metadata(result: MaintenanceResult) -> dict:
    """What one maintained table reports."""
    return {
        "path": MetadataValue.path(result.path),
        "files_before": result.before.live_files, "files_after": result.after.live_files,
        "bytes_before": result.before.live_bytes, "bytes_after": result.after.live_bytes,
        "stored_files_before": result.before.stored_files, "stored_files_after": result.after.stored_files,
        "log_bytes_after": result.after.log_bytes, "duration_s": result.duration_s,
        "zorder_by": ", ".join(result.zorder_by) or "(compaction only)",
        "retention_hours": result.retention_hours, "pins_applied": MetadataValue.json(list(result.pins_applied)),
        "checkpointed_version": result.checkpointed_version if result.checkpointed_version is not None else -1,
        "steps": MetadataValue.json(result.steps),
    }


def _observe(context: OpExecutionContext, key: AssetKey, results: list[MaintenanceResult]) -> None:
    for result in results:
        context.log_event(AssetObservation(asset_key=key, description=f"maintenance of {result.table}",
                                           metadata=result_metadata(result)))
        context.log.info(f"{result.table}: {result.before.live_files} -> {result.after.live_files} files, "
                         f"retention {result.retention_hours} h, {len(result.pins_applied)} pin(s)")


def _status() -> DefaultScheduleStatus:
    running = os.environ.get("FEATURESTORE_SCHEDULES_RUNNING", "").lower() in {"1", "true", "yes"}
    return DefaultScheduleStatus.RUNNING if running else DefaultScheduleStatus.STOPPED


def group_maintenance_job(name: str, registry: Registry) -> JobDefinition:
    """Maintain one group's history and latest tables."""

    @op(name=f"maintain_{name}", description=f"OPTIMIZE ZORDER, checkpoint and pin-aware VACUUM of group {name}")
    def _maintain(context: OpExecutionContext, config: MaintenanceConfig, store: StoreResource) -> None:
        offline = store.get_store()
        policy = config.policy()
        _observe(context, group_key(name), maintain_group(offline, name, registry, policy=policy,
                                                          pins=registry_pins(offline, registry, policy)))

    @job(name=f"maintenance_{name}_job", executor_def=in_process_executor,
         description=f"Table maintenance of feature group {name}")
    def _job():
        _maintain()

    return _job


def training_set_maintenance_job(name: str, registry: Registry) -> JobDefinition:
    """Maintain one training set's table."""

    @op(name=f"maintain_training_set_{name}", description=f"OPTIMIZE ZORDER, checkpoint and VACUUM of {name}")
    def _maintain(context: OpExecutionContext, config: MaintenanceConfig, store: StoreResource) -> None:
        offline = store.get_store()
        if not offline.exists(offline.table_path("training_sets", name)):
            context.log.info(f"training set {name!r} not built yet: nothing to maintain")
            return
        _observe(context, training_set_key(name),
                 [maintain_training_set(offline, name, registry, policy=config.policy())])

    @job(name=f"maintenance_training_set_{name}_job", executor_def=in_process_executor,
         description=f"Table maintenance of training set {name}")
    def _job():
        _maintain()

    return _job


def maintenance_definitions(registry: Registry) -> Definitions:
    """Maintenance jobs and schedules for every group and training set of `registry` (resources: `store`)."""
    jobs, schedules = [], []
    for spec in registry.groups.values():
        cron = validate_cron(spec.tags.get(CRON_TAG, DEFAULT_GROUP_CRON), what=f"feature group {spec.name!r}")
        maintenance = group_maintenance_job(spec.name, registry)
        jobs.append(maintenance)
        schedules.append(ScheduleDefinition(name=f"maintenance_{spec.name}_schedule", job=maintenance,
                                            cron_schedule=cron, execution_timezone="UTC",
                                            default_status=_status(),
                                            description=f"nightly table maintenance of {spec.name} ({cron} UTC)"))
    for name in registry.training_sets:
        maintenance = training_set_maintenance_job(name, registry)
        jobs.append(maintenance)
        schedules.append(ScheduleDefinition(name=f"maintenance_training_set_{name}_schedule", job=maintenance,
                                            cron_schedule=DEFAULT_TRAINING_SET_CRON, execution_timezone="UTC",
                                            default_status=_status(),
                                            description=f"nightly table maintenance of training set {name}"))
    return Definitions(jobs=jobs, schedules=schedules)
