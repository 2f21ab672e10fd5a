"""The demo: generate example data, materialise every group over a range of partitions (their quality checks
run in the same jobs), build the training set, print the tables; then inject drift into the last day, re-run
the consumer group for it, show the failing drift check, the blocked training set and the alert the sensor
writes to the JSONL sink.

Runs are recorded in the persistent Dagster instance under data/dagster_home, so `make ui` shows them.
"""

from __future__ import annotations

import contextlib
import os
import time
from collections.abc import Iterator
from datetime import date, timedelta
from pathlib import Path
from typing import TYPE_CHECKING

from dagster import DagsterInstance, build_sensor_context
from dagster._core.execution.execute_in_process_result import ExecuteInProcessResult
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

from orchestration.resources import DEFAULT_DATA_DIR

if TYPE_CHECKING:
    from featurestore.registry import Registry

DEMO_START = os.environ.get("FEATURESTORE_DEMO_START", "2026-10-01")
DEMO_DAYS = int(os.environ.get("FEATURESTORE_DEMO_DAYS", "10"))
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
SILENT = {"loggers": {"console": {"config": {"log_level": "CRITICAL"}}}}  # for runs expected to fail


def demo_instance() -> DagsterInstance:
    """The project's persistent local instance (DAGSTER_HOME defaults to data/dagster_home)."""
    home = os.environ.setdefault("DAGSTER_HOME", str(DEFAULT_DATA_DIR / "dagster_home"))
    os.makedirs(home, exist_ok=True)
    config = os.path.join(home, "dagster.yaml")
    if not os.path.exists(config):  # local SQLite storage (Dagster's default), no telemetry
        with open(config, "w") as handle:
            handle.write("telemetry:\n  enabled: false\n")
    return DagsterInstance.get()


def _partition_range(grain: str, first_day: date, days: int) -> tuple[str, str]:
    last_day = first_day + timedelta(days=days - 1)
    if grain == "hourly":
        return f"{first_day}-00:00", f"{last_day}-23:00"
    return str(first_day), str(last_day)


def run_range(instance: DagsterInstance, job_name: str, grain: str, first_day: date, days: int,
              run_config: dict = QUIET) -> ExecuteInProcessResult:
    """One run of `job_name` over the partition range (single-run backfill), recorded in `instance`; prints
    what was written and a summary of the checks that ran with it."""
    from orchestration.definitions import defs

    first, last = _partition_range(grain, first_day, days)
    started = time.monotonic()
    result = defs.resolve_job_def(job_name).execute_in_process(
        instance=instance, tags={ASSET_PARTITION_RANGE_START_TAG: first, ASSET_PARTITION_RANGE_END_TAG: last},
        run_config=run_config, raise_on_error=False)
    reported = set()
    for event in result.get_asset_materialization_events():
        if event.asset_key in reported:  # one event per partition, all with the run's metadata
            continue
        reported.add(event.asset_key)
        meta = event.materialization.metadata
        print(f"  {event.asset_key.to_user_string():28s} [{first} .. {last}] "
              f"rows written {meta['rows_written'].value:>9,}  corrected {meta['rows_corrected'].value:>6,}  "
              f"delta v{meta['delta_version'].value}  ({time.monotonic() - started:.1f}s)")
    print_check_summary(result)
    return result


def print_check_summary(result: ExecuteInProcessResult) -> None:
    """Checks passed / failed in a run, each failure with its severity and what was observed."""
    evaluations = result.get_asset_check_evaluations()
    if not evaluations:
        return
    failed = [e for e in evaluations if not e.passed]
    skipped = [e for e in evaluations if str(getattr(e.metadata.get("status"), "value", "")).startswith("not eval")]
    print(f"    checks: {len(evaluations) - len(failed)} passed"
          + (f" ({len(skipped)} drift checks not evaluated: no earlier partitions yet)" if skipped else "")
          + f", {len(failed)} failed"
          + ("" if result.success else "  (run failed: a blocking ERROR check did not pass)"))
    for evaluation in failed:
        print(f"      FAILED [{evaluation.severity.value}] {evaluation.check_name}: "
              f"{_cut(evaluation.description or '', 150)}")
    reports = {str(e.metadata["drift_report"].value) for e in evaluations if "drift_report" in e.metadata}
    for report in sorted(reports):
        print(f"    drift report: {report}")


def run_training_set(instance: DagsterInstance, name: str, run_config: dict = QUIET) -> None:
    """Build a training set through its asset job and print its profile, or why it was not built."""
    from orchestration.definitions import defs

    started = time.monotonic()
    result = defs.resolve_job_def(f"{name}_job").execute_in_process(instance=instance, run_config=run_config,
                                                                   raise_on_error=False)
    if not result.success:
        for event in result.all_events:
            if event.is_step_failure:
                data = event.step_failure_data
                user = data.user_failure_data
                print("  " + (user.description if user and user.description else data.error.message)
                      .replace("\n", "\n  "))
        return
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    print(f"  training_sets/{name:15s} rows {meta['rows'].value:>9,}  inputs {meta['input_versions'].value}  "
          f"({time.monotonic() - started:.1f}s)")
    nulls = meta["null_rates"].value
    print("    null rate per feature: " + ", ".join(f"{k} {v:.1%}" for k, v in nulls.items()))


def resource(name: str):
    """One of the project's resources, initialised with its EnvVar settings resolved."""
    from dagster import build_resources as initialised

    from orchestration.definitions import build_resources

    with initialised({name: build_resources()[name]}) as resources:
        return getattr(resources, name)


def sensor_tick(instance: DagsterInstance, sensor_name: str) -> str | None:
    """Evaluate a sensor once, daemon-less, continuing from the cursor the demo saved (next to the alerts)."""
    from orchestration.definitions import build_resources, defs

    cursor_file = Path(resource("alerts").jsonl_path).parent / f"{sensor_name}.cursor"
    cursor = cursor_file.read_text() if cursor_file.exists() else None
    context = build_sensor_context(instance=instance, cursor=cursor, definitions=defs,
                                   resources={"alerts": build_resources()["alerts"]})
    data = defs.resolve_sensor_def(sensor_name).evaluate_tick(context)
    if data.cursor is not None:
        cursor_file.parent.mkdir(parents=True, exist_ok=True)
        cursor_file.write_text(data.cursor)
    reactions = data.dagster_run_reactions or []  # run-status sensors: one per run looked at
    return data.skip_message or f"{len(reactions)} failed run(s) alerted"


@contextlib.contextmanager
def drift_from(day: date) -> Iterator[None]:
    """FEATURESTORE_DEMO_DRIFT_FROM set to `day` (amounts x3 from then on) inside the block only."""
    previous = os.environ.get("FEATURESTORE_DEMO_DRIFT_FROM")
    os.environ["FEATURESTORE_DEMO_DRIFT_FROM"] = str(day)
    try:
        yield
    finally:
        if previous is None:
            os.environ.pop("FEATURESTORE_DEMO_DRIFT_FROM", None)
        else:
            os.environ["FEATURESTORE_DEMO_DRIFT_FROM"] = previous


def drift_step(instance: DagsterInstance, registry: Registry, last_day: date) -> None:
    """Re-load the last day with amounts x3, re-run the consumer group for it, try the training sets, and
    let the alert sensors send what failed."""
    alerts_file = Path(resource("alerts").jsonl_path)
    seen = alerts_file.stat().st_size if alerts_file.exists() else 0
    print(f"\nInjecting drift: transactions of {last_day} with amounts x3, then the consumer group for that day:")
    with drift_from(last_day):
        for source in registry.sources.values():
            run_range(instance, f"source_{source.name}_job", source.grain, last_day, 1)
    run_range(instance, "consumer_job", "daily", last_day, 1, run_config=SILENT)
    print("Training set after the failed check:")
    for training_set in registry.training_sets.values():
        run_training_set(instance, training_set.name, run_config=SILENT)
    print("Alert sensors (one daemon-less tick each):")
    for name in ("check_failure_alerts", "run_failure_alerts"):
        print(f"  {name}: {sensor_tick(instance, name)}")
    new = alerts_file.read_text(encoding="utf-8")[seen:] if alerts_file.exists() else ""
    print(f"Alerts written to {alerts_file}:")
    for line in new.splitlines():
        print("  " + _cut(line, 400))
    print("(`make demo` again reloads clean data; the drifted day stays until then)")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


def main() -> None:
    from orchestration.definitions import defs  # noqa: F401 - loads the specs
    from featurestore.registry import discover

    instance = demo_instance()
    registry = discover("feature_groups")
    first_day = date.fromisoformat(DEMO_START)
    print(f"Dagster instance: {os.environ['DAGSTER_HOME']}")
    sensor_tick(instance, "run_failure_alerts")  # starts the run-failure sensor's cursor before the runs
    print(f"Materialising {DEMO_DAYS} days from {first_day}:")
    for source in registry.sources.values():
        run_range(instance, f"source_{source.name}_job", source.grain, first_day - timedelta(days=7), DEMO_DAYS + 7)
    for spec in registry.groups.values():
        run_range(instance, f"{spec.name}_job", spec.grain, first_day, DEMO_DAYS)
    for training_set in registry.training_sets.values():
        run_training_set(instance, training_set.name)
    store = resource("store").get_store()
    print("\nDelta tables:")
    for source in registry.sources.values():
        path = store.source_path(source.name)
        print(f"  source {source.name:18s} {store.spark.read.format('delta').load(path).count():>10,} rows  {path}")
    for spec in registry.groups.values():
        for kind, path in (("history", store.history_path(spec.name)), ("latest", store.latest_path(spec.name))):
            rows = store.spark.read.format("delta").load(path).count()
            print(f"  {spec.name:13s} {kind:7s} {rows:>10,} rows  v{store.version(path)}  {path}")
    for name in registry.training_sets:
        path = store.table_path("training_sets", name)
        rows = store.spark.read.format("delta").load(path).count()
        print(f"  training set {name:12s} {rows:>10,} rows  v{store.version(path)}  {path}")
    drift_step(instance, registry, first_day + timedelta(days=DEMO_DAYS - 1))
    print("\nUI: make ui  (dagster dev -w workspace.yaml with this DAGSTER_HOME)")


if __name__ == "__main__":
    main()
