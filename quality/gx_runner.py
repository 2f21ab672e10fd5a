"""Run a feature group's expectations with Great Expectations 1.x on a Spark DataFrame.

One ephemeral GX context and ONE validation run per call. GX records an expectation that raised (missing
column, type-incompatible check, Spark error) in `exception_info` instead of raising; such a check is
reported as failed with the error message, never as passed. A check GX returned no result for is failed too.

Notes for pyspark 4.1 (GX 1.24.1 declares pyspark<4.2 and runs on 4.1.1 classic sessions):
- The data source is created with persist=False: GX's default persists the batch DataFrame and never
  unpersists it. `run_suite` persists the frame itself for the run (GX launches several Spark jobs per
  suite) and unpersists it afterwards, unless the caller had already cached it.
- The data source's session is pinned to `df.sparkSession` (GX otherwise tries a Spark Connect session
  first and falls back to `SparkSession.builder.getOrCreate()`).
- Spark 4 enables ANSI mode: a type-incompatible expectation (e.g. a string value set on a double column)
  raises CAST_INVALID_INPUT inside GX instead of silently counting rows; it shows up here as an errored,
  failed check (and Spark logs the task failure). `quality.expectations.validate_suite` rejects the usual
  cases at build time.
"""

from __future__ import annotations

import datetime as _dt
import decimal
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from featurestore.errors import SpecError
from quality import Severity
from quality.expectations import ExpectationSpec

if TYPE_CHECKING:
    from pyspark.sql import DataFrame


@dataclass(frozen=True)
class CheckOutcome:
    """Result of one expectation: `passed` is False when it failed or errored (`error` says why)."""

    group: str
    name: str
    expectation_type: str
    severity: Severity
    passed: bool
    observed: Any = None
    expected: Mapping[str, Any] = field(default_factory=dict, hash=False)
    error: str | None = None
    unexpected_count: int | None = None
    unexpected_percent: float | None = None
    element_count: int | None = None
    unexpected_sample: tuple[Any, ...] = ()
    details: Mapping[str, Any] = field(default_factory=dict, hash=False, repr=False)

    @property
    def errored(self) -> bool:
        return self.error is not None

    @property
    def blocking(self) -> bool:
        """Failed with severity ERROR."""
        return not self.passed and self.severity is Severity.ERROR

    def summary(self) -> str:
        """One line for logs and alerts."""
        state = "passed" if self.passed else ("errored" if self.errored else "failed")
        parts = [f"[{self.severity.value}] {self.group}/{self.name} {state}"]
        if self.error:
            parts.append(f"error: {self.error}")
        elif not self.passed:
            parts.append(f"observed {self.observed!r}, expected {dict(self.expected)!r}")
            if self.unexpected_sample:
                parts.append(f"e.g. {list(self.unexpected_sample)!r}")
        return "; ".join(parts)


def run_suite(df: DataFrame, group: str, expectations: Iterable[ExpectationSpec], *,
              sample_size: int = 10, cache: bool = True) -> list[CheckOutcome]:
    """Validate `df` against `expectations` in one GX run; one CheckOutcome per expectation, in order.

    `sample_size` bounds the offending values kept per check (GX partial_unexpected_list). With `cache`,
    `df` is persisted for the run and unpersisted after, unless it was already cached by the caller.
    """
    checks = list(expectations)
    names = [c.name for c in checks]
    duplicates = sorted({n for n in names if names.count(n) > 1})
    if duplicates:
        raise SpecError(f"feature group {group!r}: expectation name(s) {duplicates} used more than once")
    if not checks:
        return []

    built, outcomes = {}, {}
    for check in checks:
        try:
            built[check.name] = check.to_gx()
        except Exception as exc:  # bad kwargs or unknown type: report, run the rest
            outcomes[check.name] = _errored(group, check, f"could not build expectation: {_message(exc)}")

    if built:
        persisted = cache and not df.storageLevel.useMemory and not df.storageLevel.useDisk
        if persisted:
            df = df.persist()
        try:
            results = _validate(df, group, list(built.values()), sample_size)
        except Exception as exc:  # the run itself failed: every check in it failed
            message = f"validation run failed: {_message(exc)}"
            results = None
            for name in built:
                outcomes[name] = _errored(group, _by_name(checks, name), message)
        finally:
            if persisted:
                df.unpersist()
        if results is not None:
            present = set(df.columns)
            for name in built:
                check = _by_name(checks, name)
                result = results.get(name)
                outcomes[name] = (_outcome(group, check, result, present) if result is not None else
                                  _errored(group, check, "Great Expectations returned no result for it"))
    return [outcomes[c.name] for c in checks]


def _validate(df: DataFrame, group: str, expectations: list, sample_size: int) -> dict[str, Any]:
    """One ephemeral-context validation of `df`; results keyed by check name."""
    import great_expectations as gx
    from great_expectations.data_context.types.base import ProgressBarsConfig

    context = gx.get_context(mode="ephemeral")
    context.variables.progress_bars = ProgressBarsConfig(globally=False, metric_calculations=False)
    source = context.data_sources.add_spark(name=f"quality_{group}", persist=False)
    source._spark = df.sparkSession  # use the frame's own session (see module notes)
    batch_definition = (source.add_dataframe_asset(name=group)
                        .add_batch_definition_whole_dataframe(name="whole_dataframe"))
    batch = batch_definition.get_batch(batch_parameters={"dataframe": df})
    suite = gx.ExpectationSuite(name=f"{group}_quality")
    for expectation in expectations:
        suite.add_expectation(expectation)
    validation = batch.validate(suite, result_format={"result_format": "BASIC",
                                                      "partial_unexpected_count": max(sample_size, 0)})
    results = {}
    for result in validation.results:
        config = result.expectation_config
        name = (config.meta or {}).get("check") or config.description
        results[name] = result
    return results


def _outcome(group: str, check: ExpectationSpec, result: Any, present: set[str]) -> CheckOutcome:
    details = _plain(dict(result.result or {}))
    error = _exception_message(result.exception_info)
    missing = [c for c in check.columns if c not in present]
    if error and missing:  # GX's own message can be as vague as "list index out of range"
        error = f"column(s) {missing} missing from the data; {error}"
    observed = details.get("observed_value", details.get("unexpected_count"))
    sample = details.get("partial_unexpected_list")
    if sample is None:  # column-set checks report what is missing / unexpected instead
        mismatched = (details.get("details") or {}).get("mismatched") or {}
        sample = [f"{kind}: {column}" for kind, columns in sorted(mismatched.items()) for column in columns]
    return CheckOutcome(
        group=group, name=check.name, expectation_type=check.expectation_type, severity=check.severity,
        passed=result.success is True and error is None, observed=observed,
        expected=_plain(dict(check.kwargs)), error=error,
        unexpected_count=details.get("unexpected_count"),
        unexpected_percent=details.get("unexpected_percent"),
        element_count=details.get("element_count"),
        unexpected_sample=tuple(sample or ()), details=details)


def _errored(group: str, check: ExpectationSpec, message: str) -> CheckOutcome:
    return CheckOutcome(group=group, name=check.name, expectation_type=check.expectation_type,
                        severity=check.severity, passed=False, expected=_plain(dict(check.kwargs)),
                        error=message)


def _exception_message(info: Any) -> str | None:
    """The error GX recorded: a flat {raised_exception, exception_message} dict, or one such dict per
    failed metric keyed by metric id. None if nothing raised."""
    if not info:
        return None
    if "raised_exception" in info:
        if not info.get("raised_exception"):
            return None
        return _first_line(info.get("exception_message")) or "Great Expectations raised an exception"
    messages = [_first_line(v.get("exception_message")) or "Great Expectations raised an exception"
                for v in info.values() if isinstance(v, Mapping) and v.get("raised_exception")]
    return "; ".join(dict.fromkeys(messages)) or None


def _first_line(message: Any) -> str | None:
    """Spark errors carry a long query context after the first line; keep the message itself."""
    if not message:
        return None
    text = str(message).strip().split("\n== ", 1)[0].strip()
    return text if len(text) <= 2000 else text[:1999] + "…"


def _message(exc: BaseException) -> str:
    return f"{type(exc).__name__}: {_first_line(exc) or ''}".rstrip(": ")


def _by_name(checks: list[ExpectationSpec], name: str) -> ExpectationSpec:
    return next(c for c in checks if c.name == name)


def _plain(value: Any) -> Any:
    """JSON-friendly copy: numpy scalars to Python, tuples and sets to lists, Rows to dicts."""
    if value is None or isinstance(value, (bool, int, float, str, _dt.date, _dt.datetime, decimal.Decimal)):
        return value
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if hasattr(value, "asDict"):
        return _plain(value.asDict())
    if isinstance(value, (set, frozenset)):
        return sorted((_plain(v) for v in value), key=repr)
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if hasattr(value, "item"):  # numpy scalar
        return value.item()
    return str(value)


__all__ = ["CheckOutcome", "run_suite"]
