"""What a check of written partitions looks at: their rows, the reference window before them, samples.

A group's partition [s, e) holds the snapshots its transform takes at the end of each grain period, so
its rows are the history rows with s < event_time <= e. A check reads the current version of each
(key, event_time) (the newest write_time; rows sharing it are all kept, so duplicate writes stay visible
to the uniqueness check) and leaves out soft-delete markers, which carry no feature values.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

from featurestore.columns import EVENT_DATE, EVENT_TIME, IS_DELETED, WRITE_TIME
from quality import Level
from quality.drift import NULL_RATE, DriftOutcome
from quality.expectations import ExpectationSpec

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from featurestore.spec import FeatureGroupSpec

ROW_COUNT_TYPE = "ExpectTableRowCountToBeBetween"
_KEY_FORMAT = {"daily": "%Y-%m-%d", "hourly": "%Y-%m-%d-%H:%M"}


def partition_rows(history: DataFrame, spec: FeatureGroupSpec, start: datetime, end: datetime) -> DataFrame:
    """Current, non-deleted rows of the partitions [start, end) of `history` (all stored columns but the
    event_date partition column)."""
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    window = history.filter(F.col(EVENT_DATE).between(start.date(), end.date())
                            & (F.col(EVENT_TIME) > F.lit(start)) & (F.col(EVENT_TIME) <= F.lit(end)))
    newest = F.rank().over(Window.partitionBy(*spec.key_names, EVENT_TIME).orderBy(F.col(WRITE_TIME).desc()))
    return (window.withColumn("__rank", newest).filter("__rank = 1").drop("__rank")
            .filter(~F.col(IS_DELETED)).drop(EVENT_DATE))


def reference_window(spec: FeatureGroupSpec, start: datetime, length: timedelta) -> tuple[datetime, datetime]:
    """The partitions [ref_start, start) of `length` just before `start`, clipped at the group's start."""
    return max(start - length, min(spec.start_time, start)), start


def partition_count(spec: FeatureGroupSpec, start: datetime, end: datetime) -> int:
    """How many partitions of the group's grain [start, end) spans."""
    return max(int((end - start) / spec.step), 0)


def partition_label(spec: FeatureGroupSpec, start: datetime, end: datetime) -> str:
    """Partition key(s) of [start, end) as Dagster writes them: '2026-10-09' or '2026-10-01..2026-10-09'."""
    first, last = partition_keys_bounds(spec, start, end)
    return first if first == last else f"{first}..{last}"


def partition_keys_bounds(spec: FeatureGroupSpec, start: datetime, end: datetime) -> tuple[str, str]:
    """First and last partition key in [start, end) (equal for one partition)."""
    fmt = _KEY_FORMAT[spec.grain]
    return start.strftime(fmt), max(start, end - spec.step).strftime(fmt)


def per_window(checks: Sequence[ExpectationSpec], partitions: int) -> list[ExpectationSpec]:
    """`checks` with row-count bounds (declared per partition) scaled to a window of `partitions`."""
    if partitions <= 1:
        return list(checks)
    scaled = []
    for check in checks:
        if check.expectation_type == ROW_COUNT_TYPE:
            kwargs = {k: (v * partitions if k in ("min_value", "max_value") and v is not None else v)
                      for k, v in check.kwargs.items()}
            check = replace(check, kwargs=kwargs)
        scaled.append(check)
    return scaled


def profile(df: DataFrame, features: Sequence[str]) -> tuple[int, int, dict[str, int]]:
    """One pass: rows, distinct snapshot times (partitions) and non-null values per feature."""
    from pyspark.sql import functions as F

    row = df.agg(F.count(F.lit(1)).alias("__rows"), F.countDistinct(EVENT_TIME).alias("__parts"),
                 *[F.count(F.col(f)).alias(f) for f in features]).first()
    return int(row["__rows"]), int(row["__parts"]), {f: int(row[f]) for f in features}


def gate_small_samples(outcomes: Sequence[DriftOutcome], current: tuple[int, dict[str, int]],
                       reference: tuple[int, dict[str, int]], min_rows: int) -> list[DriftOutcome]:
    """Outcomes with too little data to mean anything marked OK with a 'not evaluated' note: a feature's
    distribution statistics when either side has fewer than `min_rows` non-null values, its null-rate
    change when either side has fewer than `min_rows` rows. (`current` / `reference`: rows and non-null
    values per feature.) Row volume is always kept."""
    gated = []
    for outcome in outcomes:
        if outcome.feature is not None:
            if outcome.statistic == NULL_RATE:
                have = min(current[0], reference[0])
                what = "rows"
            else:
                have = min(current[1].get(outcome.feature, 0), reference[1].get(outcome.feature, 0))
                what = "non-null values"
            if have < min_rows:
                note = f"not evaluated: {have} {what} on one side (< {min_rows})"
                outcome = replace(outcome, level=Level.OK, note=note)
        gated.append(outcome)
    return gated


def offending_rows(df: DataFrame, check: ExpectationSpec, key_columns: Sequence[str],
                   limit: int = 5) -> list[dict[str, Any]]:
    """Up to `limit` rows (keys, event_time, the column) that break a column-value check: not-null, between,
    in-set. Empty for other kinds of check (GX's partial_unexpected_list has their values)."""
    from pyspark.sql import functions as F

    column = check.kwargs.get("column")
    if not isinstance(column, str) or column not in df.columns:
        return []
    value = F.col(column)
    kind = check.expectation_type
    if kind == "ExpectColumnValuesToNotBeNull":
        condition = value.isNull()
    elif kind == "ExpectColumnValuesToBeBetween":
        low, high = check.kwargs.get("min_value"), check.kwargs.get("max_value")
        strict_low, strict_high = check.kwargs.get("strict_min", False), check.kwargs.get("strict_max", False)
        condition = F.lit(False)
        if low is not None:
            condition = condition | ((value <= F.lit(low)) if strict_low else (value < F.lit(low)))
        if high is not None:
            condition = condition | ((value >= F.lit(high)) if strict_high else (value > F.lit(high)))
        condition = value.isNotNull() & condition
    elif kind == "ExpectColumnValuesToBeInSet":
        condition = value.isNotNull() & ~value.isin(list(check.kwargs.get("value_set", [])))
    else:
        return []
    columns = list(dict.fromkeys([*key_columns, EVENT_TIME, column]))
    rows = df.filter(condition).select(*[c for c in columns if c in df.columns]).limit(limit).collect()
    return [{k: (v.isoformat() if hasattr(v, "isoformat") else v) for k, v in row.asDict().items()}
            for row in rows]


__all__ = ["gate_small_samples", "offending_rows", "profile", "partition_count", "partition_keys_bounds", "partition_label", "partition_rows",
           "per_window", "reference_window"]
