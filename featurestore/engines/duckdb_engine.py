"""The single-node engine: point-in-time joins and query-time windows in DuckDB over Delta tables read with
delta-rs. Same semantics as the Spark engine (featurestore.engines.pit, featurestore.aggregations.query_time); no JVM.

Inputs: pandas DataFrames or pyarrow Tables (a Spark DataFrame is converted with `toArrow()`); results are
pyarrow Tables in entity-row order.

Query-time windows run in DuckDB for row_count, count, sum, avg, min, max and the variance / stddev family
(window ts - w < t <= ts as an integer-microsecond RANGE frame); a window with `where`, `group_by`, first,
last or approx_count_distinct, or events that are a history (write_time), falls back to the Spark
implementation for that step (`needs_spark`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from featurestore.aggregations.algebra import AGGREGATIONS, Window
from featurestore.durations import to_microseconds
from featurestore.engines.pit import INTERNAL_PREFIX
from featurestore.engines.pit_duckdb import _micros, _q, _relation
from featurestore.errors import SpecError

DUCKDB_WINDOW_AGGS = {"row_count": "count({v})", "count": "count({v})", "sum": "sum({v})", "avg": "avg({v})",
                      "min": "min({v})", "max": "max({v})", "variance": "var_samp({v})",
                      "stddev": "stddev_samp({v})", "variance_pop": "var_pop({v})", "stddev_pop": "stddev_pop({v})"}
_ROW = f"{INTERNAL_PREFIX}row"
_T = f"{INTERNAL_PREFIX}t"
_KIND = f"{INTERNAL_PREFIX}kind"
_INTEGRAL = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "HUGEINT"}


def to_arrow(frame: Any, what: str = "entity DataFrame"):
    """pandas / pyarrow / Spark DataFrame -> something DuckDB reads (Spark is converted with toArrow)."""
    if hasattr(frame, "toArrow") and hasattr(frame, "sparkSession"):
        return frame.toArrow()
    if hasattr(frame, "schema") or hasattr(frame, "iloc"):
        return frame
    raise SpecError(f"{what}: expected a pandas DataFrame, a pyarrow Table or a Spark DataFrame, "
                    f"not {type(frame).__name__}")


def needs_spark(windows: Sequence[Window], event_columns: Sequence[str]) -> list[str]:
    """Why these windows cannot run in DuckDB (empty: they can)."""
    from featurestore.columns import WRITE_TIME

    reasons = []
    if WRITE_TIME in event_columns:
        reasons.append("the events are a history (write_time)")
    for window in windows:
        if window.agg not in DUCKDB_WINDOW_AGGS:
            reasons.append(f"window {window.name!r}: aggregation {window.agg!r}")
        if window.where is not None:
            reasons.append(f"window {window.name!r}: where filter")
        if window.group_by is not None:
            reasons.append(f"window {window.name!r}: group_by")
    return reasons


def aggregate_as_of_duckdb(connection: Any, entity: Any, events: Any, *, keys: Sequence[str],
                           entity_time_column: str, event_time_column: str, windows: Sequence[Window]):
    """Every entity row once, in order, plus one column per window over the same key's events with
    ts - w < event_time <= ts (unbounded: event_time <= ts); row_count/count 0 and the rest null when empty
    or for a null key or ts. A pyarrow Table."""
    entity_rel = _relation(connection, entity, "query-time windows: entity rows")
    events_rel = _relation(connection, events, "query-time windows: events")
    entity_types = dict(zip(entity_rel.columns, map(str, entity_rel.types)))
    event_types = dict(zip(events_rel.columns, map(str, events_rel.types)))
    for column in [*keys, event_time_column]:
        if column not in event_types:
            raise SpecError(f"query-time windows: column {column!r} not found in the events {list(event_types)}")
    taken = [w.name for w in windows if w.name in entity_types]
    if taken:
        raise SpecError(f"query-time windows: output column(s) {taken} are already entity columns")
    values = sorted({w.column for w in windows if w.column is not None})
    missing = [c for c in values if c not in event_types]
    if missing:
        raise SpecError(f"query-time windows: column(s) {missing} not found in the events")
    entity_view, events_view = f"{INTERNAL_PREFIX}qe", f"{INTERNAL_PREFIX}qv"
    entity_rel.create_view(entity_view, replace=True)
    events_rel.create_view(events_view, replace=True)
    value_alias = {c: f"{INTERNAL_PREFIX}v{i}" for i, c in enumerate(values)}
    key_list = ", ".join(_q(k) for k in keys)
    entity_side = (f"SELECT {_ROW}, {', '.join(f'{_q(k)}::{entity_types[k]} AS {_q(k)}' for k in keys)}, "
                   f"{_micros(entity_time_column, entity_types[entity_time_column])} AS {_T}, 1 AS {_KIND}"
                   + "".join(f", NULL::{event_types[c]} AS {a}" for c, a in value_alias.items())
                   + f" FROM {INTERNAL_PREFIX}qrows")
    not_null = " AND ".join([f"{_q(event_time_column)} IS NOT NULL", *(f"{_q(k)} IS NOT NULL" for k in keys)])
    event_side = (f"SELECT NULL::BIGINT, {', '.join(f'{_q(k)}::{entity_types[k]}' for k in keys)}, "
                  f"{_micros(event_time_column, event_types[event_time_column])}, 0"
                  + "".join(f", {_q(c)}" for c in value_alias) + f" FROM {events_view} WHERE {not_null}")
    selected = []
    for window in windows:
        value = "1" if window.column is None else value_alias[window.column]
        expression = DUCKDB_WINDOW_AGGS[window.agg].format(v=f"CASE WHEN {_KIND} = 0 THEN {value} END")
        if window.size is None:
            frame = "RANGE BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW"
        else:
            frame = f"RANGE BETWEEN {to_microseconds(window.size) - 1} PRECEDING AND CURRENT ROW"
        over = f"{expression} OVER (PARTITION BY {key_list} ORDER BY {_T} {frame})"
        output = _output_cast(window, event_types.get(window.column or "", ""))
        empty = "0" if window.agg in ("row_count", "count") else "NULL"
        selected.append(f"CASE WHEN {_T} IS NULL THEN {empty} ELSE {over} END::{output} AS {_q(window.name)}")
    sql = (f"WITH {INTERNAL_PREFIX}qrows AS (SELECT *, row_number() OVER () AS {_ROW} FROM {entity_view}), "
           f"{INTERNAL_PREFIX}u AS ({entity_side} UNION ALL {event_side}), "
           f"{INTERNAL_PREFIX}w AS (SELECT {_ROW}, {_KIND}, {', '.join(selected)} FROM {INTERNAL_PREFIX}u) "
           f"SELECT {', '.join(f'r.{_q(c)}' for c in entity_types)}, "
           f"{', '.join(f'w.{_q(w.name)}' for w in windows)} FROM {INTERNAL_PREFIX}qrows r "
           f"JOIN {INTERNAL_PREFIX}w w ON w.{_KIND} = 1 AND w.{_ROW} = r.{_ROW} ORDER BY r.{_ROW}")
    return connection.sql(sql).to_arrow_table()


def _output_cast(window: Window, input_type: str) -> str:
    """The DuckDB type of a window's output, as the Spark engine types it."""
    kind = AGGREGATIONS[window.agg].output
    if kind == "long":
        return "BIGINT"
    if kind == "double":
        return "DOUBLE"
    if kind == "sum":
        return "BIGINT" if input_type in _INTEGRAL else "DOUBLE"
    return input_type or "DOUBLE"
