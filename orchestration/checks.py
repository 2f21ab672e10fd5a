"""Factories: a feature-group spec becomes Dagster asset checks on its asset, run in the same job right after it.

Per group, two partitioned multi-asset checks (one op each, so one GX run and one drift pass per run):
  <group>_quality_suite  one check per expectation of quality.expectations.default_suite(spec) (structural
                         checks + spec.expectations), named after it ('between:x' -> 'between_x')
  <group>_drift          one check per compared feature ('drift_<feature>') and 'drift_row_volume', when the
                         spec has a drift config (quality.drift.DriftCheckConfig)
Both evaluate the partitions the run wrote (history rows with event_time in the run's window, see
quality.evaluation). A failed ERROR expectation or ERROR-level drift is AssetCheckSeverity.ERROR and
blocking (downstream assets in the same run do not run, and the run fails); WARN is WARN and non-blocking.
An expectation that errored inside GX, or a check that raised, is a failed check, never a pass.

`blocking_failures` looks up, in the instance, the latest evaluation of each check on a group's latest
materialised partition; the training-set asset refuses to build on a failed ERROR one.
"""

import json
import re
import warnings
from collections.abc import Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetChecksDefinition,
    ConfigurableResource,
    DagsterInstance,
    MetadataValue,
    multi_asset_check,
)

from featurestore.durations import format_duration
from featurestore.errors import SpecError
from featurestore.spec import FeatureGroupSpec
from featurestore.store import OfflineStore
from orchestration.assets import group_key
from orchestration.partitions import partitions_for
from orchestration.resources import DEFAULT_DATA_DIR, StoreResource
from quality import Level, Severity
from quality.drift import DriftCheckConfig, DriftOutcome, detect_drift, overall_level
from quality.evaluation import (
    gate_small_samples,
    offending_rows,
    partition_count,
    partition_keys_bounds,
    partition_label,
    partition_rows,
    per_window,
    profile,
    reference_window,
)
from quality.expectations import ExpectationSpec, default_suite
from quality.gx_runner import CheckOutcome, run_suite
from quality.report import write_drift_report

DRIFT_PREFIX = "drift_"
VOLUME_CHECK = "drift_row_volume"
FIRST_PARTITION, LAST_PARTITION = "first_partition", "last_partition"
_SEVERITY = {Severity.ERROR: AssetCheckSeverity.ERROR, Severity.WARN: AssetCheckSeverity.WARN}
_TEXT_LIMIT = 1500


class QualityResource(ConfigurableResource):
    """Settings of the quality checks: where drift reports go and how many offending rows to show.

    `reports_dir` empty: `reports/` next to a local store root (data/reports), else data/reports.
    """

    reports_dir: str = ""
    sample_rows: int = 5

    def get_reports_dir(self, store_root: str) -> Path:
        if self.reports_dir:
            return Path(self.reports_dir).resolve()
        if "://" in store_root:
            return DEFAULT_DATA_DIR / "reports"
        return Path(store_root).resolve().parent / "reports"


# ---- names ---------------------------------------------------------------------------------------------

def check_name(expectation: str) -> str:
    """A Dagster check name for an expectation name: 'between:avg_amt' -> 'between_avg_amt'."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", expectation).strip("_") or "check"


def suite_for(spec: FeatureGroupSpec) -> list[ExpectationSpec]:
    """The group's expectations: structural ones from the spec plus spec.expectations."""
    return default_suite(spec)


def suite_check_names(suite: Sequence[ExpectationSpec]) -> dict[str, str]:
    """Expectation name -> unique Dagster check name."""
    names: dict[str, str] = {}
    for check in suite:
        base = check_name(check.name)
        if base.startswith(DRIFT_PREFIX):  # drift_* names belong to the drift checks
            base = f"gx_{base}"
        name, n = base, 2
        while name in names.values():
            name, n = f"{base}_{n}", n + 1
        names[check.name] = name
    return names


def drift_check_names(spec: FeatureGroupSpec) -> dict[str | None, str]:
    """Compared feature (None: row volume) -> check name; empty without a drift config."""
    config = drift_config(spec)
    if config is None:
        return {}
    names: dict[str | None, str] = {f: f"{DRIFT_PREFIX}{f}" for f in config.feature_names(spec)}
    if config.volume is not None:
        names[None] = VOLUME_CHECK
    return names


def drift_config(spec: FeatureGroupSpec) -> DriftCheckConfig | None:
    if spec.drift is not None and not isinstance(spec.drift, DriftCheckConfig):
        raise SpecError(f"feature group {spec.name!r}: drift must be a quality.drift.DriftCheckConfig, "
                        f"not {type(spec.drift).__name__}")
    return spec.drift


def reference_description(spec: FeatureGroupSpec, config: DriftCheckConfig) -> str:
    """'previous 7 daily partitions' (or the duration when it is not a whole number of partitions)."""
    count, rest = divmod(config.reference, spec.step)
    if rest:
        return f"previous {format_duration(config.reference)} of partitions"
    return f"previous {count} {spec.grain} partition{'s' if count != 1 else ''}"


def group_check_keys(spec: FeatureGroupSpec) -> list[AssetCheckKey]:
    """Keys of every check `build_group_checks(spec)` defines."""
    key = group_key(spec.name)
    names = [*suite_check_names(suite_for(spec)).values(), *drift_check_names(spec).values()]
    return [AssetCheckKey(key, name) for name in names]


# ---- evaluation (pure functions of the store and a window) ---------------------------------------------

def suite_results(store: OfflineStore, spec: FeatureGroupSpec, start: datetime, end: datetime, *,
                  sample_rows: int = 5) -> list[AssetCheckResult]:
    """One result per expectation of the group's suite on the partitions [start, end)."""
    suite = suite_for(spec)
    names = suite_check_names(suite)
    checks = per_window(suite, partition_count(spec, start, end))
    window = _window_metadata(spec, start, end)
    try:
        rows = partition_rows(store.read_history(spec.name), spec, start, end).persist()
    except Exception as exc:  # no table, unreadable: every check failed
        return [_crashed(names[c.name], c.severity, exc, window) for c in checks]
    try:
        outcomes = run_suite(rows, spec.name, checks, sample_size=max(sample_rows, 1))
        window["rows_checked"] = MetadataValue.int(rows.count())
        results = []
        for check, outcome in zip(checks, outcomes):
            sample = [] if outcome.passed or outcome.error else offending_rows(rows, check, spec.key_names,
                                                                               sample_rows)
            results.append(_suite_result(names[check.name], check, outcome, sample, window))
        return results
    except Exception as exc:
        return [_crashed(names[c.name], c.severity, exc, window) for c in checks]
    finally:
        rows.unpersist()


def drift_results(store: OfflineStore, spec: FeatureGroupSpec, start: datetime, end: datetime,
                  reports_dir: Path, *, run_id: str | None = None) -> list[AssetCheckResult]:
    """One result per compared feature and one for row volume: [start, end) against the reference window."""
    config = drift_config(spec)
    names = drift_check_names(spec)
    if config is None or not names:
        return []
    window = _window_metadata(spec, start, end)
    ref_start, ref_end = reference_window(spec, start, config.reference)
    reference_text = (f"{reference_description(spec, config)}: "
                      f"{partition_label(spec, ref_start, ref_end) if ref_end > ref_start else 'none yet'}")
    window["reference_window"] = MetadataValue.text(reference_text)
    current = reference = None
    try:
        history = store.read_history(spec.name)
        current = partition_rows(history, spec, start, end).persist()
        reference = partition_rows(history, spec, ref_start, ref_end).persist()
        features = [f for f in names if f is not None]
        cur_rows, _, cur_values = profile(current, features)
        ref_rows, ref_partitions, ref_values = profile(reference, features)
        window.update(rows_checked=MetadataValue.int(cur_rows), reference_rows=MetadataValue.int(ref_rows),
                      reference_partitions=MetadataValue.int(ref_partitions))
        if ref_partitions < config.min_reference_partitions:
            why = (f"not evaluated: {ref_partitions} reference partition(s) with rows, "
                   f"{config.min_reference_partitions} needed")
            return [_not_evaluated(name, why, window) for name in names.values()]
        outcomes = detect_drift(current, reference, features, group=spec.name, thresholds=config.thresholds,
                                per_feature=config.per_feature, volume=config.volume,
                                partition_column="event_time", reference_label=reference_text)
        outcomes = gate_small_samples(outcomes, (cur_rows, cur_values), (ref_rows, ref_values), config.min_rows)
        report = write_drift_report(outcomes, reports_dir, partition=partition_label(spec, start, end),
                                    run_id=run_id)
        window["drift_report"] = MetadataValue.path(str(report))
        window["drift_report_url"] = MetadataValue.url(report.resolve().as_uri())
        return [_drift_result(name, feature, [o for o in outcomes if o.feature == feature], window)
                for feature, name in names.items()]
    except Exception as exc:
        return [_crashed(name, Severity.ERROR, exc, window) for name in names.values()]
    finally:
        for frame in (current, reference):
            if frame is not None:
                frame.unpersist()


# ---- results and metadata ------------------------------------------------------------------------------

def _window_metadata(spec: FeatureGroupSpec, start: datetime, end: datetime) -> dict[str, Any]:
    first, last = partition_keys_bounds(spec, start, end)
    return {"partitions": MetadataValue.text(partition_label(spec, start, end)),
            FIRST_PARTITION: MetadataValue.text(first), LAST_PARTITION: MetadataValue.text(last),
            "event_time_window": MetadataValue.text(f"({start.isoformat()}, {end.isoformat()}]")}


def _suite_result(name: str, check: ExpectationSpec, outcome: CheckOutcome, sample: list[dict],
                  window: Mapping[str, Any]) -> AssetCheckResult:
    metadata: dict[str, Any] = {
        **window,
        "expectation": MetadataValue.text(check.name),
        "expectation_type": MetadataValue.text(check.expectation_type),
        "severity": MetadataValue.text(check.severity.value),
        "observed": MetadataValue.json(_jsonable({"value": outcome.observed})),
        "threshold": MetadataValue.json(_jsonable(dict(check.kwargs))),
    }
    for attr in ("unexpected_count", "unexpected_percent", "element_count"):
        value = getattr(outcome, attr)
        if value is not None:
            metadata[attr] = MetadataValue.float(float(value)) if attr.endswith("percent") else \
                MetadataValue.int(int(value))
    if outcome.error:
        metadata["error"] = MetadataValue.text(_cut(outcome.error))
    if outcome.unexpected_sample:
        metadata["unexpected_sample"] = MetadataValue.json(_jsonable(list(outcome.unexpected_sample)))
    if sample:
        metadata["offending_rows"] = MetadataValue.md(_markdown_table(sample))
    return AssetCheckResult(check_name=name, passed=outcome.passed, severity=_SEVERITY[check.severity],
                            metadata=metadata, description=_cut(outcome.summary()))


def _drift_result(name: str, feature: str | None, outcomes: Sequence[DriftOutcome],
                  window: Mapping[str, Any]) -> AssetCheckResult:
    level = overall_level(outcomes)
    metadata: dict[str, Any] = {
        **window,
        "level": MetadataValue.text(level.value),
        "observed": MetadataValue.json({o.statistic: _number(o.observed) for o in outcomes}),
        "threshold": MetadataValue.json({o.statistic: o.thresholds for o in outcomes}),
        "statistics": MetadataValue.md(_markdown_table([
            {"statistic": o.statistic, "observed": _fmt(o.observed), "reference": _fmt(o.reference_value),
             "current": _fmt(o.current_value), "thresholds": o.thresholds, "level": o.level.value,
             "note": o.note} for o in outcomes])),
    }
    for o in outcomes:
        if o.observed is not None and abs(o.observed) != float("inf") and o.observed == o.observed:
            metadata[o.statistic] = MetadataValue.float(float(o.observed))
    bins = next((o.bins for o in outcomes if o.bins), ())
    if level is not Level.OK and bins:
        metadata["bins"] = MetadataValue.md(_markdown_table([
            {"bin": f"[{_fmt(b.low, '-inf')}, {_fmt(b.high, '+inf')})", "reference": f"{b.reference:.1%}",
             "current": f"{b.current:.1%}", "change": f"{b.current - b.reference:+.1%}"} for b in bins]))
    bad = [o for o in outcomes if o.level is not Level.OK]
    what = feature or "row volume"
    skipped = [o.note for o in outcomes if o.note.startswith("not evaluated")]
    if bad:
        description = f"[{level.value}] drift in {what}: " + "; ".join(o.summary() for o in bad)
    elif skipped:
        description = f"no drift in {what} ({len(skipped)} of {len(outcomes)} statistics {skipped[0]})"
    else:
        description = f"no drift in {what}"
    severity = AssetCheckSeverity.ERROR if level is Level.ERROR else AssetCheckSeverity.WARN
    return AssetCheckResult(check_name=name, passed=level is Level.OK, severity=severity, metadata=metadata,
                            description=_cut(description))


def _not_evaluated(name: str, why: str, window: Mapping[str, Any]) -> AssetCheckResult:
    return AssetCheckResult(check_name=name, passed=True, severity=AssetCheckSeverity.WARN,
                            metadata={**window, "status": MetadataValue.text(why)}, description=why)


def _crashed(name: str, severity: Severity, exc: BaseException, window: Mapping[str, Any]) -> AssetCheckResult:
    error = _cut(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")
    return AssetCheckResult(check_name=name, passed=False, severity=_SEVERITY[Severity(severity)],
                            metadata={**window, "error": MetadataValue.text(error)},
                            description=f"check could not run: {error}")


def _jsonable(value: Any) -> Any:
    return json.loads(json.dumps(value, default=str))


def _number(value: float | None) -> float | str | None:
    if value is None:
        return None
    return float(value) if value == value and abs(value) != float("inf") else str(value)


def _fmt(value: float | None, none: str = "n/a") -> str:
    return none if value is None else f"{value:.4g}"


def _cut(text: str, limit: int = _TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def _markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    cell = lambda v: str("" if v is None else v).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)


# ---- Dagster definitions -------------------------------------------------------------------------------

def build_group_checks(spec: FeatureGroupSpec) -> list[AssetChecksDefinition]:
    """The group's quality-suite checks and (with a drift config) drift checks, partitioned like the group."""
    key = group_key(spec.name)
    partitions_def = partitions_for(spec.grain, spec.start)
    suite = suite_for(spec)
    names = suite_check_names(suite)
    with warnings.catch_warnings():  # partitioned check specs are a Dagster preview feature
        warnings.simplefilter("ignore")
        suite_specs = [
            AssetCheckSpec(names[c.name], asset=key, blocking=c.severity is Severity.ERROR,
                           partitions_def=partitions_def,
                           description=f"{c.expectation_type} ({c.severity.value}): {c.name}",
                           metadata={"expectation": c.name, "severity": c.severity.value})
            for c in suite]
        drift_specs = [
            AssetCheckSpec(name, asset=key, blocking=True, partitions_def=partitions_def,
                           description=(f"drift of {feature} vs the {reference_description(spec, spec.drift)}"
                                        if feature else "rows per partition vs the "
                                        f"{reference_description(spec, spec.drift)}"))
            for feature, name in drift_check_names(spec).items()]

    @multi_asset_check(name=f"{spec.name}_quality_suite", specs=suite_specs,
                       compute_kind="great_expectations",
                       description=f"Great Expectations suite of feature group {spec.name} on written partitions")
    def _suite(context: AssetCheckExecutionContext, store: StoreResource,
               quality: QualityResource) -> Iterator[AssetCheckResult]:
        window = context.partition_time_window
        results = suite_results(store.get_store(), spec, window.start, window.end, sample_rows=quality.sample_rows)
        _log_summary(context, spec.name, "quality suite", results)
        yield from results

    checks = [_suite]
    if drift_specs:
        @multi_asset_check(name=f"{spec.name}_drift", specs=drift_specs, compute_kind="spark",
                           description=f"Drift of feature group {spec.name}'s written partitions vs earlier ones")
        def _drift(context: AssetCheckExecutionContext, store: StoreResource,
                   quality: QualityResource) -> Iterator[AssetCheckResult]:
            window = context.partition_time_window
            offline = store.get_store()
            results = drift_results(offline, spec, window.start, window.end,
                                    quality.get_reports_dir(offline.root), run_id=context.run.run_id)
            _log_summary(context, spec.name, "drift", results)
            yield from results

        checks.append(_drift)
    return checks


def _log_summary(context: AssetCheckExecutionContext, group: str, what: str,
                 results: Sequence[AssetCheckResult]) -> None:
    failed = [r for r in results if not r.passed]
    context.log.info(f"{group} {what}: {len(results) - len(failed)} passed, {len(failed)} failed")
    for result in failed:
        context.log.warning(f"{group}: check {result.check_name} failed ({result.severity.value}): "
                            f"{result.description}")


# ---- blocking lookup -----------------------------------------------------------------------------------

@dataclass(frozen=True)
class FailedCheck:
    """A failed check evaluation: which group, check and partition(s), in which run, and why."""

    group: str
    check: str
    partition: str
    run_id: str
    severity: str
    description: str

    def summary(self) -> str:
        return (f"feature group {self.group!r}: {self.severity} check {self.check!r} failed on partition "
                f"{self.partition} (run {self.run_id[:8]}): {self.description}")


def latest_partition(instance: DagsterInstance, key) -> str | None:
    """The newest materialised partition key of an asset (keys of one time partitioning sort by time)."""
    keys = instance.get_materialized_partitions(key)
    return max(keys) if keys else None


def latest_evaluation(instance: DagsterInstance, check_key: AssetCheckKey, partition: str):
    """The newest completed evaluation of `check_key` that covers `partition`: one run for that partition,
    or a partition-range run (recorded without a partition) whose range holds it. None if never evaluated."""
    from dagster._core.event_api import PartitionKeyFilter
    from dagster._core.storage.asset_check_execution_record import COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES

    storage = instance.event_log_storage
    done = set(COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES)
    exact = storage.get_asset_check_execution_history(check_key, limit=1, status=done,
                                                      partition_filter=PartitionKeyFilter(key=partition))
    ranged = storage.get_asset_check_execution_history(check_key, limit=50, status=done,
                                                       partition_filter=PartitionKeyFilter(key=None))
    covering = [r for r in ranged if _covers(evaluation_of(r), partition)]
    return max([*exact, *covering[:1]], key=lambda r: r.id, default=None)


def evaluation_of(record):
    """The AssetCheckEvaluation of a completed execution record."""
    return record.event.dagster_event.event_specific_data


def _covers(evaluation, partition: str) -> bool:
    meta = evaluation.metadata or {}
    first, last = meta.get(FIRST_PARTITION), meta.get(LAST_PARTITION)
    if first is None or last is None:
        return False
    return str(first.value) <= partition <= str(last.value)


def evaluated_partitions(evaluation) -> str:
    """The partition key, or the range of a range run, an evaluation covers."""
    if evaluation.partition:
        return evaluation.partition
    meta = evaluation.metadata or {}
    label = meta.get("partitions")
    return str(label.value) if label is not None else "(unpartitioned)"


def blocking_failures(instance: DagsterInstance,
                      checks_by_group: Mapping[str, Sequence[AssetCheckKey]]) -> list[FailedCheck]:
    """Failed ERROR-severity checks among the latest evaluations on each group's latest partition."""
    from dagster._core.storage.asset_check_execution_record import AssetCheckExecutionRecordStatus

    failures = []
    for group, keys in checks_by_group.items():
        if not keys:
            continue
        partition = latest_partition(instance, keys[0].asset_key)
        if partition is None:
            continue
        for key in keys:
            record = latest_evaluation(instance, key, partition)
            if record is None or record.status is not AssetCheckExecutionRecordStatus.FAILED:
                continue
            evaluation = evaluation_of(record)
            if evaluation.severity is AssetCheckSeverity.ERROR:
                failures.append(FailedCheck(group=group, check=key.name, partition=partition,
                                            run_id=record.run_id, severity="ERROR",
                                            description=evaluation.description or "no description"))
    return failures


__all__ = ["FailedCheck", "QualityResource", "blocking_failures", "build_group_checks", "check_name",
           "drift_check_names", "drift_results", "group_check_keys", "latest_evaluation", "latest_partition",
           "suite_check_names", "suite_for", "suite_results"]
