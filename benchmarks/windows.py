"""Windowed aggregations benchmark: our engine vs Spark's RANGE-frame windows and a naive range join.

    .venv/bin/python benchmarks/windows.py [--quick] [--events N] [--methods ...] [--timeout S]

Data (seeded, written once as Parquet): N raw events (default 10M, --quick 1M) over 30 days for N / 1000
keys, whole-second timestamps, amount in [0, 100) with 1% nulls; 1M entity rows (--quick 100k).
Windows: 1h, 1d, 7d, 30d x count, sum, avg, max, variance.

* snapshot: hourly snapshots (720). `ours` = snapshot_aggregates; `spark_window` = events unioned with one
  marker row per (key, hour), Window.partitionBy(key).orderBy(ts_seconds).rangeBetween(-w, -1), keeping
  markers with an event in the last 30 days: the same rows and windows [s - w, s).
* as_of: windows ts - w < event_time <= ts for every entity row. `ours` = aggregate_as_of;
  `range_join` = left join on key and ts - 30d < event_time <= ts, then groupBy(row) with conditional
  aggregates.

Each method runs in its own child process (local[2], 4g driver); results are reduced to a checksum
(row count, and per column the sum and a hash-weighted sum) that all methods of a task must match.
The section "Windowed aggregations" of BENCHMARKS.md is replaced with the results.
"""

from __future__ import annotations

import argparse
import json
import math
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
START_SECONDS = 1_767_225_600            # 2026-01-01T00:00:00Z
DAYS = 30
SIZES = {"1h": 3_600, "1d": 86_400, "7d": 7 * 86_400, "30d": 30 * 86_400}
AGGS = ("count", "sum", "avg", "max", "variance")
METHODS = {"snapshot": ("ours", "spark_window"), "as_of": ("ours", "range_join")}
SPARK_CONF = {"spark.driver.memory": "4g", "spark.sql.shuffle.partitions": "8"}


def column_names() -> list[str]:
    return [f"{agg}_amount_{size}" for size in SIZES for agg in AGGS]


# -------------------------------------------------------------------------------------------------- data

def generate(directory: Path, events: int, keys: int, entity_rows: int, seed: int = 11) -> None:
    """events.parquet (k, ts, amount) and entity.parquet (row_id, k, ts), once per shape."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    if (directory / "entity.parquet").exists():
        return
    directory.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(seed)
    timestamp = pa.timestamp("us", tz="UTC")
    seconds = START_SECONDS + rng.integers(0, DAYS * 86_400, events)
    table = pa.table({
        "k": rng.integers(0, keys, events),
        "ts": pa.array(seconds * 1_000_000, timestamp),
        "amount": pa.array(np.round(rng.random(events) * 100, 2), mask=rng.random(events) < 0.01),
    })
    pq.write_table(table, directory / "events.parquet", row_group_size=1 << 20)
    seconds = START_SECONDS + rng.integers(0, DAYS * 86_400, entity_rows)
    entity = pa.table({"row_id": np.arange(entity_rows), "k": rng.integers(0, keys, entity_rows),
                       "ts": pa.array(seconds * 1_000_000, timestamp)})
    pq.write_table(entity, directory / "entity.parquet", row_group_size=1 << 20)


# ----------------------------------------------------------------------------------------------- methods

def windows():
    from featurestore.aggregations import Window

    return [Window("amount", agg, size) for size in SIZES for agg in AGGS]


def snapshot_ours(spark, directory: Path):
    from datetime import datetime, timedelta, timezone

    from pyspark.sql import functions as F

    from featurestore.aggregations import snapshot_aggregates

    events = spark.read.parquet(str(directory / "events.parquet"))
    start = datetime.fromtimestamp(START_SECONDS, tz=timezone.utc)
    times = [start + timedelta(hours=h) for h in range(1, DAYS * 24 + 1)]
    out = snapshot_aggregates(events, keys=["k"], time_column="ts", windows=windows(), snapshot_times=times)
    return out.select("k", F.unix_seconds("event_time").alias("t"), *column_names())


def snapshot_spark_window(spark, directory: Path):
    from pyspark.sql import Window as W
    from pyspark.sql import functions as F

    events = spark.read.parquet(str(directory / "events.parquet"))
    hours = spark.range(1, DAYS * 24 + 1).select((F.lit(START_SECONDS) + F.col("id") * 3600).alias("t"))
    markers = events.select("k").distinct().crossJoin(hours).select(
        "k", "t", F.lit(None).cast("double").alias("amount"), F.lit(None).cast("int").alias("event"),
        F.lit(True).alias("marker"))
    rows = events.select("k", F.unix_seconds("ts").alias("t"), "amount", F.lit(1).alias("event"),
                         F.lit(False).alias("marker")).unionByName(markers)
    columns = []
    for size, seconds in SIZES.items():
        frame = W.partitionBy("k").orderBy("t").rangeBetween(-seconds, -1)
        for agg in AGGS:
            function = {"count": F.count, "sum": F.sum, "avg": F.avg, "max": F.max, "variance": F.var_samp}[agg]
            columns.append(function("amount").over(frame).alias(f"{agg}_amount_{size}"))
        if size == "30d":
            columns.append(F.count("event").over(frame).alias("active"))
    out = rows.select("k", "t", "marker", *columns).where("marker AND active > 0")
    return out.select("k", "t", *column_names())


def as_of_ours(spark, directory: Path):
    from pyspark.sql import functions as F

    from featurestore.aggregations import aggregate_as_of

    events = spark.read.parquet(str(directory / "events.parquet"))
    entity = spark.read.parquet(str(directory / "entity.parquet"))
    out = aggregate_as_of(entity, events, keys=["k"], entity_time_column="ts", event_time_column="ts",
                          windows=windows())
    return out.select("k", F.unix_seconds("ts").alias("t"), *column_names())


def as_of_range_join(spark, directory: Path):
    from pyspark.sql import functions as F

    events = spark.read.parquet(str(directory / "events.parquet")).select(
        F.col("k").alias("ek"), F.col("ts").alias("event_ts"), "amount")
    entity = spark.read.parquet(str(directory / "entity.parquet"))
    joined = entity.join(events, (entity.k == events.ek) & (events.event_ts <= entity.ts)
                         & (events.event_ts > entity.ts - F.expr("INTERVAL 30 DAYS")), "left")
    columns = []
    for size, seconds in SIZES.items():
        inside = F.col("event_ts") > F.col("ts") - F.expr(f"make_dt_interval(0, 0, 0, {seconds})")
        value = F.when(inside, F.col("amount"))
        for agg in AGGS:
            function = {"count": F.count, "sum": F.sum, "avg": F.avg, "max": F.max, "variance": F.var_samp}[agg]
            columns.append(function(value).alias(f"{agg}_amount_{size}"))
    out = joined.groupBy("row_id", "k", "ts").agg(*columns)
    return out.select("k", F.unix_seconds("ts").alias("t"), *column_names())


BUILDERS = {("snapshot", "ours"): snapshot_ours, ("snapshot", "spark_window"): snapshot_spark_window,
            ("as_of", "ours"): as_of_ours, ("as_of", "range_join"): as_of_range_join}


def checksum(frame) -> list[float]:
    """Row count, then per window column its sum and its sum weighted by a hash of (key, time)."""
    from pyspark.sql import functions as F

    weight = (F.pmod(F.xxhash64("k", "t"), F.lit(1000)) + 1).cast("double")
    parts = [F.count(F.lit(1))]
    for name in column_names():
        parts += [F.sum(F.col(name).cast("double")), F.sum(F.col(name).cast("double") * weight)]
    return [float(v or 0.0) for v in frame.select(*parts).first()]


def worker(task: str, method: str, directory: Path) -> dict:
    from featurestore.session import build_spark_session

    spark = build_spark_session("local[2]", f"windows-benchmark-{task}-{method}", conf=SPARK_CONF)
    spark.range(1000).count()  # start the executor before timing
    started = time.perf_counter()
    result = checksum(BUILDERS[task, method](spark, directory))
    return {"seconds": time.perf_counter() - started, "checksum": result}


# ---------------------------------------------------------------------------------------------- driver

def measure(task: str, method: str, directory: Path, timeout: float) -> dict:
    from benchmarks.common import run_measured

    command = [sys.executable, str(Path(__file__).resolve()), "--worker", task, method, "--data", str(directory)]
    result = run_measured(command, timeout)
    outcome = {"task": task, "method": method, "peak_rss": result.peak_rss_bytes, "elapsed": result.seconds}
    if result.timed_out:
        return {**outcome, "status": f"timeout > {timeout:.0f} s"}
    if result.returncode != 0:
        error = [line for line in result.stderr.splitlines() if "Error" in line or "Exception" in line][-3:]
        return {**outcome, "status": f"failed (exit {result.returncode}): {' | '.join(error)[:300]}"}
    return {**outcome, "status": "ok", **json.loads(result.stdout.strip().splitlines()[-1])}


def agree(a: list[float], b: list[float]) -> bool:
    return len(a) == len(b) and all(math.isclose(x, y, rel_tol=1e-9, abs_tol=1e-6) for x, y in zip(a, b))


def report(results: list[dict], shape: dict) -> tuple[str, bool]:
    from benchmarks.common import machine_info

    lines = [f"Machine: {machine_info()}. Spark local[2], 4g driver, 8 shuffle partitions; each method in its own "
             "process; other engineers' jobs shared the 2 cores, so timings are noisy.", "",
             f"Data: {shape['events']:,} events, {shape['keys']:,} keys, {DAYS} days, whole-second times, 1% null "
             f"amounts; snapshot = {DAYS * 24} hourly snapshot times; as-of = {shape['entity_rows']:,} entity rows. "
             "Windows 1h / 1d / 7d / 30d x count, sum, avg, max, variance (20 columns).", "",
             "| task | method | wall s (timed part) | vs ours | output rows | checksum | peak RSS GiB |",
             "|---|---|---|---|---|---|---|"]
    ok = True
    for task in METHODS:
        rows = sorted((r for r in results if r["task"] == task), key=lambda r: METHODS[task].index(r["method"]))
        ours = next((r for r in rows if r["method"] == "ours" and r["status"] == "ok"), None)
        for r in rows:
            if r["status"] != "ok":
                bound = (f"> {r['elapsed'] / ours['seconds']:.0f}x slower"
                         if ours and r["status"].startswith("timeout") else "")
                lines.append(f"| {task} | {r['method']} | {r['status']} | {bound} | | | "
                             f"{r['peak_rss'] / 2**30:.1f} |")
                continue
            same = ours is not None and agree(r["checksum"], ours["checksum"])
            ok &= same or ours is None
            ratio = f"{r['seconds'] / ours['seconds']:.1f}x slower" if ours and r is not ours else ""
            lines.append(f"| {task} | {r['method']} | {r['seconds']:.1f} | {ratio} | {int(r['checksum'][0]):,} | "
                         f"{'matches' if same else 'DIFFERS'} | {r['peak_rss'] / 2**30:.1f} |")
    return "\n".join(lines), ok


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="1M events, 100k entity rows")
    parser.add_argument("--events", type=int, help="raw events (default 10M, quick 1M)")
    parser.add_argument("--entity-rows", type=int, help="entity rows (default 1M, quick 100k)")
    parser.add_argument("--tasks", nargs="+", default=list(METHODS), choices=list(METHODS))
    parser.add_argument("--methods", nargs="+", help="rerun only these methods; keep the other saved results")
    parser.add_argument("--timeout", type=float, default=1800, help="seconds per method (then killed)")
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "benchmarks" / "windows")
    parser.add_argument("--notes", type=Path, help="markdown appended to the section (findings)")
    parser.add_argument("--no-write", action="store_true", help="print, leave BENCHMARKS.md alone")
    parser.add_argument("--render", action="store_true", help="only re-render the section from saved results")
    parser.add_argument("--worker", nargs=2, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.worker:
        print(json.dumps(worker(args.worker[0], args.worker[1], args.data)))
        return 0

    events = args.events or (1_000_000 if args.quick else 10_000_000)
    shape = {"events": events, "keys": max(events // 1000, 1),
             "entity_rows": args.entity_rows or (100_000 if args.quick else 1_000_000)}
    directory = args.data / f"e{shape['events']}_k{shape['keys']}_r{shape['entity_rows']}"
    saved = directory / "results.json"
    results = json.loads(saved.read_text()) if (args.render or args.methods) and saved.exists() else []
    if not args.render:
        generate(directory, **shape)
    for task in ([] if args.render else args.tasks):
        for method in METHODS[task]:
            if args.methods and method not in args.methods:
                continue
            outcome = measure(task, method, directory, args.timeout)
            results = [r for r in results if (r["task"], r["method"]) != (task, method)]
            print(f"{task:8} {method:12} {outcome['status']:8} {outcome.get('seconds', 0):8.1f} s", flush=True)
            results.append(outcome)
            saved.write_text(json.dumps(results, indent=1))
    body, ok = report(results, shape)
    if args.notes:
        body += "\n\n" + args.notes.read_text().strip()
    print(body)
    if not args.no_write:
        from benchmarks.common import write_section

        write_section("Windowed aggregations", body)
    if not ok:
        print("CHECKSUM MISMATCH", file=sys.stderr)
    return 0 if ok else 1


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
