"""Z-order (what maintenance runs) against Delta liquid clustering, on the same data, side by side.

    .venv/bin/python benchmarks/clustering.py            # rewrites "Clustering: Z-order vs liquid" in BENCHMARKS.md
    .venv/bin/python benchmarks/clustering.py --quick    # smoke run, prints only

History (a year of a group, `--keys` keys, `--rows-per-day` rows a day spread over the day's hours, stored as
`--files-per-day` files a day as hourly writes leave them, keys in random order in every file), in four layouts:
- as written: partitioned by `event_date`, no maintenance;
- compacted: partitioned by `event_date`, OPTIMIZE (bin-packing only);
- Z-order: partitioned by `event_date`, OPTIMIZE ZORDER BY (entity_id) — what `maintain_table` runs;
- liquid: the table created `CLUSTER BY (entity_id)` (liquid clustering excludes partitioning), OPTIMIZE.
OPTIMIZE's target file size is `--max-file-mb` (16 MB) for every layout, so that this data, like a table
some 60x larger in 1 GB files, is more than one file a partition. Each layout gets the same rows (the store's first `write_features` creates the partitioned tables; the bulk is
appended by Spark). Measured on each: OPTIMIZE time, files, the store's Spark point-in-time join
(`training.get_historical_features`) for `--entity-rows` entity rows and for 1,000, and a history read of 10
keys (a literal IN filter, where Delta's file skipping by min/max stats applies; candidate files counted from
the log's stats with delta-rs). The PIT results of all layouts are checked equal (row count and checksum).

Latest-values table (unpartitioned: both methods apply), `--latest-keys` keys in `--latest-files` files:
compacted / Z-order / liquid; measured: a Spark lookup of 1,000 keys (the spark engine's lookup path, a
literal IN filter) and the delta-rs + DuckDB lookup of `FeatureStore.get_online_features` (duckdb engine).
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

HEADING = "Clustering: Z-order vs liquid"
START = datetime(2025, 1, 1, tzinfo=timezone.utc)
QUICK = {"keys": 5_000, "days": 20, "rows_per_day": 2_000, "files_per_day": 4, "entity_rows": 20_000,
         "latest_keys": 50_000, "latest_files": 8}
LAYOUTS = ("as written", "compacted", "Z-order", "liquid")


def group_spec():
    from featurestore.spec import Feature, FeatureGroupSpec, Key

    return FeatureGroupSpec(name="clustered", description="a year of rows", owner="bench", keys=(Key("entity_id"),),
                            features=(Feature("f1", "double"), Feature("f2", "long")), transform=lambda ctx: None,
                            sources=("none",), grain="daily", start="2025-01-01", ttl="30d")


def history_rows(spark, args):
    """The year's rows with the history's columns: key k<n>, one row per (key slot, day), write 5 min later."""
    from pyspark.sql import functions as F

    rows = args.days * args.rows_per_day
    day = (F.col("id") / args.rows_per_day).cast("long")
    micros = (F.lit(int(START.timestamp() * 1_000_000)) + day * 86_400_000_000
              + F.pmod(F.hash(F.col("id"), F.lit(1)), F.lit(86_400_000_000)))
    event_time = F.timestamp_micros(micros)
    return (spark.range(rows).select(
        F.concat(F.lit("k"), F.pmod(F.hash(F.col("id"), F.lit(2)), F.lit(args.keys)).cast("string")).alias("entity_id"),
        event_time.alias("event_time"), (event_time + F.expr("INTERVAL 5 MINUTES")).alias("write_time"),
        F.lit(False).alias("is_deleted"), (F.col("id") * 0.5).alias("f1"), F.col("id").alias("f2"),
        F.to_date(event_time).alias("event_date"), F.pmod(F.hash(F.col("id"), F.lit(3)), F.lit(args.files_per_day))
        .alias("_file")))


def build_history(spark, store, spec, layout: str, args) -> dict:
    """Write the layout's history and maintain it as the layout says; OPTIMIZE seconds and files."""
    from delta.tables import DeltaTable

    from featurestore.offline.maintenance import table_stats

    path = store.history_path(spec.name)
    bulk = history_rows(spark, args).repartition(args.days * args.files_per_day, "event_date", "_file").drop("_file")
    if layout == "liquid":
        schema = bulk.schema
        (DeltaTable.create(spark).location(path).addColumns(schema).clusterBy("entity_id")
         .property("delta.enableChangeDataFeed", "true").execute())
        bulk.write.format("delta").mode("append").save(path)
    else:
        bulk.write.format("delta").mode("append").partitionBy("event_date").save(path)
    out = {"files_written": table_stats(spark, path).live_files, "optimize_s": 0.0}
    began = time.perf_counter()
    if layout == "compacted":
        DeltaTable.forPath(spark, path).optimize().executeCompaction()
    elif layout == "Z-order":
        DeltaTable.forPath(spark, path).optimize().executeZOrderBy("entity_id")
    elif layout == "liquid":
        spark.sql(f"OPTIMIZE delta.`{path}`")
    out["optimize_s"] = time.perf_counter() - began if layout != "as written" else None
    out["files"] = table_stats(spark, path).live_files
    return out


def candidate_files(path: str, keys: list[str]) -> int:
    """Files whose min/max entity_id stats (the Delta log, read by delta-rs) may hold one of `keys`."""
    from deltalake import DeltaTable

    import pyarrow as pa

    actions = pa.table(DeltaTable(path).get_add_actions(flatten=True)).to_pydict()
    lows, highs = actions["min.entity_id"], actions["max.entity_id"]
    return sum(1 for lo, hi in zip(lows, highs) if lo is None or any(lo <= k <= hi for k in keys))


def best(action, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        began = time.perf_counter()
        action()
        times.append(time.perf_counter() - began)
    return min(times)


def entity_rows(spark, count: int, args):
    from pyspark.sql import functions as F

    span = args.days * 86_400_000_000
    rows = spark.range(count).select(
        F.concat(F.lit("k"), F.pmod(F.hash(F.col("id"), F.lit(4)), F.lit(args.keys)).cast("string")).alias("entity_id"),
        F.timestamp_micros(F.lit(int(START.timestamp() * 1_000_000)) + F.pmod(F.hash(F.col("id"), F.lit(5)),
                                                                              F.lit(span))).alias("ts")).cache()
    rows.count()
    return rows


def measure_history(spark, store, spec, args, entities: dict) -> dict:
    from pyspark.sql import functions as F

    from featurestore.training.sets import get_historical_features

    path = store.history_path(spec.name)
    out = {}
    for name, frame in entities.items():
        def pit(frame=frame):
            get_historical_features(store, frame, [f"{spec.name}:*"], {spec.name: spec}) \
                .write.format("noop").mode("overwrite").save()
        out[f"pit_{name}_s"] = best(pit, 2)
    result = get_historical_features(store, entities["small"], [f"{spec.name}:*"], {spec.name: spec})
    out["checksum"] = result.select(F.count("*"), F.sum(F.pmod(F.xxhash64(*result.columns), F.lit(1 << 32)))).first()
    keys = [f"k{i}" for i in range(0, args.keys, max(1, args.keys // 10))][:10]
    out["key_read_s"] = best(lambda: spark.read.format("delta").load(path).filter(F.col("entity_id").isin(keys))
                             .write.format("noop").mode("overwrite").save(), 3)
    out["key_files"] = candidate_files(path, keys)
    return out


def latest_rows(spark, args):
    from pyspark.sql import functions as F

    moment = F.lit(START).cast("timestamp")
    return (spark.range(args.latest_keys).select(
        F.concat(F.lit("k"), F.col("id").cast("string")).alias("entity_id"), moment.alias("event_time"),
        moment.alias("write_time"), F.lit(False).alias("is_deleted"), (F.col("id") * 0.5).alias("f1"),
        F.col("id").alias("f2")).orderBy(F.rand(7)).repartition(args.latest_files))


def measure_latest(spark, work: Path, spec, args) -> list[dict]:
    """Compacted / Z-order / liquid latest tables: Spark and delta-rs lookups of 1,000 keys."""
    from delta.tables import DeltaTable
    from pyspark.sql import functions as F

    from featurestore.feature_store import FeatureStore
    from featurestore.offline.maintenance import table_stats
    from featurestore.offline.store import OfflineStore
    from featurestore.registry import Registry

    keys = [f"k{i}" for i in range(0, args.latest_keys, max(1, args.latest_keys // 1000))][:1000]
    points = []
    for layout in ("compacted", "Z-order", "liquid"):
        root = work / f"latest-{layout}"
        store = OfflineStore(spark, str(root))
        path = store.latest_path(spec.name)
        rows = latest_rows(spark, args)
        if layout == "liquid":
            DeltaTable.create(spark).location(path).addColumns(rows.schema).clusterBy("entity_id").execute()
        rows.write.format("delta").mode("append").save(path)
        began = time.perf_counter()
        if layout == "compacted":
            DeltaTable.forPath(spark, path).optimize().executeCompaction()
        elif layout == "Z-order":
            DeltaTable.forPath(spark, path).optimize().executeZOrderBy("entity_id")
        else:
            spark.sql(f"OPTIMIZE delta.`{path}`")
        optimize_s = time.perf_counter() - began
        spark_s = best(lambda: spark.read.format("delta").load(path).filter(F.col("entity_id").isin(keys)).collect(), 3)
        fs = FeatureStore(root=str(root), engine="duckdb", spark=spark,
                          registry=Registry(sources={}, groups={spec.name: spec}, training_sets={}))
        wanted = [{"entity_id": k} for k in keys]
        found = fs.get_online_features(spec.name, wanted)
        if any(row["f2"] != int(row["entity_id"][1:]) for row in found):
            raise AssertionError(f"{layout}: a looked-up value differs from the row written")
        duck_s = best(lambda: fs.get_online_features(spec.name, wanted), 3)
        points.append({"layout": layout, "optimize_s": optimize_s, "files": table_stats(spark, path).live_files,
                       "candidate_files": candidate_files(path, keys), "spark_s": spark_s, "duckdb_s": duck_s})
        print(points[-1], flush=True)
    return points


def render(history: list[dict], latest: list[dict], args, seconds: float, load: tuple[str, str]) -> str:
    from benchmarks.common import machine_info

    rows = args.days * args.rows_per_day
    lines = [
        f"Script: `benchmarks/clustering.py`. Machine: {machine_info()}. `uptime` at start: `{load[0]}`; at end: "
        f"`{load[1]}`. Wall time {seconds / 60:.1f} min. Spark local[2], {args.shuffle_partitions} shuffle "
        f"partitions; best of 2 (PIT) or 3 (reads) per figure. OPTIMIZE's target file size is {args.max_file_mb} MB "
        "for every layout (Delta's default, 1 GB, would leave this data in one file a partition, or one file: the "
        "small files stand in for the 1 GB files of a table some 60x larger).", "",
        f"History: {rows:,} rows ({args.days} days x {args.rows_per_day:,}, {args.keys:,} keys), written as "
        f"{args.files_per_day} files a day. PIT join: the store's Spark `get_historical_features`, entity rows "
        f"over the whole span; results equal in every layout (checked). Key read: every row of 10 keys "
        "(literal IN); candidate files = files whose min/max stats may hold one of the keys.", "",
        f"| layout | files | OPTIMIZE s | PIT s, {args.entity_rows:,} entity rows | PIT s, 1,000 entity rows "
        "| key read s | key read candidate files |",
        "|---|---:|---:|---:|---:|---:|---:|"]
    for p in history:
        optimize = "—" if p["optimize_s"] is None else f"{p['optimize_s']:.1f}"
        lines.append(f"| {p['layout']} | {p['files']:,} | {optimize} | {p['pit_large_s']:.1f} | "
                     f"{p['pit_small_s']:.1f} | {p['key_read_s']:.2f} | {p['key_files']:,} of {p['files']:,} |")
    lines += ["", f"Latest-values table: {args.latest_keys:,} keys written as {args.latest_files} files in random "
              "key order, then OPTIMIZE; lookup of 1,000 keys.", "",
              "| layout | files | OPTIMIZE s | candidate files | Spark lookup s | delta-rs + DuckDB lookup s |",
              "|---|---:|---:|---:|---:|---:|"]
    for p in latest:
        lines.append(f"| {p['layout']} | {p['files']:,} | {p['optimize_s']:.1f} | {p['candidate_files']:,} | "
                     f"{p['spark_s']:.2f} | {p['duckdb_s']:.3f} |")
    by = {p["layout"]: p for p in history}
    z, liquid = by["Z-order"], by["liquid"]
    lines += ["", f"Reading: PIT join ({args.entity_rows:,} rows) Z-order {z['pit_large_s']:.1f} s vs liquid "
              f"{liquid['pit_large_s']:.1f} s ({liquid['pit_large_s'] / z['pit_large_s']:.2f}x); key read "
              f"{z['key_read_s']:.2f} s vs {liquid['key_read_s']:.2f} s, candidate files {z['key_files']:,} vs "
              f"{liquid['key_files']:,}; OPTIMIZE {z['optimize_s']:.1f} s vs {liquid['optimize_s']:.1f} s. "
              f"Z-order's own share: compacted {by['compacted']['pit_large_s']:.1f} s vs Z-order "
              f"{z['pit_large_s']:.1f} s; the rest of liquid's gain is fewer, larger files (one table instead of "
              "a file per day).", "",
              "Why maintenance keeps daily partitions and Z-order: liquid clustering needs an unpartitioned "
              "table, and then an hourly write can no longer read only its own day. The write path classifies a "
              "batch against the history by reading the batch's `event_date` partitions (and files whose "
              "event_time range overlaps; 0.05 s against a year, \"Small writes\"); files clustered by key each "
              "span the whole year, so every hourly write would read every file. Lookups go to the latest-values "
              "table (unpartitioned, so both methods apply), where no layout helps: 1,000 keys spread over the key "
              f"space touch every file (delta-rs + DuckDB {min(p['duckdb_s'] for p in latest):.2f}-"
              f"{max(p['duckdb_s'] for p in latest):.2f} s, Spark {min(p['spark_s'] for p in latest):.1f}-"
              f"{max(p['spark_s'] for p in latest):.1f} s)."]
    return "\n".join(lines)


def uptime() -> str:
    import subprocess

    return subprocess.run(["uptime"], capture_output=True, text=True).stdout.strip()


def parse_args(argv: list[str] | None = None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--rows-per-day", type=int, default=10_000)
    parser.add_argument("--files-per-day", type=int, default=8)
    parser.add_argument("--entity-rows", type=int, default=1_000_000)
    parser.add_argument("--latest-keys", type=int, default=5_000_000)
    parser.add_argument("--latest-files", type=int, default=64)
    parser.add_argument("--shuffle-partitions", type=int, default=8)
    parser.add_argument("--max-file-mb", type=int, default=16,
                        help="OPTIMIZE's target file size (Delta's default is 1 GB), for every layout")
    parser.add_argument("--quick", action="store_true", help=f"smoke run {QUICK}; prints, does not write")
    parser.add_argument("--no-write", action="store_true", help="print, do not update BENCHMARKS.md")
    args = parser.parse_args(argv)
    if args.quick:
        for key, value in QUICK.items():
            setattr(args, key, value)
        args.no_write = True
    return args


def main() -> None:
    args = parse_args()
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    from benchmarks.common import write_section
    from featurestore.offline.store import OfflineStore, WritePolicy
    from featurestore.session import build_spark_session

    load_start, began = uptime(), time.perf_counter()
    spark = build_spark_session("local[2]", app_name="clustering-benchmark",
                                conf={"spark.sql.shuffle.partitions": str(args.shuffle_partitions),
                                      "spark.driver.memory": "6g",
                                      "spark.databricks.delta.optimize.maxFileSize": str(args.max_file_mb << 20)})
    work = Path(tempfile.mkdtemp(prefix="clustering-bench-"))
    spec = group_spec()
    try:
        entities = {"large": entity_rows(spark, args.entity_rows, args), "small": entity_rows(spark, 1000, args)}
        history = []
        for layout in LAYOUTS:
            store = OfflineStore(spark, str(work / layout.replace(" ", "-")), policy=WritePolicy(future_tolerance=None))
            point = {"layout": layout, **build_history(spark, store, spec, layout, args)}
            point.update(measure_history(spark, store, spec, args, entities))
            print(point, flush=True)
            history.append(point)
        sums = {p["layout"]: tuple(p["checksum"]) for p in history}
        if len(set(sums.values())) != 1:
            raise AssertionError(f"the PIT join differs between layouts: {sums}")
        latest = measure_latest(spark, work, spec, args)
        body = render(history, latest, args, time.perf_counter() - began, (load_start, uptime()))
        print(body)
        if not args.no_write:
            write_section(HEADING, body)
    finally:
        spark.stop()
        shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
