"""The evaluation of a group's checks on a window of written partitions, as plain results (no Dagster).

`suite_results` runs the group's expectation suite (quality.expectations.default_suite: structural checks plus
spec.expectations) on the history rows of the partitions [start, end); `drift_results` compares them with the
reference window before them. Each returns one `CheckResult` per check, named as the Dagster checks are
(`suite_check_names`, `drift_check_names`). A result is passed, failed (with a severity) or not evaluated
(drift without enough reference partitions). An expectation that errored inside GX, or a check that raised,
is failed, never passed. Metadata values are plain Python values, `Markdown`, `Url` or `pathlib.Path`; every
result carries the window it covers: `partitions` ('2026-10-01..2026-10-09'), `first_partition`,
`last_partition` and `event_time_window`, so a reader can tell which partitions an evaluation covers.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from enum import Enum
from pathlib import Path
from typing import Any

from featurestore.offline.store import OfflineStore
from featurestore.spec import FeatureGroupSpec
from quality import Level, Severity
from quality.check_names import (
    FIRST_PARTITION,
    LAST_PARTITION,
    PARTITIONS,
    drift_check_names,
    drift_config,
    reference_description,
    suite_check_names,
    suite_for,
)
from quality.drift import DriftOutcome, detect_drift, overall_level
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
from quality.expectations import ExpectationSpec
from quality.gx_runner import CheckOutcome, run_suite
from quality.report import write_drift_report

_TEXT_LIMIT = 1500


class Markdown(str):
    """A metadata value to render as Markdown."""


class Url(str):
    """A metadata value to render as a link."""


class Status(str, Enum):
    PASSED = "passed"
    FAILED = "failed"
    NOT_EVALUATED = "not_evaluated"


@dataclass(frozen=True)
class CheckResult:
    """One check's verdict on a window of partitions."""

    name: str
    status: Status
    severity: Severity
    description: str
    metadata: Mapping[str, Any] = field(default_factory=dict)

    @property
    def passed(self) -> bool:
        return self.status is Status.PASSED

    @property
    def failed(self) -> bool:
        return self.status is Status.FAILED


# ---- evaluation ----------------------------------------------------------------------------------------

def window_metadata(spec: FeatureGroupSpec, start: datetime, end: datetime) -> dict[str, Any]:
    """The partitions [start, end) an evaluation covers."""
    first, last = partition_keys_bounds(spec, start, end)
    return {PARTITIONS: partition_label(spec, start, end), FIRST_PARTITION: first, LAST_PARTITION: last,
            "partition_count": partition_count(spec, start, end),
            "event_time_window": f"({start.isoformat()}, {end.isoformat()}]"}


def suite_results(store: OfflineStore, spec: FeatureGroupSpec, start: datetime, end: datetime, *,
                  sample_rows: int = 5) -> list[CheckResult]:
    """One result per expectation of the group's suite on the partitions [start, end)."""
    suite = suite_for(spec)
    names = suite_check_names(suite)
    checks = per_window(suite, partition_count(spec, start, end))
    window = window_metadata(spec, start, end)
    try:
        rows = partition_rows(store.read_history(spec.name), spec, start, end).persist()
    except Exception as exc:  # no table, unreadable: every check failed
        return [_crashed(names[c.name], c.severity, exc, window) for c in checks]
    try:
        outcomes = run_suite(rows, spec.name, checks, sample_size=max(sample_rows, 1))
        window["rows_checked"] = rows.count()
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
                  reports_dir: Path, *, run_id: str | None = None) -> list[CheckResult]:
    """One result per compared feature and one for row volume: [start, end) against the reference window.
    Fewer reference partitions with rows than the config needs: every result is NOT_EVALUATED."""
    config = drift_config(spec)
    names = drift_check_names(spec)
    if config is None or not names:
        return []
    window = window_metadata(spec, start, end)
    ref_start, ref_end = reference_window(spec, start, config.reference)
    reference_text = (f"{reference_description(spec, config)}: "
                      f"{partition_label(spec, ref_start, ref_end) if ref_end > ref_start else 'none yet'}")
    window["reference_window"] = reference_text
    current = reference = None
    try:
        history = store.read_history(spec.name)
        current = partition_rows(history, spec, start, end).persist()
        reference = partition_rows(history, spec, ref_start, ref_end).persist()
        features = [f for f in names if f is not None]
        cur_rows, _, cur_values = profile(current, features)
        ref_rows, ref_partitions, ref_values = profile(reference, features)
        window.update(rows_checked=cur_rows, reference_rows=ref_rows, reference_partitions=ref_partitions)
        if ref_partitions < config.min_reference_partitions:
            why = (f"not evaluated: {ref_partitions} reference partition(s) with rows, "
                   f"{config.min_reference_partitions} needed")
            return [CheckResult(name, Status.NOT_EVALUATED, Severity.WARN, why, {**window, "status": why})
                    for name in names.values()]
        outcomes = detect_drift(current, reference, features, group=spec.name, thresholds=config.thresholds,
                                per_feature=config.per_feature, volume=config.volume,
                                partition_column="event_time", reference_label=reference_text)
        outcomes = gate_small_samples(outcomes, (cur_rows, cur_values), (ref_rows, ref_values), config.min_rows)
        report = write_drift_report(outcomes, reports_dir, partition=partition_label(spec, start, end),
                                    run_id=run_id)
        window["drift_report"] = report
        window["drift_report_url"] = Url(report.resolve().as_uri())
        return [_drift_result(name, feature, [o for o in outcomes if o.feature == feature], window)
                for feature, name in names.items()]
    except Exception as exc:
        return [_crashed(name, Severity.ERROR, exc, window) for name in names.values()]
    finally:
        for frame in (current, reference):
            if frame is not None:
                frame.unpersist()


# ---- results -------------------------------------------------------------------------------------------

def _suite_result(name: str, check: ExpectationSpec, outcome: CheckOutcome, sample: list[dict],
                  window: Mapping[str, Any]) -> CheckResult:
    metadata: dict[str, Any] = {
        **window,
        "expectation": check.name,
        "expectation_type": check.expectation_type,
        "severity": check.severity.value,
        "observed": _jsonable({"value": outcome.observed}),
        "threshold": _jsonable(dict(check.kwargs)),
    }
    for attr in ("unexpected_count", "unexpected_percent", "element_count"):
        value = getattr(outcome, attr)
        if value is not None:
            metadata[attr] = float(value) if attr.endswith("percent") else int(value)
    if outcome.error:
        metadata["error"] = _cut(outcome.error)
    if outcome.unexpected_sample:
        metadata["unexpected_sample"] = _jsonable(list(outcome.unexpected_sample))
    if sample:
        metadata["offending_rows"] = Markdown(markdown_table(sample))
    return CheckResult(name, Status.PASSED if outcome.passed else Status.FAILED, Severity(check.severity),
                       _cut(outcome.summary()), metadata)


def _drift_result(name: str, feature: str | None, outcomes: Sequence[DriftOutcome],
                  window: Mapping[str, Any]) -> CheckResult:
    level = overall_level(outcomes)
    metadata: dict[str, Any] = {
        **window,
        "level": level.value,
        "observed": {o.statistic: _number(o.observed) for o in outcomes},
        "threshold": _jsonable({o.statistic: o.thresholds for o in outcomes}),
        "statistics": Markdown(markdown_table([
            {"statistic": o.statistic, "observed": _fmt(o.observed), "reference": _fmt(o.reference_value),
             "current": _fmt(o.current_value), "thresholds": o.thresholds, "level": o.level.value,
             "note": o.note} for o in outcomes])),
    }
    for o in outcomes:
        if o.observed is not None and abs(o.observed) != float("inf") and o.observed == o.observed:
            metadata[o.statistic] = float(o.observed)
    bins = next((o.bins for o in outcomes if o.bins), ())
    if level is not Level.OK and bins:
        metadata["bins"] = Markdown(markdown_table([
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
    severity = Severity.ERROR if level is Level.ERROR else Severity.WARN
    return CheckResult(name, Status.PASSED if level is Level.OK else Status.FAILED, severity,
                       _cut(description), metadata)


def _crashed(name: str, severity: Severity, exc: BaseException, window: Mapping[str, Any]) -> CheckResult:
    error = _cut(f"{type(exc).__name__}: {str(exc).strip().splitlines()[0] if str(exc).strip() else ''}")
    return CheckResult(name, Status.FAILED, Severity(severity), f"check could not run: {error}",
                       {**window, "error": error})


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


def markdown_table(rows: Sequence[Mapping[str, Any]]) -> str:
    columns = list(dict.fromkeys(k for row in rows for k in row))
    cell = lambda v: str("" if v is None else v).replace("|", "\\|").replace("\n", " ")  # noqa: E731
    lines = ["| " + " | ".join(columns) + " |", "|" + "---|" * len(columns)]
    lines += ["| " + " | ".join(cell(row.get(c)) for c in columns) + " |" for row in rows]
    return "\n".join(lines)
