"""Point-in-time join benchmark: our Spark engine vs. the SageMaker-blog method, a Feast-style range join and
DuckDB's ASOF JOIN, on seeded sparse and dense histories written as Parquet.

    .venv/bin/python benchmarks/pit_join.py [--quick] [--cases sparse dense] [--methods ours duckdb ...]

Every method runs in its own child process (Spark at its default 1g driver memory, local[2]; DuckDB with
2 threads), so peak RSS is that child's process tree (python + JVM) and a runaway method can be killed at
the timeout. Each method's result is reduced to a checksum (rows, sum of a hash of row id and features,
non-null count); all finished methods must agree. Results go to BENCHMARKS.md, section "Point-in-time join".
"""

from __future__ import annotations

import argparse
import json
import sys
import time
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
DAY_US = 86_400_000_000
HOUR_US = 3_600_000_000
START = datetime(2024, 1, 1, tzinfo=timezone.utc)
TTL = timedelta(days=14)
FEATURES = ("f1", "f2", "f3")
METHODS = ("ours", "ours_duckdb", "store_duckdb", "store_spark", "duckdb", "range_join", "blog")
CHECKSUM_HASH = ("((row_id % 65521) + 1) * ((coalesce(cast(f1 AS bigint), -1) + 1) * 1000003"
                 " + (coalesce(cast(f2 AS bigint), -1) + 1) * 1009 + coalesce(cast(f3 AS bigint), -1) + 6)"
                 " % 1000000007")


@dataclass(frozen=True)
class Case:
    """A history shape: keys x snapshots per key at a step, with presence and correction rates."""

    name: str
    keys: int
    snapshots: int
    step_us: int
    presence: float
    entity_rows: int
    corrections: float = 0.01
    deletes: float = 0.002


def cases(quick: bool) -> dict[str, Case]:
    scale = 10 if quick else 1
    return {
        "sparse": Case("sparse", 100_000 // scale, 30, DAY_US, 0.9, 1_000_000 // scale),
        "dense": Case("dense", 10_000 // scale, 30 * 24, HOUR_US, 1.0, 1_000_000 // scale),
    }


# ------------------------------------------------------------------------------------------------- data

def generate(case: Case, directory: Path, seed: int = 7) -> tuple[Path, Path]:
    """Write history.parquet (sorted by key, event_time) and entity.parquet once; return their paths."""
    import numpy as np
    import pyarrow as pa
    import pyarrow.parquet as pq

    directory.mkdir(parents=True, exist_ok=True)
    history_path, entity_path = directory / "history.parquet", directory / "entity.parquet"
    if history_path.exists() and entity_path.exists():
        return history_path, entity_path
    rng = np.random.default_rng(seed)
    start_us = int(START.timestamp()) * 1_000_000

    keys = np.repeat(np.arange(case.keys, dtype=np.int64), case.snapshots)
    event = start_us + np.tile(np.arange(case.snapshots, dtype=np.int64) * case.step_us, case.keys)
    present = rng.random(keys.size) < case.presence
    keys, event = keys[present], event[present]
    written = event + HOUR_US
    fixes = rng.random(keys.size) < case.corrections  # corrections: same key and time, written a day later
    keys = np.concatenate([keys, keys[fixes]])
    event = np.concatenate([event, event[fixes]])
    written = np.concatenate([written, written[fixes] + DAY_US])
    n = keys.size
    deleted = rng.random(n) < case.deletes
    order = np.lexsort((written, event, keys))

    def feature(dtype, null_rate: float = 0.01) -> pa.Array:
        values = rng.integers(0, 1000, n).astype(dtype)
        return pa.array(values[order], mask=(deleted | (rng.random(n) < null_rate))[order])

    timestamp = pa.timestamp("us", tz="UTC")
    history = pa.table({"key": keys[order], "event_time": pa.array(event[order], timestamp),
                        "write_time": pa.array(written[order], timestamp), "is_deleted": deleted[order],
                        "f1": feature(np.float64), "f2": feature(np.int64), "f3": feature(np.float64)})
    pq.write_table(history, history_path, row_group_size=1 << 20)

    m = case.entity_rows
    entity_keys = rng.integers(0, int(case.keys * 1.01), m)  # ~1% of keys have no history
    span = case.snapshots * case.step_us + 2 * DAY_US
    entity_ts = start_us + rng.integers(0, span, m)
    exact = rng.random(m) < 0.01  # some entity times equal an event time
    entity_ts[exact] = start_us + rng.integers(0, case.snapshots, exact.sum()) * case.step_us
    entity = pa.table({"row_id": np.arange(m, dtype=np.int64), "key": entity_keys,
                       "ts": pa.array(entity_ts, timestamp), "label": rng.integers(0, 2, m).astype(np.int32)})
    pq.write_table(entity, entity_path, row_group_size=1 << 20)
    return history_path, entity_path


# ---------------------------------------------------------------------------------------------- methods

def spark_session(shuffle_partitions: int):
    from featurestore.session import build_spark_session

    return build_spark_session("local[2]", "pit-benchmark",
                               conf={"spark.sql.shuffle.partitions": str(shuffle_partitions)})


def spark_checksum(frame) -> tuple[int, int, int]:
    from pyspark.sql import functions as F

    row = frame.select(F.count(F.lit(1)), F.sum(F.expr(CHECKSUM_HASH)), F.count("f1")).first()
    return int(row[0]), int(row[1] or 0), int(row[2])


def spark_ours(spark, history_path: Path, entity_path: Path):
    from featurestore.engines.pit import FeatureQuery, point_in_time_join

    history = spark.read.parquet(str(history_path))
    entity = spark.read.parquet(str(entity_path))
    return point_in_time_join(entity, [FeatureQuery("g", history, ["key"], list(FEATURES), TTL)])


def spark_range_join(spark, history_path: Path, entity_path: Path):
    """Feast's Spark offline store: join on key and TTL window, ROW_NUMBER per entity row, keep the first."""
    from pyspark.sql import Window
    from pyspark.sql import functions as F

    e = spark.read.parquet(str(entity_path)).alias("e")
    h = spark.read.parquet(str(history_path)).alias("h")
    condition = ((F.col("e.key") == F.col("h.key")) & (F.col("h.event_time") <= F.col("e.ts"))
                 & (F.col("h.event_time") >= F.col("e.ts") - F.expr(f"INTERVAL {TTL.days} DAYS")))
    joined = e.join(h, condition, "left")
    order = Window.partitionBy(F.col("e.row_id")).orderBy(F.col("h.event_time").desc_nulls_last(),
                                                         F.col("h.write_time").desc_nulls_last())
    first = joined.withColumn("rn", F.row_number().over(order)).where(F.col("rn") == 1)
    kept = ~F.coalesce(F.col("h.is_deleted"), F.lit(False))
    return first.select(F.col("e.row_id").alias("row_id"), *[F.when(kept, F.col(f"h.{f}")).alias(f) for f in FEATURES])


def spark_blog(spark, history_path: Path, entity_path: Path):
    """The SageMaker Feature Store blog: join on key, filter event_time <= ts, RDD reduceByKey keeping the max."""
    from pyspark.sql import functions as F
    from pyspark.sql import types as T

    entity = spark.read.parquet(str(entity_path))
    history = spark.read.parquet(str(history_path))
    joined = entity.join(history, "key").where(F.col("event_time") <= F.col("ts")).select(
        "row_id", "event_time", "write_time", "is_deleted", *FEATURES, "ts")
    newest = (joined.rdd.map(lambda r: (r[0], tuple(r[1:])))
              .reduceByKey(lambda a, b: a if (a[0], a[1]) >= (b[0], b[1]) else b)
              .map(lambda kv: (kv[0], *kv[1])))
    schema = T.StructType([T.StructField("row_id", T.LongType())] + [
        T.StructField(f.name, f.dataType) for f in joined.schema.fields[1:]])
    best = spark.createDataFrame(newest, schema)
    age = F.unix_micros(F.col("ts")) - F.unix_micros(F.col("event_time"))
    kept = ~F.col("is_deleted") & (age <= F.lit(int(TTL.total_seconds()) * 1_000_000))
    best = best.select("row_id", *[F.when(kept, F.col(f)).alias(f) for f in FEATURES])
    return entity.select("row_id").join(best, "row_id", "left")


def duckdb_checksum(history_path: Path, entity_path: Path) -> tuple[int, int, int]:
    """DuckDB ASOF LEFT JOIN on the same files, corrections resolved first, TTL and deletes after."""
    import duckdb

    ttl_us = int(TTL.total_seconds()) * 1_000_000
    visible = f"NOT coalesce(h.is_deleted, false) AND epoch_us(e.ts) - epoch_us(h.event_time) <= {ttl_us}"
    query = f"""
        WITH h AS (
            SELECT key, event_time, is_deleted, f1, f2, f3 FROM read_parquet('{history_path}')
            QUALIFY row_number() OVER (PARTITION BY key, event_time ORDER BY write_time DESC) = 1),
        joined AS (
            SELECT e.row_id, {", ".join(f"CASE WHEN {visible} THEN h.{f} END AS {f}" for f in FEATURES)}
            FROM read_parquet('{entity_path}') e ASOF LEFT JOIN h ON e.key = h.key AND e.ts >= h.event_time)
        SELECT count(*), sum({CHECKSUM_HASH}), count(f1) FROM joined"""
    connection = duckdb.connect()
    connection.execute("SET threads = 2")
    n, total, non_null = connection.execute(query).fetchone()
    connection.close()
    return int(n), int(total or 0), int(non_null)


def ours_duckdb_checksum(history_path: Path, entity_path: Path) -> tuple[int, int, int]:
    """featurestore.engines.pit_duckdb on the Parquet files; the checksum is taken over its arrow result."""
    import duckdb

    from featurestore.engines.pit import FeatureQuery
    from featurestore.engines.pit_duckdb import point_in_time_join_duckdb

    connection = duckdb.connect()
    result = point_in_time_join_duckdb(entity_path, [FeatureQuery("g", history_path, ["key"], list(FEATURES), TTL)],
                                       threads=2, connection=connection)
    connection.register("result", result)
    n, total, non_null = connection.execute(
        f"SELECT count(*), sum({CHECKSUM_HASH}), count(f1) FROM result").fetchone()
    connection.close()
    return int(n), int(total or 0), int(non_null)


def delta_store(directory: Path, history_path: Path) -> Path:
    """The history as a Delta table in a store layout (<dir>/store/features/g/history), written once."""
    root = directory / "store"
    table = root / "features" / "g" / "history"
    if not (table / "_delta_log").is_dir():
        import pyarrow.parquet as pq
        from deltalake import write_deltalake

        write_deltalake(str(table), pq.read_table(history_path))
    return root


def store_registry():
    """One group `g`: key `key` (long), f1..f3, TTL 14 days."""
    from featurestore.registry import Registry
    from featurestore.spec import Feature, FeatureGroupSpec, Key

    group = FeatureGroupSpec(name="g", description="benchmark", owner="benchmarks", keys=(Key("key", "long"),),
                             features=(Feature("f1", "double"), Feature("f2", "long"), Feature("f3", "double")),
                             transform=lambda ctx: None, sources=("events",), grain="daily", start="2024-01-01",
                             ttl=TTL)
    return Registry(sources={}, groups={"g": group}, training_sets={})


def store_duckdb_checksum(fs, entity_path: Path) -> tuple[int, int, int]:
    """FeatureStore on the duckdb engine: Delta read through delta-rs, pit_duckdb join, arrow result."""
    import pyarrow.parquet as pq

    result = fs.get_historical_features(pq.read_table(entity_path), ["g:*"], timestamp_column="ts")
    con = fs.duckdb
    con.register("result", result)
    n, total, non_null = con.execute(f"SELECT count(*), sum({CHECKSUM_HASH}), count(f1) FROM result").fetchall()[0]
    con.unregister("result")
    return int(n), int(total or 0), int(non_null)


def worker(method: str, directory: Path, repeat: int, shuffle_partitions: int) -> dict:
    """Run one method `repeat` times in this process; return seconds per run and the checksum."""
    history_path, entity_path = directory / "history.parquet", directory / "entity.parquet"
    if method in ("duckdb", "ours_duckdb"):
        def run():
            return (duckdb_checksum if method == "duckdb" else ours_duckdb_checksum)(history_path, entity_path)
    elif method == "store_duckdb":
        from featurestore import FeatureStore

        fs = FeatureStore(root=str(delta_store(directory, history_path)), engine="duckdb", registry=store_registry())
        fs.duckdb.execute("SET threads = 2").fetchall()

        def run():
            return store_duckdb_checksum(fs, entity_path)
    elif method == "store_spark":
        from featurestore import FeatureStore

        spark = spark_session(shuffle_partitions)
        fs = FeatureStore(root=str(delta_store(directory, history_path)), engine="spark", registry=store_registry(),
                          spark=spark)

        def run():
            return spark_checksum(fs.get_historical_features(spark.read.parquet(str(entity_path)), ["g:*"],
                                                             timestamp_column="ts"))
    else:
        spark = spark_session(shuffle_partitions)
        build = {"ours": spark_ours, "range_join": spark_range_join, "blog": spark_blog}[method]

        def run():
            return spark_checksum(build(spark, history_path, entity_path))
    from benchmarks.common import tree_cpu_seconds

    seconds, cpu, checksum = [], [], None
    for _ in range(repeat):
        started, cpu_started = time.perf_counter(), tree_cpu_seconds()
        checksum = run()
        seconds.append(time.perf_counter() - started)
        cpu.append(tree_cpu_seconds() - cpu_started)
    return {"seconds": seconds, "cpu": cpu, "checksum": list(checksum)}


# ------------------------------------------------------------------------------------------------ driver

def measure(method: str, directory: Path, repeat: int, timeout: float, shuffle_partitions: int) -> dict:
    from benchmarks.common import run_measured

    command = [sys.executable, str(Path(__file__).resolve()), "--worker", method, "--data", str(directory),
               "--repeat", str(repeat), "--shuffle-partitions", str(shuffle_partitions)]
    result = run_measured(command, timeout)
    outcome = {"method": method, "peak_rss": result.peak_rss_bytes, "elapsed": result.seconds,
               "process_cpu": result.cpu_seconds}
    if result.timed_out:
        return {**outcome, "status": f"timeout > {timeout:.0f} s"}
    if result.returncode != 0:
        error = [line for line in result.stderr.splitlines() if "Error" in line or "Exception" in line][-3:]
        return {**outcome, "status": f"failed (exit {result.returncode}): {' | '.join(error)[:200]}"}
    return {**outcome, "status": "ok", **json.loads(result.stdout.strip().splitlines()[-1])}


def report(results: dict[str, list[dict]], all_cases: dict[str, Case], history_rows: dict[str, int], quick: bool,
           partitions: int) -> str:
    from benchmarks.common import machine_info

    lines = [f"Machine: {machine_info()}.", "",
             f"Run: `benchmarks/pit_join.py{' --quick' if quick else ''}`; Spark local[2], default driver memory "
             f"(1g), {partitions} shuffle partitions, AQE on; DuckDB threads=2. TTL {TTL.days} days, 3 numeric "
             "features, 1% corrections, 0.2% deletes, 1% entity times equal to an event time. Wall = best of "
             "the runs in one process (first run in brackets, includes JIT/codegen warm-up), excluding "
             "process/JVM start; CPU = user+system seconds of that run, python + JVM (for a timeout: CPU of "
             "the whole killed process, JVM start included). The ratio of a timeout is elapsed time (with JVM "
             "start) over ours, so a lower bound. Peak RSS = child process tree (python + JVM). Other engineers' tests were "
             "running on the same 2 cores, so figures are noisy.", ""]
    lines += ["| case | history rows | entity rows | method | status | wall s (first run) | CPU s "
              "| ours is faster by (wall) | peak RSS GiB | checksum |", "|---|---|---|---|---|---|---|---|---|---|"]
    for name, rows in results.items():
        case = all_cases[name]
        ours = next((r for r in rows if r["method"] == "ours" and r["status"] == "ok"), None)
        reference = ours["checksum"] if ours else None
        for r in rows:
            if r["status"] == "ok":
                best = min(r["seconds"])
                timing = f"{best:.2f} ({r['seconds'][0]:.2f}) | {r['cpu'][r['seconds'].index(best)]:.1f}"
                ratio = f"{best / min(ours['seconds']):.1f}×" if ours and r is not ours else "—"
                agree = "agrees" if r["checksum"] == reference else f"MISMATCH {r['checksum']}"
            else:
                timing = f"— | > {r['process_cpu']:.0f}"
                ratio = f"> {r['elapsed'] / min(ours['seconds']):.0f}×" if ours else "—"
                agree = "—"
            lines.append(f"| {name} | {history_rows[name]:,} | {case.entity_rows:,} | {r['method']} | {r['status']} "
                         f"| {timing} | {ratio} | {r['peak_rss'] / 2**30:.2f} | {agree} |")
    return "\n".join(lines)


def targets(results: dict[str, list[dict]]) -> list[str]:
    """The team's targets, each with the figure reached (a timeout gives a lower bound)."""
    def seconds(case: str, method: str) -> tuple[float, bool] | None:
        row = next((r for r in results.get(case, []) if r["method"] == method), None)
        if row is None:
            return None
        return (min(row["seconds"]), True) if row["status"] == "ok" else (row["elapsed"], False)

    lines = ["", "Targets (wall-time ratios from the table):", ""]
    for case, mine, other, goal, text in (
            ("sparse", "ours", "blog", 25.0, "≥ 25× faster than the blog method"),
            ("dense", "ours", "range_join", 5.0, "≥ 5× faster than the range join on dense"),
            ("sparse", "ours", "duckdb", 0.25, "within 4× of DuckDB ASOF on sparse"),
            ("sparse", "store_duckdb", "duckdb", 1 / 1.5, "FeatureStore duckdb engine within 1.5× of DuckDB ASOF"),
            ("sparse", "store_spark", "duckdb", 0.25, "FeatureStore spark engine within 4× of DuckDB ASOF")):
        ours, theirs = seconds(case, mine), seconds(case, other)
        if not ours or not ours[1] or not theirs:
            lines.append(f"- {text}: not measured")
            continue
        ratio = theirs[0] / ours[0]
        bound = "" if theirs[1] else "> "
        met = ratio >= goal if theirs[1] or ratio >= goal else None
        verdict = {True: "met", False: "missed", None: "open (timeout below the goal)"}[met]
        shown = f"{bound}{ratio:.1f}× faster" if goal >= 1 else f"{1 / ratio:.1f}× DuckDB's time"
        lines.append(f"- {text}: {shown} — {verdict}")
    return lines


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--quick", action="store_true", help="a tenth of the keys and entity rows")
    parser.add_argument("--cases", nargs="+", default=["sparse", "dense"])
    parser.add_argument("--methods", nargs="+", default=list(METHODS), choices=METHODS)
    parser.add_argument("--timeout", type=float, default=None, help="seconds per method (default 420, quick 120)")
    parser.add_argument("--repeat", type=int, default=2, help="runs per fast method")
    parser.add_argument("--shuffle-partitions", type=int, default=8)
    parser.add_argument("--data", type=Path, default=ROOT / "data" / "benchmarks" / "pit")
    parser.add_argument("--no-write", action="store_true", help="print the table, leave BENCHMARKS.md alone")
    parser.add_argument("--render", action="store_true", help="re-render BENCHMARKS.md from the saved results")
    parser.add_argument("--notes", type=Path, help="markdown file appended to the section (findings)")
    parser.add_argument("--worker", choices=METHODS, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)

    if args.worker:
        print(json.dumps(worker(args.worker, args.data, args.repeat, args.shuffle_partitions)))
        return 0
    import pyarrow.parquet as pq

    all_cases = cases(args.quick)
    saved = args.data / f"results{'-quick' if args.quick else ''}.json"
    if args.render:
        state = json.loads(saved.read_text())
        return finish(state["results"], all_cases, state["history_rows"], args, state["partitions"])
    timeout = args.timeout or (120 if args.quick else 420)
    results: dict[str, list[dict]] = {}
    history_rows: dict[str, int] = {}
    for name in args.cases:
        case = all_cases[name]
        directory = args.data / f"{name}{'-quick' if args.quick else ''}"
        history_path, _ = generate(case, directory)
        history_rows[name] = pq.ParquetFile(history_path).metadata.num_rows
        results[name] = []
        for method in args.methods:
            slow = method in ("blog", "range_join")
            outcome = measure(method, directory, 1 if slow else args.repeat, timeout, args.shuffle_partitions)
            print(f"{name:6} {method:10} {outcome['status']:10} {outcome.get('seconds', '')} "
                  f"{outcome.get('checksum', '')} peak {outcome['peak_rss'] / 2**30:.2f} GiB", flush=True)
            results[name].append(outcome)
            saved.write_text(json.dumps({"results": results, "history_rows": history_rows,
                                         "partitions": args.shuffle_partitions}, indent=1))
    return finish(results, all_cases, history_rows, args, args.shuffle_partitions)


def finish(results: dict[str, list[dict]], all_cases: dict[str, Case], history_rows: dict[str, int],
           args: argparse.Namespace, partitions: int) -> int:
    """Print the table, write the BENCHMARKS.md section, fail on a checksum mismatch."""
    from benchmarks.common import write_section

    table = report(results, all_cases, history_rows, args.quick, partitions)
    table += "\n" + "\n".join(targets(results))
    if args.notes:
        table += "\n\n" + args.notes.read_text().strip()
    print(table)
    mismatched = [(n, r["method"]) for n, rows in results.items() for r in rows
                  if r["status"] == "ok" and r["checksum"] != next(
                      (o["checksum"] for o in rows if o["status"] == "ok"), None)]
    if not args.no_write:
        write_section("Point-in-time join", table)
    if mismatched:
        print(f"CHECKSUM MISMATCH: {mismatched}", file=sys.stderr)
        return 1
    return 0


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
