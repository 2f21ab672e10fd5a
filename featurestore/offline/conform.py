"""Conforming a group's transform output to its declared schema before anything is written."""

from __future__ import annotations

from datetime import datetime, timezone
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from featurestore.columns import EVENT_TIME
from featurestore.errors import DataValidationError, SchemaMismatchError
from featurestore.offline.spark_times import utc_date
from featurestore.times import from_micros, to_micros
from featurestore.types import SAFE_CASTS, dtype_name, spark_type

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from featurestore.spec import FeatureGroupSpec

# Event times a group can hold: every engine on the read path (Spark, Parquet, Python, pandas' nanosecond
# datetimes used by the PIT and aggregation engines) represents them exactly; year 1 or 9999 sit at the edge of
# Python's datetime and outside pandas', so they are refused with this range rather than failing later.
MIN_EVENT_TIME = datetime(1900, 1, 1, tzinfo=timezone.utc)
MAX_EVENT_TIME = datetime(2262, 1, 1, tzinfo=timezone.utc)
MIN_EVENT_MICROS, MAX_EVENT_MICROS = to_micros(MIN_EVENT_TIME), to_micros(MAX_EVENT_TIME) - 1


def conform(spec: FeatureGroupSpec, df: DataFrame) -> DataFrame:
    """Check `df` against `spec` and return keys, event_time and features in spec order, exactly typed.

    Raises SchemaMismatchError for a missing, extra or wrongly typed column (safe widenings such as
    int -> long are applied), naming the group and the column. Null keys and event times are checked by
    `check_rows`.
    """
    group = spec.name
    types = {f.name: dtype_name(f.dataType) for f in df.schema.fields}
    expected = {spec.event_time_column: "timestamp", **{c.name: c.dtype for c in spec.keys + spec.features}}
    missing = [name for name in expected if name not in types]
    if missing:
        raise SchemaMismatchError(f"feature group {group!r}: column(s) {missing} missing from the data "
                                  f"(it has {sorted(types)})")
    extra = sorted(set(types) - set(expected))
    if extra:
        raise SchemaMismatchError(f"feature group {group!r}: unexpected column(s) {extra}; declare them as "
                                  "features or drop them in the transform")
    selected = []
    for name, dtype in expected.items():
        actual = types[name]
        if actual == "timestamp_ntz" and dtype == "timestamp":
            raise SchemaMismatchError(f"feature group {group!r}: column {name!r} is a timezone-naive timestamp; "
                                      "convert it to UTC explicitly (e.g. F.to_utc_timestamp(col, zone))")
        if actual != dtype and actual not in SAFE_CASTS.get(dtype, set()):
            raise SchemaMismatchError(f"feature group {group!r}: column {name!r} has type {actual}, "
                                      f"declared {dtype}")
        column = F.col(name) if actual == dtype else F.col(name).cast(spark_type(dtype))
        selected.append(column.alias(EVENT_TIME if name == spec.event_time_column else name))
    return df.select(*selected)


def check_rows(spec: FeatureGroupSpec, df: DataFrame) -> dict:
    """`row_stats` then `check_duplicates`: every check of conformed rows, in Spark."""
    stats = row_stats(spec, df)
    check_duplicates(spec, df)
    return stats


def row_stats(spec: FeatureGroupSpec, df: DataFrame) -> dict:
    """One aggregate over conformed rows: counts, time range (UTC, as aware datetimes), the UTC event dates;
    raise on null keys/times or event times Spark cannot store."""
    keys = spec.key_names
    null_checks = [F.sum(F.col(c).isNull().cast("long")).alias(f"null__{c}") for c in keys + [EVENT_TIME]]
    stats = df.agg(F.count(F.lit(1)).alias("rows"), F.min(F.unix_micros(EVENT_TIME)).alias("min_micros"),
                   F.max(F.unix_micros(EVENT_TIME)).alias("max_micros"),
                   F.array_sort(F.collect_set(utc_date(EVENT_TIME))).alias("dates"), *null_checks).first().asDict()
    return checked_stats(spec, stats)


def checked_stats(spec: FeatureGroupSpec, stats: dict) -> dict:
    """`stats` (rows, min/max_micros, sorted UTC dates, null__<column> counts) checked, with min/max_time."""
    keys = spec.key_names
    for column in keys + [EVENT_TIME]:
        nulls = stats[f"null__{column}"]
        if nulls:
            name = spec.event_time_column if column == EVENT_TIME else column
            raise DataValidationError(f"feature group {spec.name!r}: {nulls} row(s) with null {name!r}; "
                                      "nothing was written")
    for bound in ("min_micros", "max_micros"):
        micros = stats[bound]
        if micros is not None and not MIN_EVENT_MICROS <= micros <= MAX_EVENT_MICROS:
            raise DataValidationError(
                f"feature group {spec.name!r}: {spec.event_time_column!r} {_describe_micros(micros)} is outside "
                f"the supported range [{MIN_EVENT_TIME.isoformat()}, {MAX_EVENT_TIME.isoformat()}); "
                "nothing was written")
    stats["min_time"], stats["max_time"] = from_micros(stats["min_micros"]), from_micros(stats["max_micros"])
    return stats


def check_duplicates(spec: FeatureGroupSpec, df: DataFrame) -> None:
    """Raise if two rows share a key and event time (one grouped scan)."""
    keys = spec.key_names
    duplicate = (df.groupBy(*keys, EVENT_TIME).count().filter("count > 1").limit(1)
                 .select(*keys, F.unix_micros(EVENT_TIME).alias(EVENT_TIME), "count").collect())
    if duplicate:
        example = {k: duplicate[0][k] for k in keys}
        example[spec.event_time_column] = from_micros(duplicate[0][EVENT_TIME])
        raise duplicate_error(spec, example, duplicate[0]["count"])


def duplicate_error(spec: FeatureGroupSpec, example: dict, count: int) -> DataValidationError:
    """The error for several rows of one key and event time (`example`: the key values and the time)."""
    example = {**example, spec.event_time_column: example[spec.event_time_column].isoformat()}
    return DataValidationError(f"feature group {spec.name!r}: several rows for the same key and "
                               f"{spec.event_time_column!r} in one write, e.g. {example} ({count} rows); "
                               "nothing was written")


def _describe_micros(micros: int) -> str:
    try:
        return from_micros(micros).isoformat()
    except (OverflowError, ValueError):
        return f"({micros} microseconds from 1970-01-01 UTC)"
