"""Single-node point-in-time join on DuckDB: same semantics and FeatureQuery as featurestore.engines.pit.

Inputs are pandas DataFrames, pyarrow Tables or Parquet paths (a file, a directory's glob, or a list of
files); the output is a pyarrow Table: every entity row once, in input order, entity columns then features.
Per group the history is filtered (as-known-at, null keys/times), reduced to the newest write per
(key, event_time), then joined with DuckDB's ASOF LEFT JOIN on the keys and ``ts >= event_time`` (equal is
visible); deletes and the TTL are applied to the matched row. Times are compared as exact UTC microseconds,
naive timestamps meaning UTC. Meant for a training set that fits one machine, where it is several times
faster than Spark (see BENCHMARKS.md).
"""

from __future__ import annotations

import os
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from featurestore.columns import EVENT_TIME, IS_DELETED, WRITE_TIME
from featurestore.durations import to_microseconds
from featurestore.engines.pit import INTERNAL_PREFIX, FeatureQuery, _utc, resolve_output_names
from featurestore.errors import SpecError

_ROW = f"{INTERNAL_PREFIX}row"
_TS_US = f"{INTERNAL_PREFIX}ts_us"
_ET_US = f"{INTERNAL_PREFIX}et_us"
_INTEGRAL = {"TINYINT", "SMALLINT", "INTEGER", "BIGINT", "UTINYINT", "USMALLINT", "UINTEGER", "UBIGINT", "HUGEINT"}


def point_in_time_join_duckdb(entity: Any, queries: Sequence[FeatureQuery], *, timestamp_column: str = "ts",
                              as_known_at: datetime | str | None = None, threads: int | None = None,
                              connection: Any = None, full_feature_names: bool = False):
    """Point-in-time join of `entity` (pandas/arrow/Parquet) with each query's history; returns a pyarrow Table.

    `threads` caps DuckDB's threads; `connection` reuses a DuckDB connection (one is made otherwise).
    Raises SpecError like featurestore.engines.pit.point_in_time_join.
    """
    import duckdb

    queries = list(queries)
    own = connection is None
    con = duckdb.connect() if own else connection
    try:
        if threads:
            con.execute(f"SET threads = {int(threads)}")
        entity_rel = _relation(con, entity, "entity DataFrame")
        entity_types = dict(zip(entity_rel.columns, map(str, entity_rel.types)))
        _check_entity(entity_types, timestamp_column)
        outputs = resolve_output_names(list(entity_types), queries, full_feature_names=full_feature_names)
        cutoff = _utc(as_known_at)
        entity_rel.create_view(f"{INTERNAL_PREFIX}entity", replace=True)
        ctes = [f"{INTERNAL_PREFIX}e AS (SELECT *, row_number() OVER () AS {_ROW}, "
                f"{_micros(timestamp_column, entity_types[timestamp_column])} AS {_TS_US} FROM {INTERNAL_PREFIX}entity)"]
        joins, selected = [], []
        for g, (query, names) in enumerate(zip(queries, outputs)):
            history = _relation(con, query.history, f"group {query.group!r}: history")
            history_types = dict(zip(history.columns, map(str, history.types)))
            _check_history(query, entity_types, history_types)
            view = f"{INTERNAL_PREFIX}h{g}_src"
            history.create_view(view, replace=True)
            ctes.append(_newest_rows_cte(g, view, query, history_types, cutoff))
            alias = f"{INTERNAL_PREFIX}h{g}"
            on = " AND ".join([f"e.{_q(k)} = {alias}.{_q(k)}" for k in query.keys] + [f"e.{_TS_US} >= {alias}.{_ET_US}"])
            joins.append(f"ASOF LEFT JOIN {alias} ON {on}")
            visible = f"NOT coalesce({alias}.{_q(IS_DELETED)}, false)"
            if query.ttl is not None:
                visible += f" AND e.{_TS_US} - {alias}.{_ET_US} <= {to_microseconds(query.ttl)}"
            selected += [f"CASE WHEN {visible} THEN {alias}.{_q(f)} END AS {_q(names[f])}" for f in query.features]
        entity_columns = ", ".join(f"e.{_q(c)}" for c in entity_types)
        sql = (f"WITH {', '.join(ctes)} SELECT {', '.join([entity_columns, *selected])} "
               f"FROM {INTERNAL_PREFIX}e e {' '.join(joins)} ORDER BY e.{_ROW}")
        return con.sql(sql, params={"cutoff": cutoff} if cutoff is not None else None).to_arrow_table()
    finally:
        if own:
            con.close()


def _newest_rows_cte(g: int, view: str, query: FeatureQuery, types: dict[str, str], cutoff: datetime | None) -> str:
    """The group's history reduced to the newest write per (key, event_time), with event time in micros."""
    keys = ", ".join(_q(k) for k in query.keys)
    conditions = [f"{_q(EVENT_TIME)} IS NOT NULL", *(f"{_q(k)} IS NOT NULL" for k in query.keys)]
    if cutoff is not None:
        conditions.append(f"{_micros(WRITE_TIME, types[WRITE_TIME])} <= epoch_us($cutoff::TIMESTAMPTZ)")
    columns = ", ".join(_q(c) for c in (*query.keys, IS_DELETED, *query.features))
    return (f"{INTERNAL_PREFIX}h{g} AS (SELECT {columns}, {_micros(EVENT_TIME, types[EVENT_TIME])} AS {_ET_US} "
            f"FROM {view} "
            f"WHERE {' AND '.join(conditions)} QUALIFY row_number() OVER (PARTITION BY {keys}, {_q(EVENT_TIME)} "
            f"ORDER BY {_q(WRITE_TIME)} DESC NULLS LAST) = 1)")


def _relation(con, source: Any, what: str):
    """A DuckDB relation over a pandas DataFrame, pyarrow Table/Dataset, Parquet path or list of paths (or a
    DuckDB relation of the same connection, used as is)."""
    if type(source).__name__ == "DuckDBPyRelation":
        return source
    if isinstance(source, (str, os.PathLike)):
        return con.read_parquet(str(source))
    if isinstance(source, (list, tuple)) and source and all(isinstance(s, (str, os.PathLike)) for s in source):
        return con.read_parquet([str(s) for s in source])
    try:
        return con.from_arrow(source) if hasattr(source, "schema") and not hasattr(source, "iloc") \
            else con.from_df(source)
    except Exception as error:  # noqa: BLE001 - any unreadable input is a spec error for the caller
        raise SpecError(f"{what}: cannot read {type(source).__name__} (give pandas, pyarrow or Parquet paths)") \
            from error


def _is_timestamp(duck_type: str) -> bool:
    return duck_type.startswith("TIMESTAMP")


def _check_entity(types: dict[str, str], ts: str) -> None:
    if ts not in types:
        raise SpecError(f"entity DataFrame: timestamp column {ts!r} not found in {list(types)}")
    if not _is_timestamp(types[ts]):
        raise SpecError(f"entity DataFrame: timestamp column {ts!r} must be a timestamp, not {types[ts]}")
    reserved = [c for c in types if c.startswith(INTERNAL_PREFIX)]
    if reserved:
        raise SpecError(f"entity DataFrame: columns {reserved} use the reserved prefix {INTERNAL_PREFIX!r}")


def _check_history(query: FeatureQuery, entity: dict[str, str], history: dict[str, str]) -> None:
    for column in query.keys:
        if column not in entity:
            raise SpecError(f"group {query.group!r}: key column {column!r} not found in the entity DataFrame")
    for column in (*query.keys, EVENT_TIME, WRITE_TIME, IS_DELETED, *query.features):
        if column not in history:
            raise SpecError(f"group {query.group!r}: column {column!r} not found in its history DataFrame")
    for column in (EVENT_TIME, WRITE_TIME):
        if not _is_timestamp(history[column]):
            raise SpecError(f"group {query.group!r}: history column {column!r} must be timestamp, "
                            f"not {history[column]}")
    if history[IS_DELETED] != "BOOLEAN":
        raise SpecError(f"group {query.group!r}: history column {IS_DELETED!r} must be boolean, "
                        f"not {history[IS_DELETED]}")
    for column in query.keys:
        left, right = entity[column], history[column]
        if left != right and not (left in _INTEGRAL and right in _INTEGRAL):
            raise SpecError(f"group {query.group!r}: key column {column!r} is {left} in the entity "
                            f"DataFrame but {right} in the history")


def _micros(column: str, duck_type: str) -> str:
    """Exact UTC epoch microseconds of a timestamp column (naive means UTC; nanoseconds truncated)."""
    if duck_type in ("TIMESTAMP", "TIMESTAMP_NS", "TIMESTAMP WITH TIME ZONE"):
        return f"epoch_us({_q(column)})"
    zoned = "TZ" in duck_type or "TIME ZONE" in duck_type
    return f"epoch_us(CAST({_q(column)} AS {'TIMESTAMPTZ' if zoned else 'TIMESTAMP'}))"


def _q(name: str) -> str:
    """A quoted SQL identifier."""
    return '"' + name.replace('"', '""') + '"'
