"""Factory: a feature-group spec becomes Dagster asset checks on its asset, run in the same job right after it.

Per group, two multi-asset checks (one op each, so one GX run and one drift pass per run):
  <group>_quality_suite  one check per expectation of the group's suite (structural checks +
                         spec.expectations), named after it ('between:x' -> 'between_x')
  <group>_drift          one check per compared feature ('drift_<feature>') and 'drift_row_volume', when the
                         spec has a drift config (quality.drift.DriftCheckConfig)
The checks are *not* partitioned: a run over a partition range (single-run backfill) evaluates the range once
and records one result per check, on the run's latest materialisation; the result's metadata names the range
(`partitions`, `first_partition`, `last_partition`). Dagster 1.13 records results of a range run without a
partition, so partitioned check specs (a preview feature) showed passed checks as Skipped / Execution failed.

The evaluation itself is quality.check_results (no Dagster); this module turns its results into
AssetCheckResults: a failed ERROR check is AssetCheckSeverity.ERROR and blocking (what runs after the group in
the same run does not run, and the run fails); WARN is WARN and non-blocking. A drift check that could not be
evaluated (too few reference partitions) yields no result, so the UI shows it Skipped, never Passed; its
reason is in the run's log.
"""


from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetCheckSpec,
    AssetChecksDefinition,
    ConfigurableResource,
    MetadataValue,
    multi_asset_check,
)

from featurestore.spec import FeatureGroupSpec
from orchestration.keys import group_check_keys, group_key
from orchestration.resources import DEFAULT_DATA_DIR, StoreResource
from quality import Severity
from quality.check_names import drift_check_names, reference_description, suite_check_names, suite_for
from quality.check_results import CheckResult, Markdown, Status, Url, drift_results, suite_results

_SEVERITY = {Severity.ERROR: AssetCheckSeverity.ERROR, Severity.WARN: AssetCheckSeverity.WARN}


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


def metadata_value(value: Any) -> Any:
    """A plain metadata value of quality.check_results as a Dagster MetadataValue."""
    if isinstance(value, Markdown):
        return MetadataValue.md(str(value))
    if isinstance(value, Url):
        return MetadataValue.url(str(value))
    if isinstance(value, Path):
        return MetadataValue.path(str(value))
    if isinstance(value, bool):
        return MetadataValue.bool(value)
    if isinstance(value, int):
        return MetadataValue.int(value)
    if isinstance(value, float):
        return MetadataValue.float(value)
    if isinstance(value, (dict, list)):
        return MetadataValue.json(value)
    return MetadataValue.text(str(value))


def to_dagster(result: CheckResult) -> AssetCheckResult:
    """A passed or failed result as an AssetCheckResult (a NOT_EVALUATED one has no Dagster result)."""
    if result.status is Status.NOT_EVALUATED:
        raise ValueError(f"check {result.name!r} was not evaluated: it has no AssetCheckResult")
    return AssetCheckResult(check_name=result.name, passed=result.passed, severity=_SEVERITY[result.severity],
                            description=result.description,
                            metadata={k: metadata_value(v) for k, v in result.metadata.items()})


def build_group_checks(spec: FeatureGroupSpec) -> list[AssetChecksDefinition]:
    """The group's quality-suite checks and (with a drift config) drift checks, evaluated on the run's range."""
    key = group_key(spec.name)
    suite = suite_for(spec)
    names = suite_check_names(suite)
    suite_specs = [
        AssetCheckSpec(names[c.name], asset=key, blocking=c.severity is Severity.ERROR,
                       description=f"{c.expectation_type} ({c.severity.value}): {c.name}, on the partitions "
                                   "each run writes",
                       metadata={"expectation": c.name, "severity": c.severity.value})
        for c in suite]
    drift_specs = [
        AssetCheckSpec(name, asset=key, blocking=True,
                       description=(f"drift of {feature} vs the {reference_description(spec, spec.drift)}"
                                    if feature else "rows per partition vs the "
                                    f"{reference_description(spec, spec.drift)}")
                       + "; skipped while there are too few reference partitions")
        for feature, name in drift_check_names(spec).items()]

    @multi_asset_check(name=f"{spec.name}_quality_suite", specs=suite_specs, compute_kind="great_expectations",
                       can_subset=True,
                       description=f"Great Expectations suite of feature group {spec.name} on written partitions")
    def _suite(context: AssetCheckExecutionContext, store: StoreResource,
               quality: QualityResource) -> Iterator[AssetCheckResult]:
        window = context.partition_time_window
        results = suite_results(store.get_store(), spec, window.start, window.end, sample_rows=quality.sample_rows)
        yield from _emit(context, spec.name, "quality suite", results)

    checks = [_suite]
    if drift_specs:
        @multi_asset_check(name=f"{spec.name}_drift", specs=drift_specs, compute_kind="spark", can_subset=True,
                           description=f"Drift of feature group {spec.name}'s written partitions vs earlier ones")
        def _drift(context: AssetCheckExecutionContext, store: StoreResource,
                   quality: QualityResource) -> Iterator[AssetCheckResult]:
            window = context.partition_time_window
            offline = store.get_store()
            results = drift_results(offline, spec, window.start, window.end,
                                    quality.get_reports_dir(offline.root), run_id=context.run.run_id)
            yield from _emit(context, spec.name, "drift", results)

        checks.append(_drift)
    return checks


def _emit(context: AssetCheckExecutionContext, group: str, what: str,
          results: Sequence[CheckResult]) -> Iterator[AssetCheckResult]:
    """Log a summary, then the AssetCheckResults of the evaluated checks (in the op's selection)."""
    selected = {k.name for k in context.op_execution_context.selected_asset_check_keys}
    results = [r for r in results if r.name in selected]
    failed = [r for r in results if r.failed]
    skipped = [r for r in results if r.status is Status.NOT_EVALUATED]
    context.log.info(f"{group} {what}: {len(results) - len(failed) - len(skipped)} passed, {len(failed)} failed"
                     + (f", {len(skipped)} not evaluated ({skipped[0].description})" if skipped else ""))
    for result in failed:
        context.log.warning(f"{group}: check {result.name} failed ({result.severity.value}): {result.description}")
    for result in results:
        if result.status is not Status.NOT_EVALUATED:
            yield to_dagster(result)


__all__ = ["QualityResource", "build_group_checks", "group_check_keys", "metadata_value", "to_dagster"]
