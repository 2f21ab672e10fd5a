"""How many partitions a sweep gets: enough that one partition fits a Python worker's memory.

A sweep (`mapInArrow`) holds one whole partition — entity rows and the events of its keys — in a Python
worker, so with a fixed partition count its memory grows with the data (measured: 2.3 GiB peak at 10M events,
11.9 GiB at 100M with 8 partitions). The count is therefore `max(spark.sql.shuffle.partitions,
ceil(estimated input bytes / featurestore.sweep.partitionMB))`, capped at `MAX_PARTITIONS`. The estimate is
Spark's optimizer statistic of the input plan (`sizeInBytes`: Parquet/Delta file bytes of the columns read,
exact for local data); reading it is the one JVM-side call of the engine. On Spark Connect, or when the
statistic is unknown, the shuffle partitions are used. The count changes only memory and speed, never results
(each key's rows stay in one partition whatever the count). `featurestore.sweep.partitionMB` (default 32) is a
session conf: set it with `spark_conf` in the settings (FEATURESTORE_SPARK_CONF) or `spark.conf.set`.
"""

from __future__ import annotations

import math
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

PARTITION_MB_CONF = "featurestore.sweep.partitionMB"
DEFAULT_PARTITION_MB = 32.0  # ~1.5M events read from Parquet per partition: ~1 GB in a Python worker
MAX_PARTITIONS = 20_000
UNKNOWN_SIZE = 2 ** 62  # Spark's stand-in for "no statistic" is Long.MaxValue (or close to it)


def estimated_bytes(df: DataFrame) -> int | None:
    """Spark's size estimate of the plan's output, or None (Spark Connect, no statistic)."""
    try:
        size = int(str(df._jdf.queryExecution().optimizedPlan().stats().sizeInBytes()))  # py4j: int or BigInt
    except Exception:  # Spark Connect DataFrames have no JVM handle
        return None
    return size if 0 < size < UNKNOWN_SIZE else None


def partition_bytes(spark: SparkSession) -> float:
    """The target bytes per sweep partition (session conf `featurestore.sweep.partitionMB`, default 32)."""
    raw = spark.conf.get(PARTITION_MB_CONF, None)
    if raw is None:
        return DEFAULT_PARTITION_MB * 2 ** 20
    try:
        value = float(raw)
    except ValueError:
        value = 0.0
    if not value > 0:
        raise ValueError(f"{PARTITION_MB_CONF} must be a positive number of megabytes, got {raw!r}")
    return value * 2 ** 20


def sweep_partitions(df: DataFrame) -> int:
    """The partition count for a sweep over `df` (see the module docstring)."""
    configured = int(df.sparkSession.conf.get("spark.sql.shuffle.partitions"))
    size = estimated_bytes(df)
    if size is None:
        return configured
    return max(configured, min(MAX_PARTITIONS, math.ceil(size / partition_bytes(df.sparkSession))))
