"""The example through Spark Connect (`FEATURESTORE_SPARK_MASTER=sc://127.0.0.1:PORT`): source, both groups with
their quality checks, and the training set, compared row for row with the same data computed locally.

Two extra processes: the Connect server (pyspark's own `SparkConnectServer` class through `spark-submit`, with the
Delta jars and session extension; its JVM is the only extra start-up, ~15-25 s) and the client, a Python process
without a JVM that executes the Dagster jobs (this test process already holds a classic SparkContext, and pyspark
keeps one mode per process). Run as `python -m tests.test_spark_connect` the client prints a JSON report.
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import pytest

from featurestore.session import BASE_CONF, DELTA_CONF, delta_jars
from tests.example_runs import (CARD_HOURS, CONSUMER_DAYS, PROJECT, TABLES, TRAINING_SET, drive_beside_local,
                                free_port, rows, run_example_jobs, spark_home, stop_process_group)

START_TIMEOUT = 180


def _accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


def connect_server_command(port: int) -> list[str]:
    """`spark-submit` of pyspark's Spark Connect server with Delta, UTC and the suite's small shuffle settings."""
    conf = {**BASE_CONF, **DELTA_CONF, "spark.connect.grpc.binding.address": "127.0.0.1",
            "spark.connect.grpc.binding.port": str(port), "spark.sql.shuffle.partitions": "4",
            "spark.default.parallelism": "2", "spark.sql.adaptive.enabled": "false"}
    args = [str(spark_home() / "bin" / "spark-submit"), "--class",
            "org.apache.spark.sql.connect.service.SparkConnectServer", "--master", "local[2]",
            "--driver-memory", "1g", "--jars", ",".join(delta_jars()), "--name", "featurestore-connect-test"]
    for key, value in conf.items():
        args += ["--conf", f"{key}={value}"]
    return [*args, "spark-internal"]


@pytest.fixture(scope="module")
def connect_server(tmp_path_factory):
    """A Spark Connect server on a free port of 127.0.0.1; torn down whatever happens."""
    tmp = tmp_path_factory.mktemp("connect")
    port = free_port()
    env = {**os.environ, "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": "127.0.0.1",
           "PYSPARK_PYTHON": sys.executable, "SPARK_LOG_DIR": str(tmp)}
    log = open(tmp / "server.log", "wb")  # noqa: SIM115 - closed below
    server = subprocess.Popen(connect_server_command(port), env=env, cwd=PROJECT, stdout=log,
                              stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL, start_new_session=True)
    try:
        deadline = time.monotonic() + START_TIMEOUT
        while not _accepts(port):
            if server.poll() is not None or time.monotonic() > deadline:
                pytest.fail("Spark Connect server did not come up:\n"
                            + (tmp / "server.log").read_text(errors="replace")[-3000:])
            time.sleep(0.5)
        yield f"sc://127.0.0.1:{port}"
    finally:
        stop_process_group(server)
        log.close()


def run_example_jobs_through_connect() -> dict:
    """In this process (a Connect client): the example's jobs; their checks; the session kind."""
    from featurestore.session import build_spark_session, is_connect_session

    report = run_example_jobs()
    spark = build_spark_session(os.environ["FEATURESTORE_SPARK_MASTER"])
    return {**report, "connect": is_connect_session(spark), "pid": os.getpid(),
            "jvm_in_client": "pyspark.java_gateway" in sys.modules and bool(getattr(
                sys.modules["pyspark"].SparkContext, "_gateway", None))}


@pytest.mark.slow
def test_example_through_spark_connect_matches_local(connect_server, spark, tmp_path, example_reference):
    connect_root = tmp_path / "connect_store"
    env = {**os.environ, "FEATURESTORE_SPARK_MASTER": connect_server, "FEATURESTORE_ROOT": str(connect_root),
           "DAGSTER_HOME": str(tmp_path / "dagster_home"), "FEATURESTORE_REPORTS_DIR": str(tmp_path / "reports")}

    def local() -> tuple[Path, dict[str, list[str]]]:
        root = example_reference.root()
        return root, _local_check_failures(spark, root, tmp_path / "local_reports")

    report, (local_root, local_checks) = drive_beside_local("tests.test_spark_connect", (), env, local, "Connect")
    assert report["connect"] and not report["jvm_in_client"]
    assert all(run["success"] for run in report["runs"].values()), report
    assert report["runs"][f"{TRAINING_SET}_job"]["materialised"] == [f"training_sets/{TRAINING_SET}"]
    for job, group in (("consumer_job", "consumer"), ("card_job", "card")):
        run = report["runs"][job]
        assert run["checks"] > 0, job  # the quality checks ran through Connect (Great Expectations on Spark)
        assert run["checks_failed"] == local_checks[group], job
    for table in TABLES:
        drop = ("write_time",) if table.startswith("features/") else ()
        connect_rows = rows(spark, str(connect_root / table), drop=drop)
        assert connect_rows == rows(spark, str(local_root / table), drop=drop), table
        assert connect_rows, table


def _local_check_failures(spark, root: Path, reports: Path) -> dict[str, list[str]]:
    """The checks that fail on the local run's partitions (the same data must fail the same checks)."""
    from datetime import datetime, timedelta, timezone

    from featurestore.offline.store import OfflineStore
    from featurestore.registry import discover
    from quality.check_results import drift_results, suite_results

    registry, store = discover("feature_groups"), OfflineStore(spark, str(root))
    day = datetime.fromisoformat(CONSUMER_DAYS[0]).replace(tzinfo=timezone.utc)
    first_hour = datetime.strptime(CARD_HOURS[0], "%Y-%m-%d-%H:%M").replace(tzinfo=timezone.utc)
    last_hour = datetime.strptime(CARD_HOURS[1], "%Y-%m-%d-%H:%M").replace(tzinfo=timezone.utc)
    windows = {"consumer": (day, day + timedelta(days=1)), "card": (first_hour, last_hour + timedelta(hours=1))}
    failed = {}
    for group, (start, end) in windows.items():
        spec = registry.group(group)
        results = [*suite_results(store, spec, start, end), *drift_results(store, spec, start, end, reports)]
        failed[group] = sorted(r.name for r in results if r.failed)  # not evaluated: no result in Dagster
    return failed


if __name__ == "__main__":
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))
    print(json.dumps(run_example_jobs_through_connect()))
