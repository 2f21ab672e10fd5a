"""Factory: a `freshness` asset check per feature group, from its grain (quality.freshness).

The check looks at the group's newest materialised partition (partition-aware: a backfill of old partitions
does not make a group fresh) and fails with WARN severity after the grain's warn window, ERROR after its fail
window. It is not part of the group's job: the freshness sensor (jobs/freshness.py) evaluates it on its ticks
and records the evaluation whenever the group's state or newest partition changes, so the check's status in
the UI is current and a stale group is alerted once per change by the check-failure sensor. A run that
selects the asset with its checks (a backfill, the UI) executes it too; the sensor then does not record the
same state again.
"""

from dataclasses import dataclass
from datetime import datetime, timezone

from dagster import (
    AssetCheckEvaluation,
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetChecksDefinition,
    DagsterInstance,
    MetadataValue,
    asset_check,
)

from featurestore.spec import FeatureGroupSpec
from orchestration.dagster_internals import CheckRecordStatus, check_records, record_metadata
from orchestration.keys import group_key
from orchestration.partitions import partitions_for
from quality import Level
from quality.freshness import FreshnessOutcome, evaluate_freshness, expectation_for, format_lag

FRESHNESS_CHECK = "freshness"


def freshness_check_key(spec: FeatureGroupSpec) -> AssetCheckKey:
    return AssetCheckKey(group_key(spec.name), FRESHNESS_CHECK)


def newest_partition(instance: DagsterInstance, spec: FeatureGroupSpec) -> tuple[str, datetime] | None:
    """The group's newest materialised partition key and the end of its window; None if none."""
    partitions_def = partitions_for(spec.grain, spec.start)
    newest = None
    for key in instance.get_materialized_partitions(group_key(spec.name)):
        try:
            end = partitions_def.time_window_for_partition_key(key).end
        except Exception:  # noqa: BLE001 - a key of another partitioning
            continue
        if newest is None or end > newest[1]:
            newest = (key, end)
    return newest


def group_freshness(instance: DagsterInstance, spec: FeatureGroupSpec,
                    now: datetime | None = None) -> FreshnessOutcome | None:
    """The group's freshness now; None while it has no materialised partition."""
    newest = newest_partition(instance, spec)
    if newest is None:
        return None
    return evaluate_freshness(spec.name, newest[0], newest[1], now or datetime.now(timezone.utc),
                              expectation_for(spec.grain))


def _severity(outcome: FreshnessOutcome) -> AssetCheckSeverity:
    return AssetCheckSeverity.ERROR if outcome.level is Level.ERROR else AssetCheckSeverity.WARN


def freshness_metadata(outcome: FreshnessOutcome) -> dict:
    return {"newest_partition": MetadataValue.text(outcome.newest_partition),
            "newest_partition_end": MetadataValue.timestamp(outcome.newest_partition_end),
            "lag": MetadataValue.text(format_lag(outcome.lag)),
            "lag_seconds": MetadataValue.float(outcome.lag.total_seconds()),
            "warn_after_hours": MetadataValue.float(outcome.expectation.warn_after.total_seconds() / 3600),
            "fail_after_hours": MetadataValue.float(outcome.expectation.fail_after.total_seconds() / 3600),
            "level": MetadataValue.text(outcome.level.value)}


def freshness_evaluation(spec: FeatureGroupSpec, outcome: FreshnessOutcome) -> AssetCheckEvaluation:
    """The check evaluation a sensor records for `outcome` (no run)."""
    return AssetCheckEvaluation(asset_key=group_key(spec.name), check_name=FRESHNESS_CHECK,
                                passed=outcome.passed, severity=_severity(outcome), blocking=False,
                                description=outcome.description(), metadata=freshness_metadata(outcome))


@dataclass(frozen=True)
class RecordedFreshness:
    """What the freshness check's latest evaluation said, and when (epoch seconds); `pending` while a run in
    progress has it planned (nothing said yet)."""

    level: str | None = None
    newest_partition: str | None = None
    at: float = 0.0
    pending: bool = False

    def says(self, outcome: FreshnessOutcome, *, after: float | None) -> bool:
        """True if it records `outcome`'s level and newest partition, evaluated after `after` (a materialisation)."""
        return (self.level == outcome.level.value and self.newest_partition == outcome.newest_partition
                and (after is None or self.at >= after))


def latest_freshness_record(instance: DagsterInstance, spec: FeatureGroupSpec) -> RecordedFreshness | None:
    """The group's latest freshness evaluation (in a run or by the sensor); None if there is none, or only a
    planned one of a run that ended without it."""
    records = check_records(instance, freshness_check_key(spec), limit=1)
    if not records:
        return None
    record = records[0]
    if record.status is CheckRecordStatus.PLANNED:
        run = instance.get_run_by_id(record.run_id) if record.run_id else None
        return RecordedFreshness(pending=True) if run is not None and not run.is_finished else None
    metadata = record_metadata(record)
    return RecordedFreshness(level=metadata.get("level"), newest_partition=metadata.get("newest_partition"),
                             at=record.event.timestamp if record.event is not None else 0.0)


def build_freshness_check(spec: FeatureGroupSpec) -> AssetChecksDefinition:
    """The group's `freshness` check (WARN / ERROR by its grain's windows), non-blocking."""
    expectation = expectation_for(spec.grain)

    @asset_check(asset=group_key(spec.name), name=FRESHNESS_CHECK, blocking=False,
                 description=f"{spec.grain} group: {expectation.describe()}, judged by its newest partition",
                 metadata={"warn_after_hours": expectation.warn_after.total_seconds() / 3600,
                           "fail_after_hours": expectation.fail_after.total_seconds() / 3600})
    def _freshness(context: AssetCheckExecutionContext) -> AssetCheckResult:
        outcome = group_freshness(context.instance, spec)
        if outcome is None:
            return AssetCheckResult(passed=False, severity=AssetCheckSeverity.WARN,
                                    description=f"{spec.name} has no materialised partition yet")
        return AssetCheckResult(passed=outcome.passed, severity=_severity(outcome),
                                description=outcome.description(), metadata=freshness_metadata(outcome))

    return _freshness


__all__ = ["FRESHNESS_CHECK", "RecordedFreshness", "build_freshness_check", "freshness_check_key",
           "freshness_evaluation", "group_freshness", "latest_freshness_record", "newest_partition"]
