"""Vectorised numpy kernels for windows over items sorted by (segment, time).

A *segment* is one key (or one key and bucket); items are sorted by (segment, time) and a window is a
half-open index range [lo, hi) inside one segment. Nothing here loops over rows in Python.
"""

from __future__ import annotations

import numpy as np

INT_MIN = np.iinfo(np.int64).min
INT_MAX = np.iinfo(np.int64).max


def run_starts(*arrays: np.ndarray) -> np.ndarray:
    """Boolean mask: True where any of the (equal-length, sorted) arrays changes value (and at 0)."""
    n = len(arrays[0])
    start = np.zeros(n, dtype=bool)
    if n:
        start[0] = True
        for a in arrays:
            start[1:] |= a[1:] != a[:-1]
    return start


def first_index_of_run(start: np.ndarray) -> np.ndarray:
    """For each position, the index where its run (see run_starts) begins."""
    idx = np.where(start, np.arange(len(start)), 0)
    return np.maximum.accumulate(idx) if len(idx) else idx


def search(item_seg: np.ndarray, item_t: np.ndarray, q_seg: np.ndarray, q_t: np.ndarray,
           side: str) -> np.ndarray:
    """np.searchsorted of (q_seg, q_t) among items sorted by (seg, t), per segment.

    side='left': first item with (seg, t) >= (q_seg, q_t); 'right': first item with > . A query whose
    segment has no items lands where that segment would be, so ranges built from it are empty.
    """
    if len(item_t) == 0:
        return np.zeros(len(q_t), dtype=np.int64)
    t_min, t_max = int(item_t.min()), int(item_t.max())
    width = t_max - t_min + 3
    seg_max = int(max(item_seg.max(), q_seg.max() if len(q_seg) else 0)) + 1
    if width < (1 << 62) // max(seg_max, 1):
        base_items = item_seg * width + (item_t - (t_min - 1))
        q = q_seg * width + (np.clip(q_t, t_min - 1, t_max + 1) - (t_min - 1))
        return np.searchsorted(base_items, q, side=side)
    # Wide time range: compress times to ranks among all item and query times first.
    all_t = np.unique(np.concatenate([item_t, q_t]))
    width = len(all_t) + 1
    base_items = item_seg * width + np.searchsorted(all_t, item_t)
    q = q_seg * width + np.searchsorted(all_t, q_t)
    return np.searchsorted(base_items, q, side=side)


def segmented_cumsum(values: np.ndarray, seg_first: np.ndarray) -> np.ndarray:
    """Inclusive running sum restarting at each segment (seg_first[i] = first index of i's segment).

    A Hillis-Steele scan: O(n log L) but its rounding error grows with log L and with the segment's own
    values only, unlike a global cumsum whose error grows with every earlier segment's total.
    """
    out = values.astype(np.float64, copy=True)
    n = len(out)
    if n == 0:
        return out
    pos = np.arange(n)
    longest = int((pos - seg_first).max()) + 1
    step = 1
    while step < longest:
        same = (pos[step:] - step) >= seg_first[step:]
        out[step:] = out[step:] + np.where(same, out[:-step], 0.0)
        step *= 2
    return out


def range_sum_float(scan: np.ndarray, seg_first: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """Sum over [lo, hi) from an inclusive segmented scan; 0 for empty ranges."""
    res = np.zeros(len(lo), dtype=np.float64)
    nonempty = hi > lo
    last = hi[nonempty] - 1
    before = lo[nonempty] - 1
    head = np.where(lo[nonempty] > seg_first[last], scan[np.maximum(before, 0)], 0.0)
    res[nonempty] = scan[last] - head
    return res


def range_magnitude(scan: np.ndarray, seg_first: np.ndarray, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
    """|scan| at the two ends range_sum_float subtracts: the scale of its rounding error."""
    res = np.zeros(len(lo), dtype=np.float64)
    nonempty = hi > lo
    last = hi[nonempty] - 1
    head = np.where(lo[nonempty] > seg_first[last], np.abs(scan[np.maximum(lo[nonempty] - 1, 0)]), 0.0)
    res[nonempty] = np.abs(scan[last]) + head
    return res


def prefix_int(values: np.ndarray) -> np.ndarray:
    """Exclusive int64 prefix sums (length n + 1): exact differences for any range."""
    out = np.zeros(len(values) + 1, dtype=np.int64)
    np.cumsum(values, out=out[1:])
    return out


def highest_bit(length: np.ndarray) -> np.ndarray:
    """floor(log2(length)) for positive integers, exactly."""
    return (np.frexp(length.astype(np.float64))[1] - 1).astype(np.int64)


class SparseTable:
    """Range min or max over [lo, hi) in O(1) per query after an O(n log L) build."""

    def __init__(self, values: np.ndarray, op: np.ufunc, longest: int):
        self.op = op
        self.levels = [values]
        span = 1
        while span * 2 <= max(longest, 1):
            prev = self.levels[-1]
            self.levels.append(op(prev[:-span], prev[span:]) if len(prev) > span else prev[:0])
            span *= 2

    def query(self, lo: np.ndarray, hi: np.ndarray, fill) -> np.ndarray:
        """op over values[lo:hi] for non-empty ranges; `fill` for empty ones."""
        out = np.full(len(lo), fill, dtype=self.levels[0].dtype)
        nonempty = np.flatnonzero(hi > lo)
        if len(nonempty) == 0:
            return out
        lo_n, hi_n = lo[nonempty], hi[nonempty]
        level = highest_bit(hi_n - lo_n)
        for k in np.unique(level):
            sel = level == k
            table = self.levels[k]
            a, b = lo_n[sel], hi_n[sel] - (1 << int(k))
            out[nonempty[sel]] = self.op(table[a], table[b])
        return out


def next_valid(valid: np.ndarray) -> np.ndarray:
    """Smallest j >= i with valid[j] (n + 1 entries; n where none)."""
    n = len(valid)
    idx = np.where(valid, np.arange(n), n)
    out = np.full(n + 1, n, dtype=np.int64)
    if n:
        out[:n] = np.minimum.accumulate(idx[::-1])[::-1]
    return out


def prev_valid(valid: np.ndarray) -> np.ndarray:
    """Greatest j <= i with valid[j] (-1 where none)."""
    idx = np.where(valid, np.arange(len(valid)), -1)
    return np.maximum.accumulate(idx) if len(idx) else idx.astype(np.int64)


def group_reduce(values: np.ndarray, start: np.ndarray, op: np.ufunc) -> np.ndarray:
    """op over each run (start marks run starts), broadcast back to every position of the run."""
    if len(values) == 0:
        return values
    starts = np.flatnonzero(start)
    reduced = op.reduceat(values, starts)
    return np.repeat(reduced, np.diff(np.append(starts, len(values))))


def previous_occurrence(seg: np.ndarray, codes: np.ndarray) -> np.ndarray:
    """For each position, the previous position in the same segment with an equal code (-1 if none)."""
    n = len(codes)
    order = np.lexsort((np.arange(n), codes, seg))
    same = np.zeros(n, dtype=bool)
    same[1:] = (seg[order][1:] == seg[order][:-1]) & (codes[order][1:] == codes[order][:-1])
    prev_sorted = np.where(same, np.concatenate([[-1], order[:-1]]), -1)
    out = np.empty(n, dtype=np.int64)
    out[order] = prev_sorted
    return out


class DistinctCounter:
    """Distinct values in position ranges: count of j in [l, r) whose previous occurrence is < l.

    A merge-sort tree over `prev` answers #{j < r : prev[j] < l} in O(log n) searches per query.
    """

    def __init__(self, prev: np.ndarray):
        self.n = len(prev)
        self.scale = self.n + 2
        self.levels: list[np.ndarray] = []
        pos = np.arange(self.n, dtype=np.int64)
        size = 1
        while size <= self.n:
            keyed = (pos // size) * self.scale + (prev + 1)
            self.levels.append(np.sort(keyed))
            size *= 2

    def count(self, lo: np.ndarray, hi: np.ndarray) -> np.ndarray:
        """Distinct values in [lo, hi) (0 for empty ranges)."""
        below = np.zeros(len(lo), dtype=np.int64)
        for k, level in enumerate(self.levels):
            has_block = ((hi >> k) & 1).astype(bool)
            if not has_block.any():
                continue
            block_start = (hi[has_block] >> (k + 1)) << (k + 1)
            block_id = block_start >> k
            found = np.searchsorted(level, block_id * self.scale + (lo[has_block] + 1), side="left")
            below[has_block] += found - block_start
        return np.where(hi > lo, below - lo, 0)


def merge_moments(a: tuple, b: tuple) -> tuple:
    """Chan et al.'s exact, stable merge of (count, mean, M2) states (either may be empty)."""
    na, ma, qa = a
    nb, mb, qb = b
    n = na + nb
    with np.errstate(divide="ignore", invalid="ignore"):
        delta = mb - ma
        share = np.where(n > 0, nb / np.where(n > 0, n, 1.0), 0.0)
        mean = np.where(nb == 0, ma, np.where(na == 0, mb, ma + delta * share))
        m2 = np.where(nb == 0, qa, np.where(na == 0, qb, qa + qb + delta * delta * na * share))
    return n, mean, m2


class MomentTree:
    """(count, mean, M2) over [lo, hi) from aligned power-of-two blocks: O(n) memory, O(log n) merges.

    Slower than prefix differences but free of their cancellation when values drift far from the
    segment's mean; used only for the windows where prefix differences lose precision.
    """

    def __init__(self, count: np.ndarray, mean: np.ndarray, m2: np.ndarray):
        self.levels = [(count, mean, m2)]
        while len(self.levels[-1][0]) >= 2:
            n, m, q = self.levels[-1]
            even = len(n) // 2 * 2
            self.levels.append(merge_moments((n[0:even:2], m[0:even:2], q[0:even:2]),
                                             (n[1:even:2], m[1:even:2], q[1:even:2])))

    def query(self, lo: np.ndarray, hi: np.ndarray) -> tuple:
        zero = np.zeros(len(lo))
        left, right = (zero, zero, zero), (zero, zero, zero)
        lo, hi = lo.copy(), hi.copy()
        for k, (n, m, q) in enumerate(self.levels):
            take = (((lo >> k) & 1) == 1) & (lo < hi)
            if take.any():
                block = np.where(take, lo >> k, 0)
                part = tuple(np.where(take, arr[block], 0.0) for arr in (n, m, q))
                left = merge_moments(left, part)
                lo = np.where(take, lo + (1 << k), lo)
            take = (((hi >> k) & 1) == 1) & (lo < hi)
            if take.any():
                block = np.where(take, (hi >> k) - 1, 0)
                part = tuple(np.where(take, arr[block], 0.0) for arr in (n, m, q))
                right = merge_moments(part, right)
                hi = np.where(take, hi - (1 << k), hi)
        return merge_moments(left, right)
