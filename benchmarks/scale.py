"""Scale curve: the point-in-time join and the as-of windowed aggregations at 1x, 10x, 30x the benchmark sizes.

    .venv/bin/python benchmarks/scale.py [--factors 1 10 30] [--base full|quick] [--tasks pit windows]
                                         [--cluster-workers 1 2] [--timeout S] [--no-write]

1x is the size of benchmarks/pit_join.py (sparse case: 100k keys x 30 daily snapshots, 1M entity rows) and of
benchmarks/windows.py (10M events over 10k keys, 1M entity rows, 20 window columns); `--base quick` makes 1x their
--quick sizes. A factor multiplies history rows (keys) and entity rows alike.

Every run is a child process (Spark's default 1g driver memory, 8 shuffle partitions) whose process tree (python +
JVM) is sampled for peak RSS: on `local[2]`, and with `--cluster-workers` on a Spark standalone cluster started here
from pyspark's own classes with 1 and with 2 workers (1 core, 1g executor each), where the executors' CPU seconds
per worker show how the work spreads (the machine has 2 cores: this shows distribution, not a speed-up).
The section "Scale curve" of BENCHMARKS.md is replaced with the table (machine, date, load average).
"""

from __future__ import annotations

import argparse
import json
import os
import signal
import subprocess
import sys
import threading
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

ROOT = Path(__file__).resolve().parent.parent
SHUFFLE_PARTITIONS = 8
TASKS = ("pit", "windows")


def shapes(factor: int, base: str) -> dict[str, dict]:
    from benchmarks.pit_join import cases

    sparse = cases(base == "quick")["sparse"]
    events = 10_000_000 // (10 if base == "quick" else 1)
    entity = 1_000_000 // (10 if base == "quick" else 1)
    return {"pit": {"keys": sparse.keys * factor, "entity_rows": sparse.entity_rows * factor},
            "windows": {"events": events * factor, "keys": events * factor // 1000, "entity_rows": entity * factor}}


def prepare(task: str, shape: dict, data: Path) -> Path:
    """Generate the task's seeded Parquet data once per shape; return its folder."""
    if task == "pit":
        from dataclasses import replace

        from benchmarks.pit_join import cases, generate

        case = replace(cases(False)["sparse"], keys=shape["keys"], entity_rows=shape["entity_rows"])
        directory = data / f"pit_k{case.keys}_r{case.entity_rows}"
        if not (directory / "entity.parquet").exists():
            generate(case, directory)
        return directory
    from benchmarks.windows import generate

    directory = data / f"windows_e{shape['events']}_k{shape['keys']}_r{shape['entity_rows']}"
    if not (directory / "entity.parquet").exists():
        directory.mkdir(parents=True, exist_ok=True)
        generate(directory, shape["events"], shape["keys"], shape["entity_rows"])
    return directory


def history_rows(task: str, directory: Path) -> int:
    import pyarrow.parquet as pq

    name = "history.parquet" if task == "pit" else "events.parquet"
    return sum(pq.ParquetFile(f).metadata.num_rows for f in _parquet_files(directory / name))


def _parquet_files(path: Path) -> list[Path]:
    return sorted(path.rglob("*.parquet")) if path.is_dir() else [path]


# ---------------------------------------------------------------------------------------------- worker

def worker(task: str, directory: Path, master: str) -> dict:
    """In a child process: one session on `master` (default 1g driver), the timed job reduced to a checksum."""
    from featurestore.session import build_spark_session

    conf = {"spark.sql.shuffle.partitions": str(SHUFFLE_PARTITIONS)}
    if master.startswith("spark://"):
        conf.update({"spark.driver.host": "127.0.0.1", "spark.driver.bindAddress": "127.0.0.1",
                     "spark.executor.memory": "1g", "spark.executor.cores": "1"})
    spark = build_spark_session(master, f"scale-{task}", conf=conf)
    spark.range(1000).count()  # executors up before timing
    started = time.perf_counter()
    if task == "pit":
        from benchmarks.pit_join import spark_checksum, spark_ours

        checksum = list(spark_checksum(spark_ours(spark, directory / "history.parquet", directory / "entity.parquet")))
    else:
        from benchmarks.windows import as_of_ours, checksum as windows_checksum

        checksum = windows_checksum(as_of_ours(spark, directory))
    seconds = time.perf_counter() - started
    executors = spark.sparkContext._jsc.sc().getExecutorMemoryStatus().size() - (0 if master.startswith("local")
                                                                                 else 1)
    return {"seconds": seconds, "checksum": checksum, "executors": executors}


# ---------------------------------------------------------------------------------------------- cluster

class Cluster:
    """A standalone master and N workers (1 core, 1g each) on 127.0.0.1, started from pyspark's classes."""

    def __init__(self, workers: int, directory: Path):
        from tests.example_runs import free_port, spark_home
        from tests.test_cluster import _alive_workers, _cluster_env

        self.directory = directory
        directory.mkdir(parents=True, exist_ok=True)
        env = _cluster_env(directory)
        spark_class = str(spark_home() / "bin" / "spark-class")
        port, self.webui = free_port(), free_port()
        self.master = f"spark://127.0.0.1:{port}"
        self.processes: list[subprocess.Popen] = []
        self.worker_processes: list[subprocess.Popen] = []

        def start(name: str, *args: str) -> subprocess.Popen:
            log = open(directory / f"{name}.log", "wb")  # noqa: SIM115 - lives as long as the daemon
            process = subprocess.Popen([spark_class, *args], env=env, stdout=log, stderr=subprocess.STDOUT,
                                       stdin=subprocess.DEVNULL, start_new_session=True)
            self.processes.append(process)
            return process

        def wait(condition) -> None:
            deadline = time.monotonic() + 180
            while not condition():
                if time.monotonic() > deadline:
                    self.stop()
                    raise RuntimeError(f"standalone cluster did not come up (logs in {directory})")
                time.sleep(0.5)

        start("master", "org.apache.spark.deploy.master.Master", "--host", "127.0.0.1", "--port", str(port),
              "--webui-port", str(self.webui))
        wait(lambda: _alive_workers(self.webui) >= 0)
        for index in range(workers):
            self.worker_processes.append(start(
                f"worker{index}", "org.apache.spark.deploy.worker.Worker", self.master, "--host", "127.0.0.1",
                "--cores", "1", "--memory", "1g", "--webui-port", str(free_port()),
                "--work-dir", str(directory / f"work{index}")))
        wait(lambda: _alive_workers(self.webui) >= workers)

    def executor_cpu_seconds(self) -> list[float]:
        """CPU seconds of each worker's executor JVMs (and their Python workers) so far."""
        import psutil

        from benchmarks.common import tree_cpu_seconds

        totals = []
        for process in self.worker_processes:
            try:
                children = psutil.Process(process.pid).children(recursive=False)
                totals.append(sum(tree_cpu_seconds(child) for child in children))
            except psutil.NoSuchProcess:
                totals.append(0.0)
        return totals

    def stop(self) -> None:
        for process in reversed(self.processes):
            for sig in (signal.SIGTERM, signal.SIGKILL):
                try:
                    os.killpg(process.pid, sig)
                    process.wait(timeout=15)
                    break
                except ProcessLookupError:
                    break
                except subprocess.TimeoutExpired:
                    continue


# ---------------------------------------------------------------------------------------------- driver

def measure(task: str, directory: Path, master: str, timeout: float, cluster: Cluster | None = None) -> dict:
    from benchmarks.common import run_measured

    executor_cpu: list[list[float]] = []
    stop = threading.Event()

    def sample() -> None:  # executors exit with the application: keep the last reading per worker
        while not stop.is_set() and cluster is not None:
            executor_cpu.append(cluster.executor_cpu_seconds())
            stop.wait(0.5)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    command = [sys.executable, str(Path(__file__).resolve()), "--worker", task, str(directory), master]
    result = run_measured(command, timeout, env={**os.environ, "PYSPARK_PYTHON": sys.executable})
    stop.set()
    sampler.join()
    outcome = {"task": task, "master": master, "peak_rss": result.peak_rss_bytes, "elapsed": result.seconds}
    if cluster is not None and executor_cpu:
        outcome["executor_cpu"] = [max(sample[i] for sample in executor_cpu) for i in range(len(executor_cpu[0]))]
    if result.timed_out:
        return {**outcome, "status": f"timeout > {timeout:.0f} s"}
    if result.returncode != 0:
        error = [line for line in result.stderr.splitlines() if "Error" in line or "Exception" in line][-3:]
        return {**outcome, "status": f"failed (exit {result.returncode}): {' | '.join(error)[:300]}"}
    return {**outcome, "status": "ok", **json.loads(result.stdout.strip().splitlines()[-1])}


def render(results: list[dict], base: str, load: tuple[float, float, float]) -> str:
    from benchmarks.common import machine_info

    lines = [f"Machine: {machine_info()}; load average at start {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}. "
             "`load`: the 1-minute load average just before each run (it lags: right after a run it still holds "
             "that run's own load; rows kept from an earlier run with `--keep` included). Each run is its own process with "
             "Spark's default 1g driver memory and 8 shuffle partitions; peak RSS is the driver's process tree "
             "(python + JVM). `benchmarks/scale.py`, 1x = "
             + ("the --quick sizes of pit_join.py / windows.py." if base == "quick" else
                "the sizes of pit_join.py (sparse) / windows.py (as-of)."), "",
             "PIT = `point_in_time_join` (TTL 14 d, 3 features); windows = `aggregate_as_of` (1h/1d/7d/30d x "
             "count/sum/avg/max/variance). Cluster rows: standalone master + N workers (1 core, 1g executor "
             "each) on this machine; `executor CPU s` per worker shows the work spreading, not a speed-up.", "",
             "| task | scale | master | history rows | entity rows | status | wall s | s per M rows | peak RSS GiB "
             "| executor CPU s per worker | checksum | load |", "|---|---|---|---|---|---|---|---|---|---|---|---|"]
    reference: dict[tuple, list] = {}
    for r in results:
        rows = r["history_rows"] + r["entity_rows"]
        ok = r["status"] == "ok"
        key = (r["task"], r["factor"])
        agrees = ""
        if ok:
            reference.setdefault(key, r["checksum"])
            agrees = "agrees" if _close(reference[key], r["checksum"]) else "DIFFERS"
        lines.append(
            f"| {r['task']} | {r['factor']}x | {r['label']} | {r['history_rows']:,} | {r['entity_rows']:,} "
            f"| {r['status']} | {r['seconds']:.1f} | {r['seconds'] / rows * 1e6:.2f} | " if ok else
            f"| {r['task']} | {r['factor']}x | {r['label']} | {r['history_rows']:,} | {r['entity_rows']:,} "
            f"| {r['status']} | — | — | ")
        lines[-1] += (f"{r['peak_rss'] / 2**30:.2f} | "
                      + (" / ".join(f"{c:.0f}" for c in r.get("executor_cpu", [])) or "—")
                      + f" | {agrees} | {r.get('load', load[0]):.2f} |")
    return "\n".join(lines)


def _close(a: list, b: list) -> bool:
    import math

    return len(a) == len(b) and all(math.isclose(float(x), float(y), rel_tol=1e-9, abs_tol=1e-6)
                                    for x, y in zip(a, b))


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--factors", nargs="+", type=int, default=[1, 10, 30])
    parser.add_argument("--base", choices=("full", "quick"), default="full")
    parser.add_argument("--tasks", nargs="+", choices=TASKS, default=list(TASKS))
    parser.add_argument("--cluster-workers", nargs="*", type=int, default=[1, 2],
                        help="also run on a standalone cluster with these worker counts (none: skip)")
    parser.add_argument("--cluster-factors", nargs="*", type=int, help="factors run on the cluster (default: the "
                        "smallest)")
    parser.add_argument("--timeout", type=float, default=3600)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "benchmarks" / "scale")
    parser.add_argument("--no-write", action="store_true")
    parser.add_argument("--keep", action="store_true", help="keep the rows of earlier runs (data/.../results.json) "
                        "that this run does not redo: e.g. run 30x alone after 1x and 10x")
    parser.add_argument("--worker", nargs=3, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        task, directory, master = args.worker
        print(json.dumps(worker(task, Path(directory), master)))
        return 0
    load = os.getloadavg()
    saved = args.data / "results.json"
    earlier = json.loads(saved.read_text()) if args.keep and saved.exists() else []
    results = []
    cluster_factors = args.cluster_factors if args.cluster_factors is not None else [min(args.factors)]
    for factor in args.factors:
        for task in args.tasks:
            shape = shapes(factor, args.base)[task]
            directory = prepare(task, shape, args.data)
            base = {"task": task, "factor": factor, "history_rows": history_rows(task, directory),
                    "entity_rows": shape["entity_rows"]}
            runs = [("local[2]", "local[2]", None)]
            if factor in cluster_factors:
                runs += [(None, f"standalone, {n} worker{'s' if n > 1 else ''}", n) for n in args.cluster_workers]
            for master, label, workers in runs:
                cluster = Cluster(workers, args.data / "cluster" / f"{task}_{factor}_{workers}") if workers else None
                before = os.getloadavg()[0]
                try:
                    result = measure(task, directory, cluster.master if cluster else master, args.timeout, cluster)
                finally:
                    if cluster is not None:
                        cluster.stop()
                results.append({**base, **result, "label": label, "load": before})
                print(json.dumps(results[-1]), flush=True)
    redone = {(r["task"], r["factor"], r["label"]) for r in results}
    results = sorted([r for r in earlier if (r["task"], r["factor"], r["label"]) not in redone] + results,
                     key=lambda r: (TASKS.index(r["task"]), r["factor"]))
    saved.parent.mkdir(parents=True, exist_ok=True)
    saved.write_text(json.dumps(results, indent=1))
    body = render(results, args.base, load)
    print(body)
    if not args.no_write:
        from benchmarks.common import write_section

        write_section("Scale curve", body)
    return 0


if __name__ == "__main__":
    sys.exit(main())
