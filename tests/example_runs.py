"""The example run two ways, for the tests that compare a remote run (standalone cluster, S3 bucket, Spark Connect)
with a local one: the Dagster jobs in a driver subprocess, the same windows through the core API here.

`drive_beside_local` starts the driver (`python -m tests.<module>`, which prints one JSON report as its last line),
runs the local reference meanwhile, stops the driver's process group whatever happens, and returns the report.
"""

from __future__ import annotations

import json
import subprocess
import sys
import time
from collections.abc import Callable, Mapping
from datetime import datetime, timedelta, timezone
from pathlib import Path
from typing import Any

import pytest

from tests.processes import free_port, stop_process_group  # noqa: F401 - used by the remote-run tests

PROJECT = Path(__file__).resolve().parent.parent
SIZE_ENV = {"FEATURESTORE_DEMO_TX_PER_DAY": "300", "FEATURESTORE_DEMO_CARDS": "40",
            "FEATURESTORE_DEMO_CONSUMERS": "15"}
SOURCE_DAYS = ("2026-09-30", "2026-10-01")  # consumer looks back 7 days: a partial week is fine
CONSUMER_DAYS = ("2026-10-01", "2026-10-01")
CARD_HOURS = ("2026-10-01-00:00", "2026-10-01-03:00")
TRAINING_SET = "fraud_training"
TABLES = ("sources/transactions", "features/consumer/history", "features/card/history", "features/consumer/latest",
          "features/card/latest", f"training_sets/{TRAINING_SET}")
RUN_TIMEOUT = 900
QUIET = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}


def spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def job_summary(result: Any, started: float) -> dict:
    """What a test asserts of one `execute_in_process` result: success, assets, checks (failed by name), causes."""
    checks = [e.event_specific_data for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"]
    return {"success": result.success, "seconds": round(time.monotonic() - started, 1),
            "materialised": sorted({e.asset_key.to_user_string() for e in result.get_asset_materialization_events()}),
            "checks": len(checks), "checks_failed": sorted(c.check_name for c in checks if not c.passed),
            "failures": [_root_cause(e.event_specific_data.error) for e in result.all_events
                         if e.event_type_value == "STEP_FAILURE"]}


def _root_cause(error: Any) -> str:
    while getattr(error, "cause", None) is not None:
        error = error.cause
    return (error.message + "".join(error.stack[-6:]))[-3000:] if error is not None else ""


def run_example_jobs(extra_jobs: tuple[str, ...] = ()) -> dict:
    """In this process: the example's jobs from the project's Definitions (env: master, conf, root, size)."""
    from dagster import DagsterInstance

    from orchestration.dagster_internals import partition_range_tags
    from orchestration.definitions import defs

    instance = DagsterInstance.ephemeral()
    runs = {}
    jobs = [("source_transactions_job", SOURCE_DAYS), ("consumer_job", CONSUMER_DAYS), ("card_job", CARD_HOURS),
            (f"{TRAINING_SET}_job", None), *((job, None) for job in extra_jobs)]
    for job, window in jobs:
        started = time.monotonic()
        result = defs.resolve_job_def(job).execute_in_process(
            instance=instance, tags=partition_range_tags(*window) if window else None, run_config=QUIET,
            raise_on_error=False)
        runs[job] = job_summary(result, started)
    return {"runs": runs}


def rows(spark, path: str, drop: tuple[str, ...] = ()) -> list[tuple]:
    """A Delta table's rows (sorted columns, sorted rows, `drop` left out): comparable between two runs."""
    df = spark.read.format("delta").load(path).drop(*drop)
    found = [tuple(row) for row in df.select(*sorted(df.columns)).collect()]
    return sorted(found, key=lambda row: tuple((v is None, 0 if v is None else v) for v in row))


def local_run(spark, root: Path) -> None:
    """The same windows through the core API on the test's local session."""
    from featurestore.offline.materialize import materialize_group, materialize_source
    from featurestore.offline.store import OfflineStore
    from featurestore.registry import discover
    from featurestore.training.sets import build_training_set

    registry = discover("feature_groups")
    store = OfflineStore(spark, str(root))

    def day(text: str) -> datetime:
        return datetime.fromisoformat(text).replace(tzinfo=timezone.utc)

    def hour(text: str) -> datetime:
        return datetime.strptime(text, "%Y-%m-%d-%H:%M").replace(tzinfo=timezone.utc)

    materialize_source(store, registry.source("transactions"), day(SOURCE_DAYS[0]),
                       day(SOURCE_DAYS[1]) + timedelta(days=1))
    materialize_group(store, registry.group("consumer"), registry, day(CONSUMER_DAYS[0]),
                      day(CONSUMER_DAYS[1]) + timedelta(days=1))
    materialize_group(store, registry.group("card"), registry, hour(CARD_HOURS[0]),
                      hour(CARD_HOURS[1]) + timedelta(hours=1))
    build_training_set(store, registry.training_set(TRAINING_SET), registry)


class LocalReference:
    """The local reference run (`local_run` with the example's sizes), made once per test session: the first
    remote test makes it while its driver runs, the others reuse it (they only read it)."""

    def __init__(self, spark, root: Path):
        self.spark, self.path, self._made = spark, root, False

    def root(self) -> Path:
        if not self._made:
            with pytest.MonkeyPatch.context() as patch:
                for name, value in SIZE_ENV.items():
                    patch.setenv(name, value)
                local_run(self.spark, self.path)
            self._made = True
        return self.path


def drive_beside_local(module: str, args: tuple[str, ...], env: Mapping[str, str], local: Callable[[], Any],
                       what: str) -> tuple[dict, Any]:
    """Run `python -m <module> *args` (a driver printing a JSON report, with the example's sizes) while
    `local()` runs here; returns (report, local's result). The driver's process group is stopped whatever
    happens."""
    (Path(env["DAGSTER_HOME"])).mkdir(exist_ok=True)
    driver = subprocess.Popen([sys.executable, "-m", module, *args], env={**env, **SIZE_ENV}, cwd=PROJECT,
                              stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True, start_new_session=True)
    try:
        local_result = local()
        stdout, stderr = driver.communicate(timeout=RUN_TIMEOUT)
    finally:
        if driver.poll() is None:
            stop_process_group(driver)
    assert driver.returncode == 0, stderr[-5000:]
    report = json.loads(stdout.strip().splitlines()[-1])
    report["output"] = stdout + stderr
    print(f"{what} run:", json.dumps({k: v for k, v in report.items() if k != "output"}))
    return report, local_result
