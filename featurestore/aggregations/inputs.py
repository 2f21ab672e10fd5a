"""Spark side of the engine: validate windows against a schema, derive engine columns, cast results back."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timezone

from pyspark.errors import AnalysisException
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from featurestore.aggregations.algebra import MOMENT_AGGS, Window
from featurestore.aggregations.plan import (DEL, ROWS, WT, SourcePlan, Stream, WindowPlan, bucket_col,
                                            flag_col, tile_col, value_col)
from featurestore.aggregations.plan import T as TIME
from featurestore.columns import IS_DELETED, WRITE_TIME
from featurestore.durations import to_microseconds
from featurestore.errors import SpecError

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
INTEGRAL = (T.ByteType, T.ShortType, T.IntegerType, T.LongType)
FRACTIONAL = (T.FloatType, T.DoubleType, T.DecimalType)
ENCODED_INT = (T.BooleanType, T.DateType, T.TimestampType)


def micros(moment: datetime | str) -> int:
    """Microseconds since the epoch, by the one UTC rule (featurestore.times: naive means UTC)."""
    from featurestore.times import to_utc

    return to_microseconds(to_utc(moment, "as_known_at") - EPOCH)


def value_kind(data_type: T.DataType) -> str | None:
    """How the sweep sees a column type: 'int', 'float', 'str' or None (unsupported)."""
    if isinstance(data_type, INTEGRAL + ENCODED_INT):
        return "int"
    if isinstance(data_type, FRACTIONAL):
        return "float"
    if isinstance(data_type, T.StringType):
        return "str"
    return None


def encode(column: Column, data_type: T.DataType) -> Column:
    """Column -> the sweep's representation (long, double or string)."""
    if isinstance(data_type, T.BooleanType):
        return column.cast("long")
    if isinstance(data_type, T.DateType):
        return F.unix_date(column).cast("long")
    if isinstance(data_type, T.TimestampType):
        return F.unix_micros(column)
    if isinstance(data_type, INTEGRAL):
        return column.cast("long")
    if isinstance(data_type, FRACTIONAL):
        return column.cast("double")
    return column


def decode(column: Column, data_type: T.DataType) -> Column:
    """The sweep's representation -> the input type (decimal stays double)."""
    if isinstance(data_type, T.DateType):
        return F.date_from_unix_date(column.cast("int"))
    if isinstance(data_type, T.TimestampType):
        return F.timestamp_micros(column)
    if isinstance(data_type, (T.BooleanType,) + INTEGRAL) or isinstance(data_type, T.FloatType):
        return column.cast(data_type)
    return column


def _decoder(data_type: T.DataType) -> Callable[[Column, Column], Column]:
    def decode_value(_key: Column, value: Column) -> Column:
        return decode(value, data_type)
    return decode_value


@dataclass
class Prepared:
    """Everything the Spark side hands to, and takes back from, the sweep."""

    sources: list[SourcePlan]
    windows: list[WindowPlan]
    event_columns: list[Column]                      # value / flag / bucket columns of raw events
    tile_aggregates: list[Column] = field(default_factory=list)
    python_fields: list[T.StructField] = field(default_factory=list)   # window columns out of the sweep
    final_columns: list[Column] = field(default_factory=list)          # the same, cast to output types


def _where_column(events: DataFrame, window: Window) -> Column:
    what = f"window {window.name!r}"
    try:
        where = F.expr(window.where) if isinstance(window.where, str) else window.where
        data_type = events.select(where.alias("w")).schema["w"].dataType
    except AnalysisException as error:
        raise SpecError(f"{what}: where {window.where!s} cannot be evaluated: {error}") from None
    except Exception as error:  # parse errors come as other pyspark exceptions
        if type(error).__name__.endswith(("ParseException", "AnalysisException")):
            raise SpecError(f"{what}: where {window.where!s} cannot be evaluated: {error}") from None
        raise
    if not isinstance(data_type, T.BooleanType):
        raise SpecError(f"{what}: where must be a boolean condition, got type {data_type.simpleString()}")
    return where


def prepare(events: DataFrame, windows: Sequence[Window], stream_of: Callable[[Window], Stream],
            tie_column: str | None = None) -> Prepared:
    """Check each window against the events' schema and plan its source, stream and output type.

    `tie_column` (the engine's event-id column) orders equal-time events in Spark-built first/last tiles."""
    schema = {f.name: f.dataType for f in events.schema.fields}
    sources: dict[tuple, SourcePlan] = {}
    event_columns: dict[str, Column] = {}
    plans, fields, finals = [], [], []
    for index, window in enumerate(windows):
        what = f"window {window.name!r}"
        aggregation = window.aggregation
        for name in filter(None, (window.column, window.group_by)):
            if name not in schema:
                raise SpecError(f"{what}: events have no column {name!r}; they have {sorted(schema)}")
        data_type = schema.get(window.column) if window.agg != "row_count" else None
        kind = "none" if data_type is None else value_kind(data_type)
        if kind is None:
            raise SpecError(f"{what}: cannot aggregate column {window.column!r} of type "
                            f"{data_type.simpleString()}")
        if aggregation.numeric_only and not isinstance(data_type, INTEGRAL + FRACTIONAL):
            raise SpecError(f"{what}: {window.agg} needs a numeric column; {window.column!r} is "
                            f"{data_type.simpleString()}")
        where = _where_column(events, window) if window.where is not None else None
        source_key = (None if kind == "none" else window.column, None if where is None else str(where))
        if source_key not in sources:
            source = SourcePlan(len(sources), kind, where is not None)
            sources[source_key] = source
            if kind != "none":
                value = F.col(window.column)
                value = F.when(where, value) if where is not None else value
                event_columns[value_col(source.index)] = encode(value, data_type)
            if where is not None:
                event_columns[flag_col(source.index)] = F.coalesce(where, F.lit(False))
        source = sources[source_key]
        if window.group_by is not None:
            event_columns[bucket_col(index)] = F.col(window.group_by)
        output = {"long": "long", "double": "double", "input": kind if kind == "str" else None,
                  "sum": "long" if kind == "int" else "double"}[aggregation.output]
        if output is None:
            output = "long" if kind == "int" else "double"
        plan = WindowPlan(index, window.name, window.agg, window.size_micros, source,
                          stream_of(window), window.group_by is not None, output)
        plans.append(plan)
        python_type = {"long": T.LongType(), "double": T.DoubleType(), "str": T.StringType()}[output]
        result = F.col(window.name)
        if plan.bucketed:
            python_type = T.MapType(schema[window.group_by], python_type, valueContainsNull=True)
            if aggregation.output == "input":
                result = F.transform_values(result, _decoder(data_type))
        elif aggregation.output == "input":
            result = decode(result, data_type)
        fields.append(T.StructField(window.name, python_type, True))
        finals.append(result.alias(window.name))
    prepared = Prepared(list(sources.values()), plans, [c.alias(n) for n, c in event_columns.items()],
                        python_fields=fields, final_columns=finals)
    prepared.tile_aggregates = tile_aggregates([p for p in plans if p.stream == "tile"], tie_column)
    return prepared


def tile_aggregates(plans: Sequence[WindowPlan], tie_column: str | None = None) -> list[Column]:
    """Partial aggregates per (key, period) for the windows computed from tiles."""
    columns: dict[str, Column] = {ROWS: F.count(F.lit(1))}
    for plan in plans:
        source = plan.source
        d = source.index
        value = F.col(value_col(d))
        if source.filtered:
            columns[tile_col("nr", d)] = F.sum(F.col(flag_col(d)).cast("long"))
        if source.kind == "none":
            continue
        columns[tile_col("n", d)] = F.count(value)
        if plan.agg in ("sum", "avg"):
            columns[tile_col("s", d)] = F.sum(value)
        if plan.agg in MOMENT_AGGS:
            columns[tile_col("m", d)] = F.avg(value)
            columns[tile_col("q", d)] = F.var_pop(value) * F.count(value)
        if plan.agg in ("min", "max"):
            columns[tile_col("mn" if plan.agg == "min" else "mx", d)] = getattr(F, plan.agg)(value)
        if plan.agg in ("first", "last"):
            order = [F.col(TIME).alias("t")] + ([F.col(tie_column).alias("id")] if tie_column else [])
            pair = F.when(value.isNotNull(), F.struct(*order, value.alias("v")))
            edge = F.min(pair) if plan.agg == "first" else F.max(pair)
            columns[tile_col("f" if plan.agg == "first" else "l", d)] = edge.getField("v")
    return [c.alias(n) for n, c in columns.items()]


def history_columns(events: DataFrame) -> list[Column]:
    """Write time (µs) and deletion flag of history events, or [] for plain events."""
    names = set(events.columns)
    if WRITE_TIME not in names:
        return []
    deleted = F.coalesce(F.col(IS_DELETED), F.lit(False)) if IS_DELETED in names else F.lit(False)
    return [F.unix_micros(F.col(WRITE_TIME)).alias(WT), deleted.alias(DEL)]


def check_keys(df: DataFrame, keys: Sequence[str], what: str) -> list[str]:
    """Keys as a list; SpecError if empty or missing from `df`."""
    keys = list(keys)
    if not keys or any(not isinstance(k, str) for k in keys):
        raise SpecError(f"{what}: keys must be a non-empty list of column names, not {keys!r}")
    missing = [k for k in keys if k not in df.columns]
    if missing:
        raise SpecError(f"{what}: key column(s) {missing} missing; columns are {df.columns}")
    return keys


def check_time(df: DataFrame, name: str, what: str) -> None:
    """SpecError unless `name` is a timestamp column of `df`."""
    if name not in df.columns:
        raise SpecError(f"{what}: no time column {name!r}; columns are {df.columns}")
    data_type = df.schema[name].dataType
    if not isinstance(data_type, T.TimestampType):
        raise SpecError(f"{what}: time column {name!r} must be a timestamp, not {data_type.simpleString()}")
