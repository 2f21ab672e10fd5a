"""A writer process for fault tests: writes generated rows to a test group, optionally slowly or concurrently.

Usage: python -m tests.faults.writer ROOT ROWS [--offset N] [--scale X] [--barrier DIR --parties N]
"""

from __future__ import annotations

import argparse
import os
import time
from datetime import datetime, timezone
from pathlib import Path

from pyspark.sql import functions as F

from featurestore.offline.store import OfflineStore
from featurestore.session import build_spark_session
from featurestore.spec import Feature, FeatureGroupSpec, Key

T0 = datetime(2026, 5, 1, tzinfo=timezone.utc)

faults = FeatureGroupSpec(
    name="faults", description="fault-test group", owner="tests", keys=(Key("entity_id", "long"),),
    features=(Feature("value", "double"), Feature("label", "string")), transform=lambda ctx: None,
    sources=("none",), grain="daily", start="2026-05-01")


def rows(spark, count: int, offset: int, scale: float = 1.0):
    """`count` rows, one per entity offset..offset+count-1, all at T0 + (id mod 48) hours."""
    return spark.range(offset, offset + count).select(
        F.col("id").alias("entity_id"),
        (F.lit(T0) + F.make_dt_interval(hours=(F.col("id") % 48).cast("int"))).alias("event_time"),
        (F.col("id") * F.lit(scale)).cast("double").alias("value"),
        F.concat(F.lit("label-"), F.sha2(F.col("id").cast("string"), 256)).alias("label"))


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("root")
    parser.add_argument("rows", type=int)
    parser.add_argument("--offset", type=int, default=0)
    parser.add_argument("--scale", type=float, default=1.0)
    parser.add_argument("--barrier", help="a directory: once Spark is up, mark this process ready there and "
                                          "write when --parties processes are")
    parser.add_argument("--parties", type=int, default=1)
    args = parser.parse_args()
    spark = build_spark_session("local[1]", "fault-writer", {"spark.sql.shuffle.partitions": "2"})
    store = OfflineStore(spark, args.root)
    data = rows(spark, args.rows, args.offset, args.scale)
    if args.barrier:
        barrier = Path(args.barrier)
        (barrier / f"ready-{os.getpid()}").touch()
        while len(list(barrier.glob("ready-*"))) < args.parties:
            time.sleep(0.01)
    result = store.write_features(faults, data)
    print(f"WRITTEN {result.rows_written} CORRECTED {result.rows_corrected} VERSION {result.table_version}", flush=True)


if __name__ == "__main__":
    main()
