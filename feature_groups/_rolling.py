"""Rolling counts and averages at snapshot times, in plain Spark (exact; each event fans out to the
snapshots whose window holds it)."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import timedelta

from pyspark.sql import DataFrame
from pyspark.sql import functions as F

from featurestore.columns import EVENT_TIME
from featurestore.spec import TransformInput


def rolling_count_avg(ctx: TransformInput, events: DataFrame, key: str, value: str,
                      windows: Mapping[str, timedelta]) -> DataFrame:
    """One row per (key, snapshot s) with count and avg of `value` over s - w <= time < s for each window.

    `windows` maps a suffix (e.g. '1d') to its size; a key gets a row at s when its largest window holds an event.
    """
    times = ctx.snapshot_times()
    step = int((times[0] - ctx.start).total_seconds())
    largest = int(max(windows.values()).total_seconds())
    seconds = F.col("event_time").cast("long")
    first = (F.floor(seconds / step) + 1) * step
    last = F.least(F.floor((seconds + largest) / step) * step, F.lit(int(times[-1].timestamp())))
    first = F.greatest(first, F.lit(int(times[0].timestamp())))
    fanned = (events.select(key, "event_time", value).filter(first <= last)
              .withColumn("snap", F.explode(F.sequence(first, last, F.lit(step))))
              .withColumn("age", F.col("snap") - seconds))
    aggregates = []
    for suffix, size in windows.items():
        inside = F.col("age") <= int(size.total_seconds())
        aggregates += [F.count(F.when(inside, True)).alias(f"num_trans_last_{suffix}"),
                       F.avg(F.when(inside, F.col(value).cast("decimal(18,2)"))).cast("double").alias(f"avg_amt_last_{suffix}")]
    return (fanned.groupBy(key, "snap").agg(*aggregates)
            .withColumn(EVENT_TIME, F.timestamp_seconds("snap")).drop("snap"))
