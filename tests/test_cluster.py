"""The example on a real Spark standalone cluster (one master, one worker on 127.0.0.1) through the project's
Definitions, compared row for row with the same data computed locally.

The cluster run is a separate Python process (this test process already holds a local SparkContext). Run as
`python -m tests.test_cluster` that process executes the Dagster jobs; the env says where (master, root).
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.request
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

pytestmark = pytest.mark.cluster

SIZE_ENV = {"FEATURESTORE_DEMO_TX_PER_DAY": "300", "FEATURESTORE_DEMO_CARDS": "40",
            "FEATURESTORE_DEMO_CONSUMERS": "15"}
SOURCE_DAYS = ("2026-09-30", "2026-10-01")  # consumer looks back 7 days: a partial week is fine
CONSUMER_DAYS = ("2026-10-01", "2026-10-01")
CARD_HOURS = ("2026-10-01-00:00", "2026-10-01-03:00")
TRAINING_SET = "fraud_training"
START_TIMEOUT = 180  # seconds for the master and the worker to come up (slow on a busy machine)
RUN_TIMEOUT = 900


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def _spark_home() -> Path:
    import pyspark

    return Path(pyspark.__file__).resolve().parent


def _cluster_env(tmp: Path) -> dict[str, str]:
    return {**os.environ, "SPARK_HOME": str(_spark_home()), "SPARK_LOCAL_IP": "127.0.0.1",
            "SPARK_LOG_DIR": str(tmp / "logs"), "SPARK_WORKER_DIR": str(tmp / "work"),
            "PYSPARK_PYTHON": sys.executable, "SPARK_DAEMON_MEMORY": "256m"}


def _alive_workers(webui_port: int) -> int:
    try:
        with urllib.request.urlopen(f"http://127.0.0.1:{webui_port}/json/", timeout=2) as response:
            state = json.load(response)
    except OSError:
        return -1
    return int(state.get("aliveworkers", 0)) if state.get("status") == "ALIVE" else -1


def _stop(process: subprocess.Popen) -> None:
    """Kill the process group started for a daemon (the JVM and, for the worker, its executors)."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=15)
            return
        except subprocess.TimeoutExpired:
            continue


@pytest.fixture(scope="module")
def cluster(tmp_path_factory):
    """A standalone master + one worker (1 core, 1 GiB) on 127.0.0.1; torn down whatever happens."""
    tmp = tmp_path_factory.mktemp("cluster")
    env = _cluster_env(tmp)
    spark_class = str(_spark_home() / "bin" / "spark-class")
    port, webui = _free_port(), _free_port()
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
              "--cores", "1", "--memory", "1g", "--webui-port", str(_free_port()), "--work-dir", str(tmp / "work"))
        wait_for(lambda: _alive_workers(webui) >= 1, "worker")
        yield f"spark://127.0.0.1:{port}", webui
    finally:
        for process in reversed(processes):
            _stop(process)


def _partition_tags(first: str, last: str) -> dict[str, str]:
    from orchestration.dagster_internals import partition_range_tags

    return partition_range_tags(first, last)


def run_example_jobs() -> dict:
    """In this process: the example's jobs from the project's Definitions (env: master, conf, root, size)."""
    from dagster import DagsterInstance

    from orchestration.definitions import defs

    instance = DagsterInstance.ephemeral()
    quiet = {"loggers": {"console": {"config": {"log_level": "WARNING"}}}}
    runs = {}
    started = time.monotonic()
    for job, window in (("source_transactions_job", SOURCE_DAYS), ("consumer_job", CONSUMER_DAYS),
                        ("card_job", CARD_HOURS), (f"{TRAINING_SET}_job", None)):
        result = defs.resolve_job_def(job).execute_in_process(
            instance=instance, tags=_partition_tags(*window) if window else None, run_config=quiet,
            raise_on_error=False)
        materialised = sorted({e.asset_key.to_user_string() for e in result.get_asset_materialization_events()})
        runs[job] = {"success": result.success, "materialised": materialised,
                     "checks": sum(1 for e in result.all_events if e.event_type_value == "ASSET_CHECK_EVALUATION"),
                     "seconds": round(time.monotonic() - started, 1)}
    from pyspark.sql import SparkSession

    spark = SparkSession.getActiveSession()
    return {"runs": runs, "master": spark.sparkContext.master,
            "executors": spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - 1}


def _rows(spark, path: str, drop: tuple[str, ...] = ()) -> list[tuple]:
    df = spark.read.format("delta").load(path).drop(*drop)
    rows = [tuple(row) for row in df.select(*sorted(df.columns)).collect()]
    return sorted(rows, key=lambda row: tuple((v is None, 0 if v is None else v) for v in row))


def _local_run(spark, root: Path) -> None:
    """The same windows through the core API on the test's local session."""
    from featurestore.materialize import materialize_group, materialize_source
    from featurestore.registry import discover
    from featurestore.store import OfflineStore
    from featurestore.training import build_training_set

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


def test_example_on_a_standalone_cluster_matches_local(cluster, spark, tmp_path, monkeypatch):
    master, webui = cluster
    cluster_root, local_root = tmp_path / "cluster_store", tmp_path / "local_store"
    conf = {"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
            "spark.executor.memory": "512m", "spark.executor.cores": "1", "spark.cores.max": "1",
            "spark.driver.memory": "1g", "spark.sql.shuffle.partitions": "4", "spark.default.parallelism": "2"}
    env = {**_cluster_env(tmp_path), **SIZE_ENV, "FEATURESTORE_SPARK_MASTER": master,
           "FEATURESTORE_SPARK_CONF": json.dumps(conf), "FEATURESTORE_ROOT": str(cluster_root),
           "DAGSTER_HOME": str(tmp_path / "dagster_home")}
    (tmp_path / "dagster_home").mkdir()
    driver = subprocess.Popen([sys.executable, "-m", "tests.test_cluster"], env=env,
                              cwd=Path(__file__).parent.parent, stdout=subprocess.PIPE, stderr=subprocess.PIPE,
                              text=True, start_new_session=True)
    try:
        for name, value in SIZE_ENV.items():  # the local reference run, meanwhile
            monkeypatch.setenv(name, value)
        _local_run(spark, local_root)
        stdout, stderr = driver.communicate(timeout=RUN_TIMEOUT)
    finally:
        if driver.poll() is None:
            _stop(driver)
    assert driver.returncode == 0, stderr[-5000:]
    report = json.loads(stdout.strip().splitlines()[-1])
    print("cluster run:", json.dumps(report))
    assert report["master"] == master and report["executors"] >= 1
    assert all(run["success"] for run in report["runs"].values()), report
    assert report["runs"][f"{TRAINING_SET}_job"]["materialised"] == [f"training_sets/{TRAINING_SET}"]
    for table in ("features/consumer/history", "features/card/history", "features/consumer/latest",
                  "features/card/latest"):
        cluster_rows = _rows(spark, str(cluster_root / table), drop=("write_time",))
        assert cluster_rows == _rows(spark, str(local_root / table), drop=("write_time",)), table
        assert cluster_rows
    training = f"training_sets/{TRAINING_SET}"
    assert _rows(spark, str(cluster_root / training)) == _rows(spark, str(local_root / training))


if __name__ == "__main__":
    print(json.dumps(run_example_jobs()))
