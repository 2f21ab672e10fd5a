"""Snapshot features: windows evaluated for every key at every snapshot time s over [s - w, s).

Plan: events -> (optional latest-version resolution) -> engine columns -> tiles per (key, period) when
snapshot times form a regular grid of step g and w is a multiple of g (or unbounded), raw events
otherwise -> one shuffle by key -> a vectorised sorted sweep per partition (mapInArrow).
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

from featurestore.aggregations.algebra import Window, check_windows
from featurestore.aggregations.event_ids import event_id_columns, resolve_event_ids, tie_ranks
from featurestore.aggregations.inputs import (check_keys, check_time, history_columns, micros, prepare)
from featurestore.aggregations.partition import (evaluate, key_codes, read_partition, sorted_items,
                                                 to_batches)
from featurestore.aggregations.plan import DEL, EID, SNAP, STREAM, WT, Stream, WindowPlan
from featurestore.aggregations.plan import T as TIME
from featurestore.aggregations.sizing import sweep_partitions
from featurestore.aggregations.sweep import column
from featurestore.aggregations.tiles import build_tiles
from featurestore.columns import EVENT_TIME
from featurestore.errors import SpecError

TILE_START = "__fs_tile"


@dataclass(frozen=True)
class SnapshotPlan:
    """What each partition's sweep needs: keys, snapshot grid, windows, where activity comes from."""

    keys: tuple[str, ...]
    snapshots: tuple[int, ...]           # sorted microseconds
    windows: tuple[WindowPlan, ...]
    activity_stream: Stream
    activity_size: int | None            # the largest window (None = unbounded)
    step: int | None                     # grid step (tiles are [anchor + i * step, anchor + (i + 1) * step))
    tiles_in_spark: bool                 # tiles come pre-aggregated from Spark (else built in the sweep)
    event_ids: bool = False              # equal-time events are ordered by event id


def grid_step(snapshots: Sequence[int]) -> int | None:
    """The step of a regular grid of at least two snapshot times, else None."""
    if len(snapshots) < 2:
        return None
    steps = set(np.diff(np.asarray(snapshots, dtype=np.int64)).tolist())
    return steps.pop() if len(steps) == 1 else None


def _stream_chooser(step: int | None):
    def stream_of(window: Window) -> Stream:
        size = window.size_micros
        aligned = size is None or (step is not None and size % step == 0)
        if step is not None and aligned and window.aggregation.tileable and window.group_by is None:
            return "tile"
        return "event"
    return stream_of


def _largest(windows: Sequence[Window]) -> Window:
    return max(windows, key=lambda w: (w.size is None, w.size_micros or 0))


def snapshot_aggregates(events: DataFrame, *, keys: list[str], time_column: str,
                        windows: Sequence[Window], snapshot_times: Sequence[datetime],
                        pre_aggregate: bool = False, event_id_column: str | None = None) -> DataFrame:
    """One row per (key, snapshot time s) whose key has an event in the largest window before s.

    Columns: keys, `event_time` (= s) and one column per window over events with
    s - w <= time < s (unbounded: time < s); row_count / count 0 for an empty window, others null.
    Events with a null key or time are ignored. History events (with `write_time`, optional
    `is_deleted`) count only their latest version per (key, time), and not at all when that is a
    delete marker. Naive snapshot times are taken as UTC.

    Tiles are built in the sweep after one shuffle of the raw events (default), or with
    `pre_aggregate=True` by Spark with map-side partial aggregation before shuffling: better when
    there are many events per key and period, worse (two shuffles) when events are sparse.

    With `event_id_column`, versions resolve per event id instead of per (key, time) and equal-time
    events are ordered by id (see featurestore.aggregations.event_ids).
    """
    what = "snapshot_aggregates"
    keys = check_keys(events, keys, what)
    check_time(events, time_column, what)
    windows = check_windows(windows, reserved=keys + [EVENT_TIME])
    if EVENT_TIME in keys:
        raise SpecError(f"{what}: a key may not be called {EVENT_TIME!r}")
    snapshots = tuple(sorted({micros(s) for s in snapshot_times}))
    step = grid_step(snapshots)
    event_id = event_id_columns(events, event_id_column, what)
    prepared = prepare(events, windows, _stream_chooser(step), EID if event_id else None)
    largest = _largest(windows)
    largest_plan = prepared.windows[windows.index(largest)]
    streams = {p.stream for p in prepared.windows} | {largest_plan.stream}
    tiles_in_spark = pre_aggregate and "tile" in streams
    plan = SnapshotPlan(tuple(keys), snapshots, tuple(prepared.windows), largest_plan.stream,
                        largest.size_micros, step, tiles_in_spark, bool(event_id))
    key_fields = [events.schema[k] for k in keys]
    python_schema = T.StructType(key_fields + [T.StructField(SNAP, T.LongType(), False)]
                                 + prepared.python_fields)
    final = [F.col(k) for k in keys] + [F.timestamp_micros(F.col(SNAP)).alias(EVENT_TIME)]
    final += prepared.final_columns
    if not snapshots:
        spark = events.sparkSession
        return spark.createDataFrame([], python_schema).select(*final)

    rows = events.select(*keys, F.unix_micros(F.col(time_column)).alias(TIME), *event_id,
                         *prepared.event_columns, *history_columns(events))
    if event_id:  # versions resolve per id before any time filter (a correction may move the event)
        rows = resolve_event_ids(rows, name=event_id_column, what=what)
    rows = rows.where(F.col(TIME).isNotNull())
    for k in keys:
        rows = rows.where(F.col(k).isNotNull())
    rows = rows.where(F.col(TIME) < snapshots[-1])
    sizes = [w.size_micros for w in windows]
    if None not in sizes:
        rows = rows.where(F.col(TIME) >= snapshots[0] - max(sizes))
    if WT in rows.columns and not event_id:
        rows = latest_versions(rows, keys)

    engine_input = rows.withColumn(STREAM, F.lit(0))
    if tiles_in_spark:  # map-side partial aggregation, then a second (smaller) shuffle by key
        start = F.col(TIME) - F.pmod(F.col(TIME) - snapshots[0], F.lit(step))
        tiles = rows.groupBy(*keys, start.alias(TILE_START)).agg(*prepared.tile_aggregates)
        tiles = tiles.withColumnRenamed(TILE_START, TIME).withColumn(STREAM, F.lit(1))
        engine_input = (engine_input.unionByName(tiles, allowMissingColumns=True) if "event" in streams
                        else tiles)
    engine_input = engine_input.repartition(sweep_partitions(engine_input), *keys)

    def sweep(batches: Iterator[pa.RecordBatch]) -> Iterator[pa.RecordBatch]:
        return snapshot_partition(batches, plan)

    return engine_input.mapInArrow(sweep, python_schema).select(*final)


def latest_versions(rows: DataFrame, keys: list[str]) -> DataFrame:
    """The latest version (greatest write time; a delete marker wins a tie) per (key, time), minus deletions."""
    payload = [c for c in rows.columns if c not in keys and c != TIME]
    latest = rows.groupBy(*keys, TIME).agg(
        F.max_by(F.struct(*payload), F.struct(F.coalesce(F.col(WT), F.lit(np.iinfo(np.int64).min)),
                                              F.col(DEL))).alias("__fs_latest"))
    latest = latest.select(*keys, TIME, "__fs_latest.*")
    return latest.where(~F.col(DEL)).drop(WT, DEL)


def active_snapshots(seg: np.ndarray, t: np.ndarray, snapshots: np.ndarray,
                     size: int | None) -> tuple[np.ndarray, np.ndarray]:
    """(item index, snapshot index) for every snapshot s with an item in [s - size, s), per segment.

    Items are sorted by (segment, time); each item covers snapshots in (t, t + size]; the per-segment
    union of these intervals is taken by clipping each interval's start to the previous one's end.
    """
    first = np.searchsorted(snapshots, t, side="right")
    end = (np.full(len(t), len(snapshots)) if size is None
           else np.searchsorted(snapshots, t + size, side="right"))
    same = np.zeros(len(t), dtype=bool)
    same[1:] = seg[1:] == seg[:-1]
    previous_end = np.concatenate([[0], end[:-1]])
    start = np.where(same, np.maximum(first, previous_end), first)
    length = np.maximum(end - start, 0)
    item = np.repeat(np.arange(len(t)), length)
    offsets = np.concatenate([[0], np.cumsum(length)])
    snap = np.repeat(start, length) + (np.arange(len(item)) - offsets[item])
    return item, snap


def snapshot_partition(batches: Iterator[pa.RecordBatch], plan: SnapshotPlan) -> Iterator[pa.RecordBatch]:
    """The sweep of one partition: every key's active snapshots and their window values."""
    table = read_partition(batches)
    if table is None:
        return
    codes = key_codes(table, list(plan.keys))
    times = column(table, TIME).to_numpy()
    stream = column(table, STREAM).to_numpy()
    ties = tie_ranks(table) if plan.event_ids else None
    items = {"event": sorted_items(table, codes, times, np.flatnonzero(stream == 0), False, ties)}
    tiled = [w for w in plan.windows if w.stream == "tile"]
    if plan.tiles_in_spark:
        items["tile"] = sorted_items(table, codes, times, np.flatnonzero(stream == 1), True)
    elif tiled or plan.activity_stream == "tile":
        items["tile"] = build_tiles(items["event"], plan.keys, tiled, plan.snapshots[0], plan.step)
    snapshots = np.asarray(plan.snapshots, dtype=np.int64)
    activity = items[plan.activity_stream]
    item, snap = active_snapshots(activity.seg, activity.t, snapshots, plan.activity_size)
    if len(item) == 0:
        return
    q_seg, q_time = activity.seg[item], snapshots[snap]
    columns = {k: column(activity.table, k).take(pa.array(item)) for k in plan.keys}
    columns[SNAP] = pa.array(q_time)
    for window in plan.windows:
        columns[window.name] = evaluate(items[window.stream], window, q_seg, q_time, "snapshot")
    yield from to_batches(pa.table(columns))
