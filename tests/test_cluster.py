"""The example on a real Spark standalone cluster (one master, one worker on 127.0.0.1) through the project's
Definitions, compared row for row with the same data computed locally.

The cluster run is a separate Python process (this test process already holds a local SparkContext). Run as
`python -m tests.test_cluster` that process executes the Dagster jobs; the env says where (master, root).
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

import pytest

from tests.example_runs import (TABLES, TRAINING_SET, drive_beside_local, free_port, rows,
                                run_example_jobs, spark_home, stop_process_group)

pytestmark = pytest.mark.cluster

START_TIMEOUT = 180  # seconds for the master and the worker to come up (slow on a busy machine)


def _cluster_env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "SPARK_HOME": str(spark_home()), "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_LOG_DIR": str(tmp / "logs"), "SPARK_WORKER_DIR": str(tmp / "work"),
            "PYSPARK_PYTHON": sys.executable, "SPARK_DAEMON_MEMORY": "256m"}


def _alive_workers(webui_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{webui_port}/json/", timeout=2) as response:
            state = json.load(response)
    except OSError:
        return -1
    return int(state.get("aliveworkers", 0)) if state.get("status") == "ALIVE" else -1


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A standalone master + one worker (1 core, 1 GiB) on 127.0.0.1; torn down whatever happens."""
    tmp = tmp_path_factory.mktemp("cluster")
    env = _cluster_env(tmp)
    spark_class = str(spark_home() / "bin" / "spark-class")
    port, webui = free_port(), free_port()
    processes: list[subprocess.Popen] = []

    def start(name: str, *args: str) -> None:
        log = open(tmp / f"{name}.log", "wb")  # noqa: SIM115 - closed with the process
        processes.append(subprocess.Popen([spark_class, *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                                          stdin=subprocess.DEVNULL, start_new_session=True))

    def wait_for(condition, what: str) -> None:
        deadline = time.monotonic() + START_TIMEOUT
        while not condition():
            if any(p.poll() is not None for p in processes) or time.monotonic() > deadline:
                logs = "\n".join((tmp / f"{n}.log").read_text(errors="replace")[-3000:]
                                 for n in ("master", "worker") if (tmp / f"{n}.log").exists())
                pytest.fail(f"Spark standalone {what} did not come up:\n{logs}")
            time.sleep(0.5)

    try:
        start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
              "--webui-port", str(webui))
        wait_for(lambda: _alive_workers(webui) >= 0, "master")
        start("worker", "org.apache.spark.deploy.worker.Worker", f"spark://127.0.0.1:{port}", "--host", "127.0.0.1",
              "--cores", "1", "--memory", "1g", "--webui-port", str(free_port()), "--work-dir", str(tmp / "work"))
        wait_for(lambda: _alive_workers(webui) >= 1, "worker")
        yield f"spark://127.0.0.1:{port}", webui
    finally:
        for process in reversed(processes):
            stop_process_group(process)


def test_example_on_a_standalone_cluster_matches_local(cluster, spark, tmp_path, example_reference):
    master, webui = cluster
    cluster_root = tmp_path / "cluster_store"
    conf = {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
            "spark.executor.memory": "512m", "spark.executor.cores": "1", "spark.cores.max": "1",
            "spark.driver.memory": "1g", "spark.sql.shuffle.partitions": "4", "spark.default.parallelism": "2"}
    env = {**_cluster_env(tmp_path), "FEATURESTORE_SPARK_MASTER": master, "FEATURESTORE_SPARK_CONF": json.dumps(conf),
           "FEATURESTORE_ROOT": str(cluster_root), "DAGSTER_HOME": str(tmp_path / "dagster_home")}
    report, local_root = drive_beside_local("tests.test_cluster", (), env, example_reference.root, "cluster")
    assert report["master"] == master and report["executors"] >= 1
    assert all(run["success"] for run in report["runs"].values()), report
    assert report["runs"][f"{TRAINING_SET}_job"]["materialised"] == [f"training_sets/{TRAINING_SET}"]
    for table in TABLES:
        drop = ("write_time",) if table.startswith("features/") else ()
        cluster_rows = rows(spark, str(cluster_root / table), drop=drop)
        assert cluster_rows == rows(spark, str(local_root / table), drop=drop), table
        assert cluster_rows, table


def run_on_cluster() -> dict:
    """In the driver process: the example's jobs, and where they ran."""
    from pyspark.sql import SparkSession

    report = run_example_jobs()
    spark = SparkSession.getActiveSession()
    return {**report, "master": spark.sparkContext.master,
            "executors": spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1}


if __name__ == "__main__":
    print(json.dumps(run_on_cluster()))
