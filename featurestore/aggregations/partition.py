"""Python-side helpers shared by the snapshot and as-of sweeps: key codes, sorted items, buckets."""

from __future__ import annotations

from collections.abc import Iterable, Iterator

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featurestore.aggregations import kernels as K
from featurestore.aggregations.plan import WindowPlan, bucket_col
from featurestore.aggregations.sweep import Items, Span, column, filled

BATCH_ROWS = 65_536


def read_partition(batches: Iterable[pa.RecordBatch]) -> pa.Table | None:
    """The whole partition as one table (None when empty)."""
    batches = list(batches)
    if not batches:
        return None
    table = pa.Table.from_batches(batches)
    return table if table.num_rows else None


def key_codes(table: pa.Table, keys: list[str]) -> np.ndarray:
    """One int64 code per distinct key tuple (-1 when any key is null)."""
    codes = None
    for name in keys:
        encoded = pc.dictionary_encode(column(table, name))
        part = filled(encoded.indices, -1, np.int64)
        if codes is None:
            codes = part
            continue
        combined = np.where((codes < 0) | (part < 0), -1, codes * (len(encoded.dictionary) + 1) + part)
        _, inverse = np.unique(combined, return_inverse=True)
        codes = np.where(combined < 0, -1, inverse.astype(np.int64) - int((combined < 0).any()))
    return codes


def sorted_items(table: pa.Table, codes: np.ndarray, times: np.ndarray, rows: np.ndarray,
                 tiled: bool, ties: np.ndarray | None = None) -> Items:
    """Items from the given table rows, sorted by (key code, time), equal times by `ties` when given
    (event-id ranks: first / last then take the positional edge of equal-time items)."""
    if ties is None:
        order = rows[np.lexsort((times[rows], codes[rows]))]
    else:
        order = rows[np.lexsort((ties[rows], times[rows], codes[rows]))]
    return Items(table.take(order), codes[order], times[order], tiled, ordered_ties=ties is not None)


def bucketed(items: Items, window: WindowPlan, q_seg: np.ndarray, q_time: np.ndarray,
             semantics: str) -> pa.Array:
    """A bucketed window: map bucket -> value over buckets with at least one kept row in the window."""
    table = items.table
    buckets = column(table, bucket_col(window.index))
    bucket_codes = filled(pc.dictionary_encode(buckets).indices, -1, np.int64)
    keep = np.flatnonzero(bucket_codes >= 0)
    order = keep[np.lexsort((items.t[keep], bucket_codes[keep], items.seg[keep]))]
    key_sorted, bucket_sorted = items.seg[order], bucket_codes[order]
    starts = K.run_starts(key_sorted, bucket_sorted)
    sub_seg = np.cumsum(starts) - 1
    sub = Items(table.take(order), sub_seg, items.t[order], tiled=False, ordered_ties=items.ordered_ties)
    first_row = np.flatnonzero(starts)
    sub_key = key_sorted[first_row]
    begin = np.searchsorted(sub_key, q_seg, "left")
    count = np.searchsorted(sub_key, q_seg, "right") - begin
    query = np.repeat(np.arange(len(q_seg)), count)
    offsets = np.concatenate([[0], np.cumsum(count)])
    pair_seg = np.repeat(begin, count) + (np.arange(len(query)) - offsets[query])
    span = sub.ranges(pair_seg, q_time[query], window.size_us, semantics)
    nonempty = sub.window_count(window.source, span, rows=True) > 0
    values = sub.evaluate(window, Span(span.lo[nonempty], span.hi[nonempty]))
    labels = column(sub.table, bucket_col(window.index)).take(pa.array(first_row[pair_seg[nonempty]]))
    per_query = np.bincount(query[nonempty], minlength=len(q_seg))
    map_offsets = pa.array(np.concatenate([[0], np.cumsum(per_query)]).astype(np.int32))
    return pa.MapArray.from_arrays(map_offsets, labels, values)


def evaluate(items: Items, window: WindowPlan, q_seg: np.ndarray, q_time: np.ndarray,
             semantics: str) -> pa.Array:
    """The window's column for queries (segment, time); segment -1 sees no items."""
    if window.bucketed:
        return bucketed(items, window, q_seg, q_time, semantics)
    span = items.ranges(q_seg, q_time, window.size_us, semantics)
    return items.evaluate(window, span)


def to_batches(table: pa.Table) -> Iterator[pa.RecordBatch]:
    yield from table.to_batches(max_chunksize=BATCH_ROWS)
