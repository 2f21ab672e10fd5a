"""The sorted sweep: window values for many queries over items sorted by (segment, time).

Items are raw events or tiles (partial aggregates of one key and one snapshot period, stamped with the
period start). Both look alike here: each item carries, per source, row count, non-null count, sum,
moments, min, max, first and last; a window is an index range [lo, hi) found by binary search, prefix
differences give the invertible aggregations, a sparse table gives min/max, next/previous-valid pointers
give first/last and a merge-sort tree gives exact distinct counts.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc

from featurestore.aggregations import kernels as K
from featurestore.aggregations.algebra import MOMENT_AGGS
from featurestore.aggregations.plan import (ROWS, SourcePlan, WindowPlan, flag_col, tile_col,
                                            value_col)


def column(table: pa.Table, name: str) -> pa.Array:
    """A column as one contiguous Arrow array."""
    return table.column(name).combine_chunks()


def filled(array: pa.Array, fill, dtype) -> np.ndarray:
    """Arrow array -> numpy with nulls replaced by `fill`."""
    if array.null_count:
        array = pc.fill_null(array, pa.scalar(fill, type=array.type))
    return np.asarray(array.to_numpy(zero_copy_only=False), dtype=dtype)


def encode_strings(array: pa.Array) -> tuple[np.ndarray, pa.Array]:
    """Strings -> int64 ranks in byte order (-1 for null) and the sorted distinct strings."""
    uniques = pc.unique(array.drop_null())
    uniques = uniques.take(pc.sort_indices(uniques))
    codes = filled(pc.index_in(array, value_set=uniques), -1, np.int64)
    return codes, uniques


class Values:
    """An orderable numpy view of a value column: int64, float64 or string ranks."""

    def __init__(self, array: pa.Array, kind: str):
        self.kind = kind
        self.valid = np.asarray(array.is_valid().to_numpy(zero_copy_only=False), dtype=bool)
        self.uniques = None
        if kind == "str":
            self.data, self.uniques = encode_strings(array)
        elif kind == "int":
            self.data = filled(pc.cast(array, pa.int64()), 0, np.int64)
        else:
            self.data = filled(pc.cast(array, pa.float64()), np.nan, np.float64)

    def filled_for(self, op: str, mask: np.ndarray) -> np.ndarray:
        """Values where `mask`, else the identity of min ('min') or max ('max') with NaN greatest."""
        if self.data.dtype == np.float64:
            return np.where(mask, self.data, np.nan if op == "min" else -np.inf)
        return np.where(mask, self.data, K.INT_MAX if op == "min" else K.INT_MIN)

    def identity(self, op: str):
        """The fill of filled_for for an empty selection."""
        if self.data.dtype == np.float64:
            return np.nan if op == "min" else -np.inf
        return K.INT_MAX if op == "min" else K.INT_MIN

    def to_arrow(self, data: np.ndarray, valid: np.ndarray) -> pa.Array:
        if self.kind == "str":
            return self.uniques.take(pa.array(np.where(valid, data, 0), mask=~valid))
        return pa.array(data, mask=~valid)


@dataclass
class Span:
    """Item ranges [lo, hi) of a batch of queries, with a memo of results shared by windows."""

    lo: np.ndarray
    hi: np.ndarray
    memo: dict = field(default_factory=dict)

    def get(self, key, build):
        if key not in self.memo:
            self.memo[key] = build()
        return self.memo[key]


MIN_OPS: dict[str, Callable] = {"min": np.fmin, "max": np.maximum}
INT_OPS: dict[str, Callable] = {"min": np.minimum, "max": np.maximum}


class Items:
    """One item stream (events or tiles) sorted by (segment, time); window values on demand."""

    def __init__(self, table: pa.Table, seg: np.ndarray, t: np.ndarray, tiled: bool, *,
                 ordered_ties: bool = False):
        self.table, self.seg, self.t, self.tiled = table, seg, t, tiled
        self.ordered_ties = ordered_ties  # equal-time items are in event-id order: edges are positional
        self.n = len(t)
        self.seg_first = K.first_index_of_run(K.run_starts(seg))
        self._cache: dict = {}
        self._queries: tuple | None = None
        self._spans: dict = {}

    # ---- ranges -------------------------------------------------------------------------------
    def ranges(self, q_seg: np.ndarray, q_time: np.ndarray, size_us: int | None, semantics: str) -> Span:
        """Item ranges of queries (segment, time): 'snapshot' covers [T - w, T), 'as_of' (T - w, T].

        Spans are cached per (queries, size) so windows of one size share their searches and sums.
        """
        if self._queries is None or self._queries[0] is not q_seg or self._queries[1] is not q_time \
                or self._queries[2] != semantics:
            self._queries, self._spans = (q_seg, q_time, semantics), {}
        if size_us in self._spans:
            return self._spans[size_us]
        side = "left" if semantics == "snapshot" else "right"
        if "hi" not in self._spans:
            self._spans["hi"] = K.search(self.seg, self.t, q_seg, q_time, side)
        if size_us is None:
            lo = K.search(self.seg, self.t, q_seg, np.full(len(q_time), K.INT_MIN), "left")
        else:
            lo = K.search(self.seg, self.t, q_seg, q_time - size_us, side)
        span = self._spans[size_us] = Span(lo, self._spans["hi"])
        return span

    # ---- per-source states (cached) ------------------------------------------------------------
    def _memo(self, key, build):
        if key not in self._cache:
            self._cache[key] = build()
        return self._cache[key]

    def values(self, source: SourcePlan, state: str = "v") -> Values:
        """The source's values (events) or one of its tile states mn / mx / f / l."""
        state = state if self.tiled else "v"
        name = tile_col(state, source.index) if self.tiled else value_col(source.index)
        return self._memo(("values", source.index, state),
                          lambda: Values(column(self.table, name), source.kind))

    def rows(self, source: SourcePlan) -> np.ndarray:
        """Per item: rows passing the source's filter."""
        def build():
            if self.tiled:
                name = tile_col("nr", source.index) if source.filtered else ROWS
                return filled(column(self.table, name), 0, np.int64)
            if source.filtered:
                return filled(column(self.table, flag_col(source.index)), False, bool).astype(np.int64)
            return np.ones(self.n, dtype=np.int64)
        return self._memo(("rows", source.index), build)

    def valid_count(self, source: SourcePlan) -> np.ndarray:
        """Per item: non-null values passing the filter."""
        def build():
            if self.tiled:
                return filled(column(self.table, tile_col("n", source.index)), 0, np.int64)
            return self.values(source).valid.astype(np.int64)
        return self._memo(("count", source.index), build)

    def prefix(self, key: str, source: SourcePlan, per_item: Callable[[], np.ndarray]) -> np.ndarray:
        return self._memo(("prefix", key, source.index), lambda: K.prefix_int(per_item()))

    def window_count(self, source: SourcePlan, span: Span, rows: bool = False) -> np.ndarray:
        key = "rows" if rows else "count"
        getter = (lambda: self.rows(source)) if rows else (lambda: self.valid_count(source))

        def build():
            p = self.prefix(key, source, getter)
            return p[span.hi] - p[span.lo]
        return span.get((key, source.index), build)

    # ---- sums ---------------------------------------------------------------------------------
    def _float_parts(self, source: SourcePlan):
        """Per item float sum split into a finite part (segmented scan) and NaN / +inf / -inf counts."""
        def build():
            if self.tiled:
                s = filled(pc.cast(column(self.table, tile_col("s", source.index)), pa.float64()),
                           0.0, np.float64)
            else:
                v = self.values(source)
                s = np.where(v.valid, v.data, 0.0).astype(np.float64)
            finite = np.isfinite(s)
            scan = K.segmented_cumsum(np.where(finite, s, 0.0), self.seg_first)
            flags = [K.prefix_int(np.isnan(s).astype(np.int64)),
                     K.prefix_int((s == np.inf).astype(np.int64)),
                     K.prefix_int((s == -np.inf).astype(np.int64))]
            return scan, flags
        return self._memo(("float_sum", source.index), build)

    def window_sum(self, source: SourcePlan, span: Span) -> np.ndarray:
        """Sum over each span: int64 (exact) for int sources, float64 with IEEE NaN/inf rules otherwise."""
        return span.get(("sum", source.index), lambda: self._window_sum(source, span.lo, span.hi))

    def _window_sum(self, source: SourcePlan, lo, hi) -> np.ndarray:
        if source.kind == "int":
            def per_item():
                if self.tiled:
                    return filled(column(self.table, tile_col("s", source.index)), 0, np.int64)
                v = self.values(source)
                return np.where(v.valid, v.data, 0)
            p = self.prefix("sum", source, per_item)
            return p[hi] - p[lo]
        scan, (nan, pinf, ninf) = self._float_parts(source)
        total = K.range_sum_float(scan, self.seg_first, lo, hi)
        n_nan, n_pinf, n_ninf = nan[hi] - nan[lo], pinf[hi] - pinf[lo], ninf[hi] - ninf[lo]
        total = np.where(n_pinf > 0, np.inf, total)
        total = np.where(n_ninf > 0, -np.inf, total)
        return np.where((n_nan > 0) | ((n_pinf > 0) & (n_ninf > 0)), np.nan, total)

    # ---- moments -------------------------------------------------------------------------------
    def _moments(self, source: SourcePlan):
        """Segmented scans of sum (x - c) and sum (x - c)^2 with c the segment's mean, plus a non-finite count."""
        def build():
            if self.tiled:
                n = self.valid_count(source).astype(np.float64)
                mean = filled(column(self.table, tile_col("m", source.index)), 0.0, np.float64)
                m2 = filled(column(self.table, tile_col("q", source.index)), 0.0, np.float64)
            else:
                v = self.values(source)
                n = v.valid.astype(np.float64)
                mean = np.where(v.valid, v.data, 0.0).astype(np.float64)
                m2 = np.zeros(self.n)
            finite = np.isfinite(mean) & np.isfinite(m2)
            weight = np.where(finite, n, 0.0)
            starts = np.flatnonzero(K.run_starts(self.seg))
            if len(starts):
                seg_n = np.add.reduceat(weight, starts)
                seg_sum = np.add.reduceat(np.where(finite, n * mean, 0.0), starts)
                shift = np.repeat(seg_sum / np.maximum(seg_n, 1.0), np.diff(np.append(starts, self.n)))
            else:
                shift = np.zeros(0)
            d = np.where(finite, mean - shift, 0.0)
            s1 = K.segmented_cumsum(weight * d, self.seg_first)
            s2 = K.segmented_cumsum(np.where(finite, m2, 0.0) + weight * d * d, self.seg_first)
            bad = K.prefix_int((~finite & (n > 0)).astype(np.int64))
            states = (weight, d, np.where(finite, m2, 0.0))  # shifted: deviations keep their digits
            return s1, s2, bad, states
        return self._memo(("moments", source.index), build)

    def window_m2(self, source: SourcePlan, span: Span) -> np.ndarray:
        """Sum of squared deviations from the window mean (NaN if a value is not finite).

        Prefix differences of shifted sums first; windows where they may have lost more than ~6 of 16
        digits (values far from the segment mean) are recomputed exactly with a MomentTree.
        """
        def build():
            s1, s2, bad, states = self._moments(source)
            lo, hi = span.lo, span.hi
            n = self.window_count(source, span).astype(np.float64)
            a = K.range_sum_float(s1, self.seg_first, lo, hi)
            b = K.range_sum_float(s2, self.seg_first, lo, hi)
            with np.errstate(divide="ignore", invalid="ignore"):
                m2 = np.maximum(b - a * a / np.maximum(n, 1.0), 0.0)
                scale = (K.range_magnitude(s2, self.seg_first, lo, hi)
                         + 2 * np.abs(a) * K.range_magnitude(s1, self.seg_first, lo, hi) / np.maximum(n, 1.0))
            m2 = np.where(n <= 1, 0.0, m2)  # exactly: sqrt would magnify a rounding residue
            unsure = np.flatnonzero((n >= 2) & (m2 <= scale * 1e-4))
            if len(unsure):
                tree = self._memo(("moment_tree", source.index), lambda: K.MomentTree(*states))
                m2[unsure] = tree.query(lo[unsure], hi[unsure])[2]
            return np.where(bad[hi] - bad[lo] > 0, np.nan, m2)
        return span.get(("m2", source.index), build)

    def window_moments(self, window: WindowPlan, span: Span) -> tuple[np.ndarray, np.ndarray]:
        n = self.window_count(window.source, span).astype(np.float64)
        m2 = self.window_m2(window.source, span)
        with np.errstate(divide="ignore", invalid="ignore"):
            if window.agg in ("variance", "stddev"):
                valid = n >= 2
                value = m2 / np.maximum(n - 1.0, 1.0)
            else:
                valid = n >= 1
                value = m2 / np.maximum(n, 1.0)
        if window.agg.startswith("stddev"):
            value = np.sqrt(value)
        return value, valid

    # ---- min / max / first / last --------------------------------------------------------------
    def window_extreme(self, window: WindowPlan, span: Span) -> tuple[np.ndarray, np.ndarray, Values]:
        op, lo, hi = window.agg, span.lo, span.hi
        values = self.values(window.source, "mn" if op == "min" else "mx")
        mask = self.valid_count(window.source) > 0
        longest = int((hi - lo).max()) if len(lo) else 1
        key = ("sparse", window.source.index, op)
        table = self._cache.get(key)
        if table is None or (1 << (len(table.levels) - 1)) * 2 <= longest:
            ops = MIN_OPS if values.data.dtype == np.float64 else INT_OPS
            table = K.SparseTable(values.filled_for(op, mask), ops[op], longest)
            self._cache[key] = table
        data = table.query(lo, hi, values.identity(op))
        return data, self.window_count(window.source, span) > 0, values

    def _edge_values(self, source: SourcePlan, which: str) -> tuple[np.ndarray, Values]:
        """first: per item the smallest valid value among items of the same (segment, time); last: greatest."""
        values = self.values(source, "f" if which == "first" else "l")
        if self.tiled or self.ordered_ties:
            return values.data, values
        def build():
            op = "min" if which == "first" else "max"
            ops = MIN_OPS if values.data.dtype == np.float64 else INT_OPS
            same_time = K.run_starts(self.seg, self.t)
            return K.group_reduce(values.filled_for(op, values.valid), same_time, ops[op])
        return self._memo(("edge", source.index, which), build), values

    def window_edge(self, window: WindowPlan, span: Span) -> tuple[np.ndarray, np.ndarray, Values]:
        source, lo, hi = window.source, span.lo, span.hi
        valid_item = self.valid_count(source) > 0
        data, values = self._edge_values(source, window.agg)
        if window.agg == "first":
            nxt = self._memo(("next", source.index), lambda: K.next_valid(valid_item))
            j = nxt[np.minimum(lo, self.n)]
            ok = j < hi
        else:
            prv = self._memo(("prev", source.index), lambda: K.prev_valid(valid_item))
            j = prv[np.maximum(hi - 1, 0)] if self.n else np.full(len(lo), -1)
            ok = (hi > lo) & (j >= lo)
        safe = np.where(ok, j, 0)
        return (data[safe] if self.n else np.zeros(len(lo), data.dtype)), ok, values

    # ---- distinct ------------------------------------------------------------------------------
    def window_distinct(self, source: SourcePlan, span: Span) -> np.ndarray:
        def build():
            v = self.values(source)
            data = v.data
            if data.dtype == np.float64:
                data = np.where(data == 0.0, 0.0, data)
                data = np.where(np.isnan(data), np.nan, data).view(np.int64)
            keep = np.flatnonzero(v.valid)
            prev = K.previous_occurrence(self.seg[keep], data[keep])
            return K.prefix_int(v.valid.astype(np.int64)), K.DistinctCounter(prev)
        position, counter = self._memo(("distinct", source.index), build)
        return counter.count(position[span.lo], position[span.hi])

    # ---- one window ----------------------------------------------------------------------------
    def evaluate(self, window: WindowPlan, span: Span) -> pa.Array:
        """The window's output column for the spans' ranges."""
        agg, source = window.agg, window.source
        if agg in ("row_count", "count"):
            return pa.array(self.window_count(source, span, rows=agg == "row_count"))
        if agg == "approx_count_distinct":
            return pa.array(self.window_distinct(source, span))
        if agg in ("sum", "avg"):
            n = self.window_count(source, span)
            total = self.window_sum(source, span)
            if agg == "sum":
                return pa.array(total, mask=n == 0)
            with np.errstate(divide="ignore", invalid="ignore"):
                return pa.array(total.astype(np.float64) / np.maximum(n, 1), mask=n == 0)
        if agg in MOMENT_AGGS:
            value, valid = self.window_moments(window, span)
            return pa.array(value, mask=~valid)
        if agg in ("min", "max"):
            data, valid, values = self.window_extreme(window, span)
        else:
            data, valid, values = self.window_edge(window, span)
        return values.to_arrow(data, valid)
