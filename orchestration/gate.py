"""The training-set gate: which failed ERROR checks block a training set, as plain results.

A training set reads, from each input group, the partitions whose time window meets
[set start - group TTL, set end) (all of them when either bound is open). For each such materialised
partition and each blocking check of the group, the newest completed evaluation covering the partition
decides: a range run's evaluation covers every partition of its range (`first_partition`..`last_partition`
in its metadata), a one-partition run's covers that partition. A failed ERROR evaluation blocks the set until
the partition is re-materialised and its checks pass (that newer evaluation then wins). A partition never
checked does not block.

Used by the training-set asset (orchestration.training_assets) and the CLI (`featurestore training-set`).
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timezone

from dagster import AssetCheckKey, AssetCheckSeverity, DagsterInstance

from featurestore.durations import parse_duration
from featurestore.registry import Registry
from featurestore.spec import FeatureGroupSpec
from featurestore.training.sets import TrainingSetSpec
from orchestration.dagster_internals import CheckRecordStatus, iter_check_records, record_evaluation, record_metadata
from orchestration.keys import group_check_keys, group_key
from orchestration.partitions import partitions_for
from quality.check_names import covered_partitions


@dataclass(frozen=True)
class FailedCheck:
    """A failed ERROR check evaluation blocking a set: group, check, partitions it covers, run, why."""

    group: str
    check: str
    partitions: tuple[str, ...]
    run_id: str
    severity: str
    description: str

    @property
    def partition(self) -> str:
        """The blocked partitions the evaluation covers: '2026-10-09' or '2026-10-01..2026-10-03' (3)."""
        first, last = self.partitions[0], self.partitions[-1]
        return first if first == last else f"{first}..{last} ({len(self.partitions)} partitions)"

    def summary(self) -> str:
        return (f"feature group {self.group!r}: {self.severity} check {self.check!r} failed on partition "
                f"{self.partition} (run {self.run_id[:8]}): {self.description}")

    def to_dict(self) -> dict:
        return {"group": self.group, "check": self.check, "partitions": list(self.partitions),
                "run_id": self.run_id, "severity": self.severity, "description": self.description}


@dataclass(frozen=True)
class GateResult:
    """What the gate found for a training set: the failures blocking it and the partitions it looked at."""

    training_set: str
    failures: tuple[FailedCheck, ...]
    partitions_checked: Mapping[str, int]

    @property
    def blocked(self) -> bool:
        return bool(self.failures)

    def message(self) -> str:
        """Why the set is blocked, one line per failed check."""
        lines = [f"training set {self.training_set!r} not built: checks with ERROR severity failed on "
                 "partitions of its input feature group(s) that it reads:"]
        lines += [f"  - {f.summary()}" for f in self.failures]
        lines.append("Fix the data (or the check) and re-materialise those partitions; the set builds once "
                     "their checks pass.")
        return "\n".join(lines)


def read_window(training: TrainingSetSpec, group: FeatureGroupSpec) -> tuple[datetime | None, datetime | None]:
    """The event-time window of `group` a training set can read: [start - TTL, end); None = open."""
    start = _day(training.start)
    ttl = (parse_duration(training.ttl_overrides[group.name]) if group.name in training.ttl_overrides
           else group.ttl)
    return (None if start is None or ttl is None else start - ttl), _day(training.end)


def _day(iso: str | None) -> datetime | None:
    return None if iso is None else datetime.fromisoformat(iso).replace(tzinfo=timezone.utc)


def partitions_read(instance: DagsterInstance, training: TrainingSetSpec, group: FeatureGroupSpec) -> list[str]:
    """The group's materialised partition keys the training set reads, oldest first."""
    partitions_def = partitions_for(group.grain, group.start)
    low, high = read_window(training, group)
    keys = []
    for key in instance.get_materialized_partitions(group_key(group.name)):
        try:
            window = partitions_def.time_window_for_partition_key(key)
        except Exception:  # noqa: BLE001 - a key of an older partitioning: not read by this definition
            continue
        if (low is None or window.end > low) and (high is None or window.start < high):
            keys.append(key)
    return sorted(keys)


def blocking_failures(instance: DagsterInstance, checks_by_group: Mapping[str, Sequence[AssetCheckKey]],
                      partitions_by_group: Mapping[str, Iterable[str]]) -> list[FailedCheck]:
    """Failed ERROR evaluations that are the newest completed evaluation of a check on a listed partition."""
    failures = []
    for group, keys in checks_by_group.items():
        wanted = set(partitions_by_group.get(group, ()))
        if not wanted:
            continue
        for key in keys:
            failures += _failures_of(instance, group, key, wanted)
    return failures


def _failures_of(instance: DagsterInstance, group: str, key: AssetCheckKey, wanted: set[str]) -> list[FailedCheck]:
    open_ = set(wanted)  # partitions whose newest covering evaluation is not found yet
    failures = []
    for record in iter_check_records(instance, key, completed_only=True):
        evaluation = record_evaluation(record)
        if evaluation is None:
            continue
        bounds = covered_partitions(evaluation.partition, record_metadata(record))
        if bounds is None:
            continue
        covered = sorted(p for p in open_ if bounds[0] <= p <= bounds[1])
        if not covered:
            continue
        open_.difference_update(covered)
        if record.status is CheckRecordStatus.FAILED and evaluation.severity is AssetCheckSeverity.ERROR:
            failures.append(FailedCheck(group=group, check=key.name, partitions=tuple(covered), run_id=record.run_id,
                                        severity="ERROR", description=evaluation.description or "no description"))
        if not open_:
            break
    return failures


def training_set_gate(instance: DagsterInstance, training: TrainingSetSpec, registry: Registry,
                      checks_by_group: Mapping[str, Sequence[AssetCheckKey]] | None = None) -> GateResult:
    """The gate of a training set over every partition it reads of each input group.

    `checks_by_group`: the checks gating each group (default: the group's quality and drift checks).
    """
    groups = {g: registry.group(g) for g in training.groups()}
    gates = dict(checks_by_group) if checks_by_group is not None else {
        g: group_check_keys(spec) for g, spec in groups.items()}
    partitions = {g: partitions_read(instance, training, spec) for g, spec in groups.items() if g in gates}
    failures = blocking_failures(instance, gates, partitions)
    return GateResult(training.name, tuple(failures), {g: len(p) for g, p in partitions.items()})


__all__ = ["FailedCheck", "GateResult", "blocking_failures", "instance_gate", "partitions_read", "read_window",
           "training_set_gate"]


def instance_gate(training: TrainingSetSpec, registry: Registry, home: str | None = None) -> GateResult | None:
    """The gate on the Dagster instance at `home` (default $DAGSTER_HOME); None when there is no instance
    there (the set was never orchestrated: nothing to gate on)."""
    import os

    home = home or os.environ.get("DAGSTER_HOME")
    if not home or not os.path.isdir(home):
        return None
    with DagsterInstance.from_config(home) as instance:
        return training_set_gate(instance, training, registry)
