"""Small writes into a group with a year of history: hourly writes of 1,000 and 10,000 rows, a rerun, a delete.

Run: `.venv/bin/python -m benchmarks.small_writes [--keys 10000] [--days 365] [--repeats 5]`; writes the
"Small writes" section of BENCHMARKS.md.

The year of history is made by a faithful shortcut: one bulk `write_features` of `keys` × `days` daily
snapshots (one `event_date` partition per day, as a year of daily materialisations gives; the bulk write
goes through the same write path, so the table, its partitions, schema and change feed are the real ones —
only the number of commits differs, which the write path does not read beyond the last 20). Then each small
write is timed on a warm session (median of `repeats`), with the Spark jobs it ran (status tracker job ids)
and the time of each step of the write path.
"""

from __future__ import annotations

import argparse
import gc
import os
import shutil
import statistics
import tempfile
import time
from collections import defaultdict
from contextlib import contextmanager
from datetime import datetime, timedelta, timezone

from pyspark.sql import functions as F

from benchmarks.common import machine_info, write_section
from featurestore.offline import history_write, local_classify
from featurestore.offline import store as store_module
from featurestore.offline.store import OfflineStore
from featurestore.session import build_spark_session
from featurestore.spec import Feature, FeatureGroupSpec, Key

START = datetime(2025, 1, 1, tzinfo=timezone.utc)
SPEC = FeatureGroupSpec(
    name="year", description="a year of history", owner="benchmarks", keys=(Key("entity_id", "long"),),
    features=(Feature("amount", "double"), Feature("count_1d", "long"), Feature("label", "string")),
    transform=lambda ctx: None, sources=("none",), grain="hourly", start="2025-01-01")


def _rows(spark, keys: int, first_day: int, days: int, hour: int = 0, scale: float = 1.0):
    grid = spark.range(keys).crossJoin(spark.range(first_day, first_day + days).withColumnRenamed("id", "day"))
    micros = F.lit(int(START.timestamp() * 1_000_000)) + (F.col("day") * 86_400 + hour * 3_600) * 1_000_000
    return grid.select(F.col("id").alias("entity_id"), F.timestamp_micros(micros).alias("event_time"),
                       (F.col("id") * F.lit(scale) + F.col("day")).cast("double").alias("amount"),
                       (F.col("id") % 17 + hour).alias("count_1d"),
                       F.concat(F.lit("l"), (F.col("id") % 5).cast("string")).alias("label"))


COMMIT_STEP = "commit (insert-only MERGE)"
GC_STEP = "of these, Python garbage collection"
OTHER_STEP = "other (conform, counts, local frames)"


class Steps:
    """Wall time and Spark jobs of each step of the write path (module functions wrapped while measuring)."""

    def __init__(self, spark):
        self.tracker = spark.sparkContext.statusTracker()
        self.seconds: dict[str, float] = defaultdict(float)
        self.jobs: dict[str, int] = defaultdict(int)
        self._gc_began = 0.0

    def gc_pause(self, phase: str, info: dict) -> None:
        """A `gc.callbacks` hook: the driver's Python collections add up under GC_STEP (inside other steps)."""
        if phase == "start":
            self._gc_began = time.perf_counter()
        else:
            self.seconds[GC_STEP] += time.perf_counter() - self._gc_began

    def last_job(self) -> int:
        ids = self.tracker.getJobIdsForGroup(None)
        return max(ids) if ids else -1

    @contextmanager
    def step(self, name: str):
        job, began = self.last_job(), time.perf_counter()
        try:
            yield
        finally:
            self.seconds[name] += time.perf_counter() - began
            self.jobs[name] += self.last_job() - job

    def wrap(self, owner, attribute: str, name: str):
        original = getattr(owner, attribute)

        def timed(*args, **kwargs):
            with self.step(name):
                return original(*args, **kwargs)
        setattr(owner, attribute, timed)
        return lambda: setattr(owner, attribute, original)


def measure(spark, action, repeats: int) -> tuple[float, dict, dict]:
    """Median seconds of `action(i)` over `repeats`, and the mean seconds and jobs per step."""
    times, per_step, per_jobs = [], defaultdict(list), defaultdict(list)
    for i in range(repeats):
        steps = Steps(spark)
        undo = [steps.wrap(store_module.OfflineStore, "_check_rows",
                           "checks (nulls, duplicates, time range) + collect of a small batch"),
                steps.wrap(history_write, "probe", "history probe (Delta log)"),
                steps.wrap(history_write, "classify", "classify against the history (partition-pruned)"),
                steps.wrap(local_classify, "classify", "classify against the history (partition-pruned)"),
                steps.wrap(history_write, "commit", COMMIT_STEP),
                steps.wrap(store_module.OfflineStore, "_sync_latest", "latest sync (change feed + MERGE)")]
        gc.callbacks.append(steps.gc_pause)
        try:
            with steps.step("total"):
                action(i)
        finally:
            gc.callbacks.remove(steps.gc_pause)
            for restore in undo:
                restore()
        times.append(steps.seconds["total"])
        known = sum(v for k, v in steps.seconds.items() if k not in ("total", GC_STEP))
        known_jobs = sum(v for k, v in steps.jobs.items() if k not in ("total", GC_STEP))
        steps.seconds[OTHER_STEP] = steps.seconds["total"] - known
        steps.jobs[OTHER_STEP] = steps.jobs["total"] - known_jobs
        steps.seconds[GC_STEP] += 0.0
        for key, value in steps.seconds.items():
            per_step[key].append(value)
            per_jobs[key].append(steps.jobs[key])
    return (statistics.median(times), {k: statistics.mean(v) for k, v in per_step.items()},
            {k: statistics.mean(v) for k, v in per_jobs.items()})


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--keys", type=int, default=10_000)
    parser.add_argument("--days", type=int, default=365)
    parser.add_argument("--repeats", type=int, default=5)
    parser.add_argument("--no-write", action="store_true", help="print, do not touch BENCHMARKS.md")
    args = parser.parse_args()
    load_start = os.getloadavg()
    spark = build_spark_session("local[2]", "small-writes", {"spark.sql.shuffle.partitions": "8"})
    root = tempfile.mkdtemp(prefix="small-writes-")
    try:
        store = OfflineStore(spark, root)
        began = time.perf_counter()
        bulk = store.write_features(SPEC, _rows(spark, args.keys, 0, args.days), now=START + timedelta(days=400))
        bulk_seconds = time.perf_counter() - began
        partitions = spark.read.format("delta").load(store.history_path("year")).select("event_date").distinct().count()
        clock = {"now": START + timedelta(days=400)}

        def hourly(count: int):
            def write(i: int):
                clock["now"] += timedelta(hours=1)
                rows = _rows(spark, count, args.days, 1, hour=(i + 1) % 24)
                rows = rows.withColumn("amount", F.col("amount") + F.lit(1000.0 * (i + 1) + count))
                result = store.write_features(SPEC, rows, now=clock["now"])
                assert result.rows_written > 0, result
            return write

        def rerun(i: int):
            result = store.write_features(SPEC, _rows(spark, 1_000, args.days - 1, 1), now=clock["now"])
            assert result.rows_written == 0, result

        def delete(i: int):
            clock["now"] += timedelta(hours=1)
            store.soft_delete(SPEC, [{"entity_id": 7 + i}], at=clock["now"] - timedelta(minutes=30), now=clock["now"])

        hourly(1_000)(99)  # warm-up: JIT, codegen, Delta log cache
        cases = [("hourly write, 1,000 rows", hourly(1_000)), ("hourly write, 10,000 rows", hourly(10_000)),
                 ("rerun of 1,000 unchanged rows (nothing written)", rerun), ("soft_delete of one key", delete)]
        results = [(name, *measure(spark, action, args.repeats)) for name, action in cases]
        load_end = os.getloadavg()
    finally:
        shutil.rmtree(root, ignore_errors=True)
    lines = [
        f"`benchmarks/small_writes.py --keys {args.keys} --days {args.days} --repeats {args.repeats}`: a group "
        f"of {args.keys:,} keys with {args.days} daily `event_date` partitions of history "
        f"({bulk.rows_written:,} rows, {partitions} partitions; made by one bulk write of "
        f"{bulk_seconds:.0f} s), then small writes on a warm session (one warm-up write first). Spark local[2], "
        "8 shuffle partitions. Median of the repeats; steps and Spark jobs are means per write (jobs counted "
        "from the status tracker's job ids before/after each step).",
        "",
        f"Machine: {machine_info()}; load average {load_start[0]:.1f} at start, {load_end[0]:.1f} at end.",
        "",
        "| write | median s | Spark jobs |",
        "|---|---:|---:|",
    ]
    lines += [f"| {name} | {median:.2f} | {jobs['total']:.0f} |" for name, median, _, jobs in results]
    lines += ["", "Where the time goes (mean s / jobs per write):", "",
              "| step | " + " | ".join(name for name, *_ in results) + " |",
              "|---|" + "---:|" * len(results)]
    step_names = [k for k in results[0][2] if k not in ("total", GC_STEP)] + [GC_STEP]
    for step in step_names:
        cells = [f"{r[2].get(step, 0):.2f} / {r[3].get(step, 0):.0f}" for r in results]
        lines.append(f"| {step} | " + " | ".join(cells) + " |")
    body = "\n".join(lines)
    print(body)
    if not args.no_write:
        write_section("Small writes", body)


if __name__ == "__main__":
    main()
