"""A year of hourly writes into one group (8,760 commits), with and without nightly maintenance.

    .venv/bin/python benchmarks/year.py            # the full year; rewrites "A year of hourly writes" in BENCHMARKS.md
    .venv/bin/python benchmarks/year.py --quick    # smoke run (60 hours, small data), prints only

Per hour `--rows-per-commit` keys (rotating through `--keys`) get one row, event_time = the hour.

Faithful shortcut (so that the year takes minutes, not hours). The store creates the group's tables with its
first write (`write_features`: schema, `event_date` partitioning, change data feed, protocol and writer
features are the store's own). The other hourly commits are written by `benchmarks/year_log.py` straight to
the history's Delta log, as the store's insert-only MERGE of an hour of new rows leaves it: one small
Parquet file in the hour's day partition (Spark-style: snappy, INT96 timestamps, Spark's `stats`) and one
commit carrying the store's commit metadata, a checkpoint every 10 versions, and Delta's 30-day log
retention applied in simulated time. (8,760 store writes take about 5 hours per arm at about 2 s each; delta-rs's
`write_deltalake` costs O(live files) per commit, 0.3 s at 3,500 files: about an hour per arm.) What the
shortcut skips is the store's per-write work (checks, classification, MERGE, latest-table sync), which the
timed store writes measure; the table it leaves is checked at every checkpoint by reading it with the store
against an oracle (row count, every row of sample keys, 1,000 looked-up values).

Nightly maintenance of the history (maintained arm, every `--maintain-every` hours) is simulated by the same
writer with the real `maintain_table`'s outcome and log: OPTIMIZE ZORDER BY the key re-Z-orders every
partition, so the partitions with new files are read, sorted by the key and written as one file, and every
other partition (already one Z-ordered file, which a re-Z-order reproduces) is linked under a new name; one
OPTIMIZE commit removes and adds every live file; checkpoint; VACUUM START / END with 0 retention (simulated
days pass in seconds and nothing is pinned) deletes the removed files. Tombstones are dated so that those of
the last 7 simulated days are in the checkpoints at each measurement (`delta.deletedFileRetentionDuration`).
The real `maintain_table` is timed once per checkpoint. The latest-values table is not written hourly: before each checkpoint's
measurements it is given, in one commit, the files the store's hourly syncs would have left (each MERGE
rewrites the one file holding the hour's keys: one file per key window; after a nightly compaction one file,
which every later MERGE rewrites whole), recording the history version it is in step with.

At each checkpoint (100, 1,000, 8,760 hours), with the real store code: `--writes` hourly `write_features`
(median, default 5), files and log size of the history (`maintenance.table_stats`), a Spark point-in-time join
(`training.get_historical_features`) of `--entity-rows` entity rows with timestamps over all hours so far
(written to Spark's noop sink), a lookup of 1,000 keys (`FeatureStore.get_online_features`, delta-rs; cold:
a new FeatureStore, warm: median of 3); maintained arm: then the real `maintain_table` of history and latest
(timed) and the PIT join again on the freshly compacted table (the reference of the 1.2x goal); at the last
checkpoint both PIT joins of the maintained arm are the best of `--final-pit-runs` (4: the first join after a
table change is some 6 s slower, and single runs vary by about 30%). Each arm runs in its
own process (Python and JVM), one after the other, so that neither carries the other's heap, caches or garbage
collection; a write's time outside every instrumented step is reported with the driver's Python garbage
collection inside it (`gc.callbacks`).
"""

from __future__ import annotations

import argparse
import json
import os
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from benchmarks.year_log import HOUR, START, WRITE_DELAY, HourlyLog, Shape, key_name, key_names, rebuild_latest  # noqa: E402

HEADING = "A year of hourly writes"
QUICK = {"checkpoints": [12, 60], "rows_per_commit": 100, "keys": 2000, "entity_rows": 5000}


def group_spec():
    from featurestore.spec import Feature, FeatureGroupSpec, Key

    return FeatureGroupSpec(name="year", description="a year of hourly rows", owner="bench",
                            keys=(Key("entity_id"),), features=(Feature("f1", "double"), Feature("f2", "long")),
                            transform=lambda ctx: None, sources=("none",), grain="hourly", start="2025-01-01",
                            ttl="30d")


def hour_rows(spark, hour: int, rows: int, keys: int):
    """The rows of hour `hour` as a store write gets them (the same rows as `year_log.hour_table`)."""
    from pyspark.sql import functions as F

    first = (hour * rows) % keys
    return (spark.range(rows).select(
        F.concat(F.lit("k"), ((F.col("id") + first) % keys).cast("string")).alias("entity_id"),
        F.lit(START + hour * HOUR).cast("timestamp").alias("event_time"),
        (F.col("id") * 0.5 + hour).alias("f1"), (F.col("id") + hour).cast("long").alias("f2")))


def store_write(store, spec, args, hour: int) -> float:
    began = time.perf_counter()
    store.write_features(spec, hour_rows(store.spark, hour, args.rows_per_commit, args.keys),
                         now=START + hour * HOUR + WRITE_DELAY)
    return time.perf_counter() - began


def entity_rows(spark, args, hours: int):
    """`--entity-rows` (entity_id, ts) rows: keys spread over all keys, ts uniform over the first `hours` hours."""
    from pyspark.sql import functions as F

    span_us = int(hours * HOUR.total_seconds() * 1e6)
    rows = spark.range(args.entity_rows).select(
        F.concat(F.lit("k"), F.pmod(F.hash("id"), F.lit(args.keys)).cast("string")).alias("entity_id"),
        F.timestamp_micros(F.lit(int(START.timestamp() * 1e6)) + F.pmod(F.hash(F.col("id") * 7), F.lit(span_us)))
        .alias("ts")).cache()
    rows.count()
    return rows


def pit_time(store, spec, entities) -> float:
    from featurestore.training.sets import get_historical_features

    began = time.perf_counter()
    get_historical_features(store, entities, ["year:*"], {"year": spec}).write.format("noop").mode("overwrite").save()
    return time.perf_counter() - began


def verify_history(store, shape: Shape, hours: int) -> None:
    """Oracle check of the history as the store reads it: row count, and every row of two sample keys."""
    from pyspark.sql import functions as F

    from featurestore.times import to_utc

    history = store.read_history("year")
    count = history.count()
    if count != hours * shape.rows:
        raise AssertionError(f"history has {count} rows, expected {hours * shape.rows}")
    for key in (7, shape.keys - 1):
        got = sorted((to_utc(r[0], "t"), r[1], r[2]) for r in history.filter(F.col("entity_id") == key_name(key))
                     .select("event_time", "f1", "f2").collect())
        if got != shape.expected(key, hours):
            raise AssertionError(f"history rows of {key_name(key)} differ from the oracle")


def lookup_times(root: Path, spec, spark, shape: Shape, hours: int) -> tuple[float, float]:
    """(cold, warm median of 3) seconds of FeatureStore.get_online_features for 1,000 keys; values checked."""
    from featurestore.feature_store import FeatureStore
    from featurestore.registry import Registry

    indexes = list(range(0, shape.keys, max(1, shape.keys // 1000)))[:1000]
    keys = [{"entity_id": key_name(i)} for i in indexes]
    fs = FeatureStore(root=str(root), engine="duckdb", spark=spark,
                      registry=Registry(sources={}, groups={"year": spec}, training_sets={}))
    times = []
    for _ in range(4):
        began = time.perf_counter()
        found = fs.get_online_features("year", keys)
        times.append(time.perf_counter() - began)
    for index, row in zip(indexes, found):
        window, offset = divmod(index, shape.rows)
        hour = shape.last_hour(window, hours)
        expected = (None, None) if hour is None else (offset * 0.5 + hour, offset + hour)
        if (row["f1"], row["f2"]) != expected:
            raise AssertionError(f"lookup of {key_name(index)} gave {row}, expected hour {hour}")
    return times[0], statistics.median(times[1:])


def maintain(store, spec, history: HourlyLog, latest: HourlyLog, hour: int) -> dict:
    """The real nightly maintenance (`maintain_table` of history and latest), timed."""
    from featurestore.offline.maintenance import MaintenancePolicy, maintain_table
    from featurestore.storage import delta_compat

    policy = MaintenancePolicy(retention=timedelta(0))
    out = {}
    for kind, log in (("history", history), ("latest", latest)):
        result = maintain_table(store.spark, str(log.path), name=f"feature group 'year' {kind}", keys=["entity_id"],
                                policy=policy)
        log.sync(hour)
        out[f"maintain_{kind}_s"] = result.duration_s
        out[f"maintain_{kind}_steps"] = result.steps
        if kind == "history":
            optimize = [r for r in delta_compat.history(store.spark, str(log.path), 10)
                        .select("operation", "operationMetrics").collect() if r[0] == "OPTIMIZE"]
            out["rewritten_files"] = int((optimize[0][1] or {}).get("numRemovedFiles", 0)) if optimize else 0
    return out


def stored_writes(args) -> int:
    """Store writes at each checkpoint: the first (cold log cache), then the timed ones."""
    return 1 + args.writes


def measure(store, spec, args, shape: Shape, names, history: HourlyLog, latest: HourlyLog, hours: int,
            maintained: bool) -> dict:
    """Everything reported at one checkpoint (`hours` hours written); the timed writes add hours."""
    from featurestore.offline.maintenance import table_stats

    spark = store.spark
    compacted = maintained and hours >= args.maintain_every
    rebuild_latest(latest, shape, hours, names, compacted, history.version)
    spark._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()  # the log was written outside this JVM
    point = {"commits": hours, "maintained": maintained}
    from benchmarks.small_writes import measure as timed_writes

    point["write_cold_s"] = store_write(store, spec, args, hours)  # Spark's log cache learns the simulated commits
    point["write_s"], point["write_steps"], point["write_jobs"] = timed_writes(
        spark, lambda i: store_write(store, spec, args, hours + 1 + i), args.writes)
    hours += stored_writes(args)
    history.sync(hours)
    latest.sync(hours)
    verify_history(store, shape, hours)
    stats, latest_stats = table_stats(spark, str(history.path)), table_stats(spark, str(latest.path))
    point.update(live_files=stats.live_files, stored_files=stats.stored_files, log_files=stats.log_files,
                 log_mb=stats.log_bytes / 2**20, latest_files=latest_stats.live_files)
    entities = entity_rows(spark, args, hours)
    repeats = args.final_pit_runs if maintained and hours - stored_writes(args) == max(args.checkpoints) else 1
    point["pit_runs"] = [pit_time(store, spec, entities) for _ in range(repeats)]
    point["pit_s"] = min(point["pit_runs"])
    point["lookup_cold_s"], point["lookup_warm_s"] = lookup_times(Path(store.root), spec, spark, shape, hours)
    if maintained:
        point.update(maintain(store, spec, history, latest, hours))
        point["fresh_live_files"] = table_stats(spark, str(history.path)).live_files
        point["pit_fresh_runs"] = [pit_time(store, spec, entities) for _ in range(repeats)]
        point["pit_fresh_s"] = min(point["pit_fresh_runs"])
    entities.unpersist()
    print(point, flush=True)
    return point


def run(spark, root: Path, args, maintained: bool) -> tuple[list[dict], dict]:
    """One arm: the store's first write, then the simulated hours, measuring at each checkpoint."""
    from featurestore.offline.store import OfflineStore, WritePolicy

    spec, shape = group_spec(), Shape(args.rows_per_commit, args.keys)
    names = key_names(shape)
    store = OfflineStore(spark, str(root), policy=WritePolicy(future_tolerance=None))
    first_write = store_write(store, spec, args, 0)
    history, latest = HourlyLog(Path(store.history_path("year"))), HourlyLog(Path(store.latest_path("year")))
    points, appends, nights = [], [], []
    hours, last_night, touched = 1, 0, {START.date()}
    for checkpoint in args.checkpoints:
        history.horizon = checkpoint
        while hours < checkpoint:
            began = time.perf_counter()
            history.append_hour(shape, hours, names)
            appends.append(time.perf_counter() - began)
            touched.add((START + hours * HOUR).date())
            hours += 1
            if maintained and hours // args.maintain_every > last_night // args.maintain_every:
                began = time.perf_counter()
                history.nightly(touched, hours)
                nights.append(time.perf_counter() - began)
                last_night, touched = hours, set()
        point = measure(store, spec, args, shape, names, history, latest, hours, maintained)
        touched |= {(START + (hours + i) * HOUR).date() for i in range(stored_writes(args))}
        if maintained:
            last_night, touched = hours + stored_writes(args), set()
        hours += stored_writes(args)
        points.append(point)
    sim = {"first_write_s": first_write, "append_ms": 1000 * statistics.median(appends) if appends else 0.0,
           "append_total_s": sum(appends), "nightly_s": statistics.median(nights) if nights else None,
           "nightly_total_s": sum(nights)}
    print(("maintained" if maintained else "plain"), sim, flush=True)
    return points, sim


def uptime() -> str:
    try:
        return subprocess.run(["uptime"], capture_output=True, text=True, check=True).stdout.strip()
    except (OSError, subprocess.CalledProcessError):
        return "load average %.2f, %.2f, %.2f" % os.getloadavg()


def render(points: list[dict], sims: dict, args, seconds: float, load_start: str, load_end: str) -> str:
    from benchmarks.common import machine_info
    from benchmarks.small_writes import COMMIT_STEP, GC_STEP, OTHER_STEP

    final = max(args.checkpoints)
    lines = [
        f"Script: `benchmarks/year.py` (`.venv/bin/python benchmarks/year.py`; it rewrites this section). "
        f"Machine: {machine_info()}. `uptime` at start: `{load_start}`; at end: `{load_end}` (the load "
        f"during the run is the run's own Spark JVM and Python writer, unless the start shows otherwise). Wall time {seconds / 60:.1f} min.", "",
        f"Data: {final:,} hourly commits of {args.rows_per_commit:,} rows ({args.keys:,} keys, rotating), one group "
        f"(key `entity_id`, features f1 double, f2 long, TTL 30d). Spark local[2], {args.shuffle_partitions} shuffle "
        f"partitions. PIT join: {args.entity_rows:,} entity rows, timestamps over all hours so far. Maintenance: "
        f"nightly (every {args.maintain_every} commits).", "",
        "How (faithful shortcut, details in the script's docstring): the store creates the tables with its first "
        "`write_features`; the other hourly commits are written straight to the history's Delta log as the "
        "store's write leaves it (one small Spark-style Parquet file in the hour's `event_date` partition, one "
        "commit with the store's commit metadata, a checkpoint every 10 versions, 30-day log retention applied in "
        "simulated time), because 8,760 store writes would take about 5 hours per arm here (about 2 s each) and "
        "delta-rs's `write_deltalake` costs O(live files) per commit. The nightly `maintain_table` is simulated by the same writer with its outcome and "
        "log: the partitions with new files are sorted by the key and written as one file, every other "
        "partition (already one Z-ordered file) is linked under a new name, so the OPTIMIZE commit removes and "
        "adds every live file as the real OPTIMIZE ZORDER does; checkpoint; VACUUM START / END with 0 retention; "
        "tombstones of the last 7 simulated days are in the checkpoints at each measurement. The latest-values table gets, before each checkpoint, the files the hourly syncs would have "
        f"left. Everything measured is the real store code: hourly `write_features` of {args.rows_per_commit:,} rows "
        f"(the first after the simulated commits, whose log Spark's cache has not seen yet; then the median of "
        f"{args.writes} warm writes and the share of its history MERGE), "
        "`maintenance.table_stats`, Spark `get_historical_features`, `FeatureStore.get_online_features` "
        "(delta-rs; cold = new FeatureStore, warm = median of 3), and on the maintained arm the real "
        "`maintain_table` of history and latest, followed by the PIT join again on the freshly compacted table "
        f"(best of {args.final_pit_runs} for both PIT joins at the last checkpoint, every run listed below the table). Each arm runs in its own process (Python and JVM), "
        "one after the other. "
        "At every checkpoint the store's reads are checked against an oracle (history row count, all rows of "
        "two keys, the 1,000 looked-up values).", "",
        "| commits | maintenance | history live files | stored files | log files | log MB | latest live files "
        f"| store write s: first / warm (median of {args.writes}) | of which history MERGE s "
        "| of which outside every step s (Python GC) | PIT s | lookup ms cold / warm |",
        "|---:|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|"]
    ordered = sorted(points, key=lambda p: (p["maintained"], p["commits"]))
    for p in ordered:
        lines.append(f"| {p['commits']:,} | {'nightly' if p['maintained'] else 'none'} | {p['live_files']:,} | "
                     f"{p['stored_files']:,} | {p['log_files']:,} | {p['log_mb']:.1f} | {p['latest_files']:,} | "
                     f"{p['write_cold_s']:.2f} / {p['write_s']:.2f} | {p['write_steps'].get(COMMIT_STEP, 0):.2f} | "
                     f"{p['write_steps'].get(OTHER_STEP, 0):.2f} ({p['write_steps'].get(GC_STEP, 0):.2f}) | "
                     f"{p['pit_s']:.1f} | {1000 * p['lookup_cold_s']:.0f} / "
                     f"{1000 * p['lookup_warm_s']:.0f} |")
    kept = [p for p in ordered if p["maintained"]]
    if kept:
        lines += ["", "Real `maintain_table` at each checkpoint of the maintained arm (the night's run; OPTIMIZE "
                  "ZORDER re-Z-orders every partition, not only the day's), then the PIT join on the freshly "
                  "compacted table:", "",
                  "| commits | history s (optimize / checkpoint / vacuum) | history files rewritten | latest s "
                  "| files after | PIT s before | PIT s freshly compacted | ratio |",
                  "|---:|---:|---:|---:|---:|---:|---:|---:|"]
        for p in kept:
            steps = p["maintain_history_steps"]
            lines.append(f"| {p['commits']:,} | {p['maintain_history_s']:.1f} ({steps.get('optimize_s', 0):.1f} / "
                         f"{steps.get('checkpoint_s', 0):.1f} / {steps.get('vacuum_s', 0):.1f}) | "
                         f"{p['rewritten_files']:,} | {p['maintain_latest_s']:.1f} | {p['fresh_live_files']:,} | "
                         f"{p['pit_s']:.1f} | {p['pit_fresh_s']:.1f} | {p['pit_s'] / p['pit_fresh_s']:.2f} |")
    lines += ["", *verdict(ordered, final)]
    sim_lines = [f"{arm}: first store write (creates the tables) {s['first_write_s']:.0f} s, simulated hourly commit "
                 f"{s['append_ms']:.1f} ms median ({s['append_total_s']:.0f} s in all)"
                 + (f", simulated night {s['nightly_s']:.2f} s median ({s['nightly_total_s']:.0f} s in all)"
                    if s["nightly_s"] is not None else "") for arm, s in sims.items()]
    lines += ["", "Simulation cost: " + "; ".join(sim_lines) + "."]
    return "\n".join(lines)


def _runs(point: dict, key: str) -> str:
    return " / ".join(f"{t:.1f} s" for t in point.get(key, [])) or "not recorded"


def verdict(points: list[dict], final: int) -> list[str]:
    """The goals, with the numbers: PIT after a year within 1.2x of freshly compacted; write time flat."""
    by = {(p["maintained"], p["commits"]): p for p in points}
    out = []
    kept, plain = by.get((True, final)), by.get((False, final))
    if kept:
        ratio = kept["pit_s"] / kept["pit_fresh_s"]
        out.append(f"Goal 1, PIT after a year with maintenance within 1.2x of a freshly compacted table: "
                   f"{kept['pit_s']:.1f} s vs {kept['pit_fresh_s']:.1f} s, ratio {ratio:.2f}: "
                   f"{'met' if ratio <= 1.2 else 'NOT met'} (runs before: {_runs(kept, 'pit_runs')}; freshly "
                   f"compacted: {_runs(kept, 'pit_fresh_runs')})."
                   + (f" Without maintenance: {plain['pit_s']:.1f} s, {plain['pit_s'] / kept['pit_fresh_s']:.2f}x."
                      if plain else ""))
    for maintained in (True, False):
        arm = sorted((p for p in points if p["maintained"] == maintained), key=lambda p: p["commits"])
        if len(arm) > 1:
            growth = arm[-1]["write_s"] / arm[0]["write_s"]
            times = " / ".join(f"{p['write_s']:.2f} s" for p in arm)
            firsts = " / ".join(f"{p['write_cold_s']:.2f} s" for p in arm)
            commits = " / ".join(f"{p['commits']:,}" for p in arm)
            out.append(f"Goal 2, write time flat ({'with' if maintained else 'without'} maintenance): warm {times} at "
                       f"{commits} commits ({growth:.2f}x): {'flat within 1.25x' if growth <= 1.25 else 'NOT flat'}; "
                       f"first write after the simulated commits (cold log cache) {firsts}.")
    return out


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[100, 1000, 8760],
                        help="hours written at each measurement; the last is the length of the run")
    parser.add_argument("--rows-per-commit", type=int, default=1000)
    parser.add_argument("--writes", type=int, default=5, help="timed store writes per checkpoint (median)")
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--entity-rows", type=int, default=1_000_000)
    parser.add_argument("--maintain-every", type=int, default=24)
    parser.add_argument("--shuffle-partitions", type=int, default=8)
    parser.add_argument("--final-pit-runs", type=int, default=4,
                        help="PIT joins before and after the last maintenance (best of; the first after a table "
                             "change is some 6 s slower and single runs vary by 30%%)")
    parser.add_argument("--only", choices=["plain", "maintained"], default=None)
    parser.add_argument("--quick", action="store_true", help=f"smoke run {QUICK}; prints, does not write")
    parser.add_argument("--no-write", action="store_true", help="print, do not update BENCHMARKS.md")
    parser.add_argument("--arm-json", default=None, help=argparse.SUPPRESS)
    args = parser.parse_args(argv)
    if args.arm_json and not args.only:
        parser.error("--arm-json needs --only")
    if args.quick:
        vars(args).update(QUICK, no_write=True)
    args.checkpoints = sorted(set(args.checkpoints))
    Shape(args.rows_per_commit, args.keys)  # validates
    return args


def run_arm(args, arm: str) -> tuple[list[dict], dict]:
    """One arm in this process: its own SparkSession and tables."""
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from featurestore.session import build_spark_session

    spark = build_spark_session("local[2]", app_name=f"year-benchmark-{arm}",
                                conf={"spark.sql.shuffle.partitions": str(args.shuffle_partitions),
                                      "spark.driver.memory": "4g"})
    work = Path(tempfile.mkdtemp(prefix=f"year-bench-{arm}-"))
    try:
        return run(spark, work / arm, args, arm == "maintained")
    finally:
        spark.stop()
        shutil.rmtree(work, ignore_errors=True)


def without_only(argv: list[str]) -> list[str]:
    """`argv` without its `--only ARM` / `--only=ARM`."""
    out, skip = [], False
    for arg in argv:
        if skip:
            skip = False
        elif arg == "--only":
            skip = True
        elif not arg.startswith("--only="):
            out.append(arg)
    return out


def arm_in_own_process(argv: list[str], arm: str) -> tuple[list[dict], dict]:
    """Run one arm as `year.py --only ARM --arm-json FILE` in a new Python and JVM, so that neither arm's
    timings carry the other's heap, caches or garbage collection."""
    with tempfile.TemporaryDirectory(prefix="year-arm-") as folder:
        out = Path(folder) / f"{arm}.json"
        subprocess.run([sys.executable, str(Path(__file__).resolve()), *argv, "--only", arm, "--arm-json", str(out)],
                       check=True, cwd=ROOT)
        result = json.loads(out.read_text())
    return result["points"], result["sim"]


def main(argv: list[str] | None = None) -> None:
    argv = sys.argv[1:] if argv is None else argv
    args = parse_args(argv)
    if args.arm_json:  # a child of the run below: one arm, its figures to a file
        points, sim = run_arm(args, args.only)
        Path(args.arm_json).write_text(json.dumps({"points": points, "sim": sim}))
        return
    from benchmarks.common import write_section

    load_start = uptime()
    began = time.perf_counter()
    points, sims = [], {}
    for arm in ("plain", "maintained"):
        if args.only in (None, arm):
            result, sims[arm] = arm_in_own_process(without_only(argv), arm)
            points += result
    body = render(points, sims, args, time.perf_counter() - began, load_start, uptime())
    print(body)
    if not args.no_write:
        write_section(HEADING, body)


if __name__ == "__main__":
    main()
