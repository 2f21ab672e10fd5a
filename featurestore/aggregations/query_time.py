"""Query-time (Zipline-style temporal) aggregation: windows as of each entity row's timestamp.

Entity rows and events are unioned and shuffled once by key; each partition's sweep sorts events by
(key, time), resolves history versions, and answers every entity row's windows ts - w < t <= ts with
binary searches and prefix / sparse-table lookups (no range join).
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass
from datetime import datetime

import numpy as np
import pyarrow as pa
from pyspark.sql import DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from featurestore.aggregations import kernels as K
from featurestore.aggregations.algebra import Window, check_windows
from featurestore.aggregations.event_ids import event_id_columns, resolve_event_ids, tie_ranks
from featurestore.aggregations.inputs import (check_keys, check_time, history_columns, micros, prepare)
from featurestore.aggregations.partition import (evaluate, key_codes, read_partition, sorted_items,
                                                 to_batches)
from featurestore.aggregations.plan import DEL, EID, KIND, WT, WindowPlan
from featurestore.aggregations.plan import T as TIME
from featurestore.aggregations.sizing import sweep_partitions
from featurestore.aggregations.sweep import column, filled
from featurestore.columns import EVENT_TIME, WRITE_TIME
from featurestore.errors import SpecError


@dataclass(frozen=True)
class AsOfPlan:
    """What each partition's sweep needs."""

    keys: tuple[str, ...]
    entity_columns: tuple[str, ...]
    windows: tuple[WindowPlan, ...]
    history: bool                        # resolve versions per (key, time) in the sweep
    event_ids: bool = False              # versions already resolved per id; equal times ordered by id


def aggregate_as_of(entity_df: DataFrame, events: DataFrame, *, keys: Sequence[str],
                    entity_time_column: str = "ts", event_time_column: str = EVENT_TIME,
                    windows: Sequence[Window], as_known_at: datetime | None = None,
                    event_id_column: str | None = None) -> DataFrame:
    """Every entity row exactly once (duplicates and extra columns kept) plus one column per window.

    A window covers the same key's events with ts - w < event_time <= ts (unbounded: event_time <= ts);
    row_count / count are 0 and other aggregations null when it is empty, and for entity rows with a
    null key or ts. History events (with `write_time`, optional `is_deleted`) count only the latest
    version per (key, event_time) with write_time <= as_known_at (if given); a delete-marker version
    removes the event at exactly that (key, event_time). Naive `as_known_at` is taken as UTC.
    With `event_id_column`, versions resolve per event id instead (a correction that moves an event's
    time replaces it) and equal-time events are ordered by id (featurestore.aggregations.event_ids).
    """
    what = "aggregate_as_of"
    keys = check_keys(entity_df, keys, what)
    check_keys(events, keys, f"{what}: events")
    check_time(entity_df, entity_time_column, what)
    check_time(events, event_time_column, f"{what}: events")
    windows = check_windows(windows, reserved=list(entity_df.columns))
    history = history_columns(events)
    if as_known_at is not None and not history:
        raise SpecError(f"{what}: as_known_at needs events with a {WRITE_TIME!r} column")
    event_id = event_id_columns(events, event_id_column, what)
    prepared = prepare(events, windows, lambda window: "event")
    plan = AsOfPlan(tuple(keys), tuple(entity_df.columns), tuple(prepared.windows),
                    bool(history) and not event_id, bool(event_id))

    entity_fields = [T.StructField(f.name, f.dataType, True) for f in entity_df.schema.fields]
    python_schema = T.StructType(entity_fields + prepared.python_fields)
    key_types = {k: entity_df.schema[k].dataType for k in keys}
    entity_side = entity_df.select(*entity_df.columns, F.unix_micros(F.col(entity_time_column)).alias(TIME),
                                   F.lit(1).alias(KIND))
    event_side = events.select(*[F.col(k).cast(key_types[k]).alias(k) for k in keys],
                               F.unix_micros(F.col(event_time_column)).alias(TIME), F.lit(0).alias(KIND),
                               *event_id, *prepared.event_columns, *history)
    if as_known_at is not None:
        event_side = event_side.where(F.col(WT) <= micros(as_known_at))
    if event_id:  # versions resolve per id before the null filters (a correction may clear the event)
        event_side = resolve_event_ids(event_side, name=event_id_column, what=what)
    event_side = event_side.where(F.col(TIME).isNotNull())
    for k in keys:
        event_side = event_side.where(F.col(k).isNotNull())
    engine_input = entity_side.unionByName(event_side, allowMissingColumns=True)
    engine_input = engine_input.repartition(sweep_partitions(engine_input), *keys)

    def sweep(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return as_of_partition(batches, plan)

    final = [F.col(c) for c in entity_df.columns] + prepared.final_columns
    return engine_input.mapInArrow(sweep, python_schema).select(*final)


def surviving_versions(codes: np.ndarray, times: np.ndarray, write_times: np.ndarray,
                       deleted: np.ndarray, rows: np.ndarray) -> np.ndarray:
    """Of the given event rows, the latest version per (key, time) unless it is a delete marker."""
    order = rows[np.lexsort((deleted[rows], write_times[rows], times[rows], codes[rows]))]
    last = np.ones(len(order), dtype=bool)
    if len(order) > 1:
        last[:-1] = K.run_starts(codes[order], times[order])[1:]
    return order[last & ~deleted[order]]


def as_of_partition(batches: Iterator[pa.RecordBatch], plan: AsOfPlan) -> Iterator[pa.RecordBatch]:
    """The sweep of one partition: each entity row's windows over its key's events."""
    table = read_partition(batches)
    if table is None:
        return
    codes = key_codes(table, list(plan.keys))
    kind = column(table, KIND).to_numpy()
    time_column = column(table, TIME)
    times = filled(time_column, 0, np.int64)
    event_rows = np.flatnonzero(kind == 0)
    if plan.history:
        write_times = filled(column(table, WT), K.INT_MIN, np.int64)
        deleted = filled(column(table, DEL), False, bool)
        event_rows = surviving_versions(codes, times, write_times, deleted, event_rows)
    items = sorted_items(table, codes, times, event_rows, False, tie_ranks(table) if plan.event_ids else None)
    query_rows = np.flatnonzero(kind == 1)
    if len(query_rows) == 0:
        return
    known_time = np.asarray(time_column.is_valid().to_numpy(zero_copy_only=False), dtype=bool)[query_rows]
    q_seg = np.where(known_time, codes[query_rows], -1)
    q_time = times[query_rows]
    out = table.select(list(plan.entity_columns)).take(pa.array(query_rows))
    for window in plan.windows:
        out = out.append_column(window.name, evaluate(items, window, q_seg, q_time, "as_of"))
    yield from to_batches(out)
