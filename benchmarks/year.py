"""A year of hourly writes into one group, with and without nightly maintenance.

    .venv/bin/python benchmarks/year.py                      # the full year: 8,760 commits, 1M entity rows
    .venv/bin/python benchmarks/year.py --commits 300 --checkpoints 30 100 300 --rows-per-commit 200 \
        --entity-rows 20000 --store-writes 10                # a reduced run for a shared machine

Per commit one hour of rows (`--rows-per-commit` keys out of `--keys`) is appended to the group's history.
Faithful shortcut: the store's own write path (`OfflineStore.write_features`: classification against the
history, insert-only MERGE, latest-table sync) is used for the first `--store-writes` commits and for the
three timed writes at every checkpoint; the other commits are Delta-level appends of exactly the rows the
store would write (same columns, write_time stamping, `event_date` partitioning, change data feed on), so
the table's file and log growth (one small file per commit in the hour's day partition, one JSON commit per
hour, checkpoints every 10 commits) is the store's, without its per-write classification jobs. What the
shortcut does not exercise: the store's classification of those rows (they are all new) and the per-write
latest-table MERGE (the latest table catches up through the change feed at the next store write).

At each checkpoint (commits done): live data files, log size, write time (median of 3 store writes of one
hour), PIT join time (`get_historical_features` over `--entity-rows` entity rows, timestamps over the whole
year so far, result written to Spark's noop sink), lookup time (1,000 keys from the latest table). The
maintained table runs `featurestore.offline.maintenance.maintain_table` (OPTIMIZE ZORDER BY the key, checkpoint,
VACUUM; retention 0 because simulated days pass in seconds and nothing is pinned) every `--maintain-every`
commits (24: nightly) on history and latest. The baseline is a freshly compacted copy of the final history
(rewritten and Z-ordered once). Results go to BENCHMARKS.md, section "A year of hourly writes".
"""

from __future__ import annotations

import argparse
import os
import shutil
import statistics
import sys
import tempfile
import time
from datetime import datetime, timedelta, timezone
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

START = datetime(2025, 1, 1, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)


def group_spec():
    from featurestore.spec import Feature, FeatureGroupSpec, Key

    return FeatureGroupSpec(name="year", description="a year of hourly rows", owner="bench",
                            keys=(Key("entity_id"),), features=(Feature("f1", "double"), Feature("f2", "long")),
                            transform=lambda ctx: None, sources=("none",), grain="hourly", start="2025-01-01",
                            ttl="30d")


def hour_rows(spark, commit: int, rows: int, keys: int):
    """The rows of hour `commit`: `rows` keys (rotating through `keys`), event_time = the hour's start."""
    from pyspark.sql import functions as F

    first = (commit * rows) % keys
    return (spark.range(rows).select(
        F.concat(F.lit("k"), ((F.col("id") + first) % keys).cast("string")).alias("entity_id"),
        F.lit(START + commit * HOUR).cast("timestamp").alias("event_time"),
        (F.col("id") * 0.5 + commit).alias("f1"), (F.col("id") + commit).cast("long").alias("f2")))


def delta_append(store, spec, df, commit: int) -> None:
    """The rows a store write of new rows appends, committed directly (see the module docstring)."""
    from pyspark.sql import functions as F

    from featurestore.columns import EVENT_DATE, EVENT_TIME, IS_DELETED, WRITE_TIME

    write_time = START + commit * HOUR + timedelta(minutes=5)
    rows = df.select("entity_id", EVENT_TIME, F.lit(write_time).cast("timestamp").alias(WRITE_TIME),
                     F.lit(False).alias(IS_DELETED), "f1", "f2", F.to_date(F.col(EVENT_TIME)).alias(EVENT_DATE))
    rows.write.format("delta").mode("append").partitionBy(EVENT_DATE).save(store.history_path(spec.name))


def store_write(store, spec, df, commit: int) -> float:
    began = time.perf_counter()
    store.write_features(spec, df, now=START + commit * HOUR + timedelta(minutes=5))
    return time.perf_counter() - began


def measure(store, spec, args, commit: int, spark) -> dict:
    """Files, log size, write / PIT / lookup time at this point."""
    from featurestore.offline.maintenance import table_stats

    writes = [store_write(store, spec, hour_rows(spark, commit + i, args.rows_per_commit, args.keys), commit + i)
              for i in range(3)]
    stats = table_stats(spark, store.history_path(spec.name))
    entities = entity_rows(spark, args, commit + 3)
    pit = pit_time(store, spec, entities)
    keys = [{"entity_id": f"k{i}"} for i in range(0, args.keys, max(1, args.keys // 1000))][:1000]
    began = time.perf_counter()
    store.lookup(spec, keys).collect()
    lookup = time.perf_counter() - began
    entities.unpersist()
    return {"commits": commit, "live_files": stats.live_files, "stored_files": stats.stored_files,
            "log_mb": stats.log_bytes / 2**20, "write_s": statistics.median(writes), "pit_s": pit,
            "lookup_s": lookup}


def pit_time(store, spec, entities) -> float:
    from featurestore.training.sets import get_historical_features

    began = time.perf_counter()
    get_historical_features(store, entities, ["year:*"], {"year": spec}).write.format("noop").mode("overwrite").save()
    return time.perf_counter() - began


def run(spark, root: Path, args, maintained: bool) -> tuple[list[dict], object]:
    from featurestore.offline.maintenance import MaintenancePolicy, maintain_table
    from featurestore.offline.store import OfflineStore, WritePolicy

    spec = group_spec()
    store = OfflineStore(spark, str(root), policy=WritePolicy(future_tolerance=None))
    policy = MaintenancePolicy(retention=timedelta(0))
    points, commit, append_s = [], 0, []
    checkpoints = sorted(set(args.checkpoints))
    while commit < checkpoints[-1]:
        df = hour_rows(spark, commit, args.rows_per_commit, args.keys)
        began = time.perf_counter()
        if commit < args.store_writes:
            store_write(store, spec, df, commit)
        else:
            delta_append(store, spec, df, commit)
        append_s.append(time.perf_counter() - began)
        commit += 1
        if maintained and commit % args.maintain_every == 0:
            for path in (store.history_path(spec.name), store.latest_path(spec.name)):
                maintain_table(spark, path, name=path, keys=["entity_id"], policy=policy)
        if commit in checkpoints:
            point = measure(store, spec, args, commit, spark)
            commit += 3  # the three timed store writes
            point["append_s"] = statistics.median(append_s[-50:])
            point["maintained"] = maintained
            points.append(point)
            print(point, flush=True)
    return points, store


def fresh_copy_pit(spark, store, spec, args, root: Path) -> float:
    """PIT time on a freshly compacted copy of the final history (one rewrite + Z-order)."""
    from featurestore.columns import EVENT_DATE
    from featurestore.offline.maintenance import MaintenancePolicy, maintain_table
    from featurestore.offline.store import OfflineStore

    fresh = OfflineStore(spark, str(root))
    history = spark.read.format("delta").load(store.history_path(spec.name))
    history.repartition(EVENT_DATE).write.format("delta").partitionBy(EVENT_DATE).save(fresh.history_path(spec.name))
    maintain_table(spark, fresh.history_path(spec.name), name="fresh", keys=["entity_id"],
                   policy=MaintenancePolicy(retention=timedelta(0)))
    return pit_time(fresh, spec, entity_rows(spark, args, max(args.checkpoints) + 3))


def entity_rows(spark, args, hours: int):
    """`--entity-rows` (key, ts) rows, keys spread over all keys, ts uniform over the first `hours` hours."""
    from pyspark.sql import functions as F

    span_us = int(hours * HOUR.total_seconds() * 1e6)
    rows = spark.range(args.entity_rows).select(
        F.concat(F.lit("k"), F.pmod(F.hash("id"), F.lit(args.keys)).cast("string")).alias("entity_id"),
        F.timestamp_micros(F.lit(int(START.timestamp() * 1e6)) + F.pmod(F.hash(F.col("id") * 7), F.lit(span_us)))
        .alias("ts")).cache()
    rows.count()
    return rows


def render(points: list[dict], fresh_pit: float, args, seconds: float, load: tuple) -> str:
    from benchmarks.common import machine_info

    lines = [f"Machine: {machine_info()}; load average at start {load[0]:.2f} / {load[1]:.2f} / {load[2]:.2f}; "
             f"wall time {seconds / 60:.1f} min.",
             f"Configuration: {max(args.checkpoints)} hourly commits of {args.rows_per_commit} rows "
             f"({args.keys} keys), first {args.store_writes} commits through `write_features`, the rest Delta-level "
             f"appends of the same rows (see `benchmarks/year.py`); PIT join of {args.entity_rows:,} entity rows; "
             f"maintenance every {args.maintain_every} commits. Spark local[2], shuffle partitions "
             f"{args.shuffle_partitions}.", "",
             "| commits | maintenance | live files | stored files | log MB | append s (median) | store write s (median of 3) "
             "| PIT s | lookup s (1,000 keys) |", "|---|---|---|---|---|---|---|---|---|"]
    for p in sorted(points, key=lambda p: (p["maintained"], p["commits"])):
        lines.append(f"| {p['commits']:,} | {'nightly' if p['maintained'] else 'none'} | {p['live_files']:,} | "
                     f"{p['stored_files']:,} | {p['log_mb']:.1f} | {p['append_s']:.2f} | {p['write_s']:.2f} | "
                     f"{p['pit_s']:.2f} | {p['lookup_s']:.2f} |")
    final = [p for p in points if p["maintained"] and p["commits"] == max(args.checkpoints)]
    if final:
        lines += ["", f"Freshly compacted copy of the final history: PIT {fresh_pit:.2f} s; maintained table after "
                  f"the last commit: {final[0]['pit_s']:.2f} s (ratio {final[0]['pit_s'] / fresh_pit:.2f}; goal <= 1.2)."]
    return "\n".join(lines)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--commits", type=int, default=8760)
    parser.add_argument("--checkpoints", type=int, nargs="+", default=[100, 1000, 8760])
    parser.add_argument("--rows-per-commit", type=int, default=1000)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--entity-rows", type=int, default=1_000_000)
    parser.add_argument("--store-writes", type=int, default=100)
    parser.add_argument("--maintain-every", type=int, default=24)
    parser.add_argument("--shuffle-partitions", type=int, default=8)
    parser.add_argument("--only", choices=["plain", "maintained"], default=None)
    parser.add_argument("--no-write", action="store_true", help="print, do not update BENCHMARKS.md")
    args = parser.parse_args()
    args.checkpoints = sorted(c for c in set(args.checkpoints) if c <= args.commits) or [args.commits]
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from benchmarks.common import write_section
    from featurestore.session import build_spark_session

    load = os.getloadavg()
    began = time.perf_counter()
    spark = build_spark_session("local[2]", app_name="year-benchmark",
                                conf={"spark.sql.shuffle.partitions": str(args.shuffle_partitions),
                                      "spark.driver.memory": "3g"})
    spark.sparkContext.setLogLevel("ERROR")
    work = Path(tempfile.mkdtemp(prefix="year-bench-"))
    try:
        points, maintained_store = [], None
        for maintained in (False, True):
            if args.only and args.only != ("maintained" if maintained else "plain"):
                continue
            result, store = run(spark, work / ("maintained" if maintained else "plain"), args, maintained)
            points += result
            maintained_store = store
        fresh = fresh_copy_pit(spark, maintained_store, group_spec(), args, work / "fresh")
        body = render(points, fresh, args, time.perf_counter() - began, load)
        print(body)
        if not args.no_write:
            write_section("A year of hourly writes", body)
    finally:
        spark.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
