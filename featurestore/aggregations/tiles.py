"""Tiles: partial aggregates of one key over one snapshot period, built from sorted raw events.

A tile is stamped with its period's start; a snapshot window that is a whole number of periods covers
whole tiles only, so merging tiles gives exactly the value over the raw events.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace

import numpy as np
import pyarrow as pa

from featurestore.aggregations import kernels as K
from featurestore.aggregations.algebra import MOMENT_AGGS
from featurestore.aggregations.plan import ROWS, SourcePlan, WindowPlan, tile_col
from featurestore.aggregations.sweep import Items, Span


def tile_states(plans: Sequence[WindowPlan]) -> dict[int, tuple[SourcePlan, set[str]]]:
    """Per source, the partial aggregates the tiled windows need (nr, n, s, m, q, mn, mx, f, l)."""
    needed: dict[int, tuple[SourcePlan, set[str]]] = {}
    for plan in plans:
        source, states = needed.setdefault(plan.source.index, (plan.source, set()))
        if source.filtered:
            states.add("nr")
        if source.kind == "none":
            continue
        states.add("n")
        if plan.agg in ("sum", "avg"):
            states.add("s")
        if plan.agg in MOMENT_AGGS:
            states |= {"m", "q"}
        states |= {"min": {"mn"}, "max": {"mx"}, "first": {"f"}, "last": {"l"}}.get(plan.agg, set())
    return needed


def tile_start(t: np.ndarray, anchor: int, step: int) -> np.ndarray:
    """Start of the period [anchor + i * step, anchor + (i + 1) * step) holding each time."""
    return t - np.mod(t - anchor, step)


def build_tiles(events: Items, keys: Sequence[str], plans: Sequence[WindowPlan], anchor: int,
                step: int) -> Items:
    """Tiles of the given windows' sources from events sorted by (key, time); a tiled Items."""
    starts_at = tile_start(events.t, anchor, step)
    first = np.flatnonzero(K.run_starts(events.seg, starts_at))
    span = Span(first.astype(np.int64), np.append(first[1:], events.n).astype(np.int64))
    columns = {k: events.table.column(k).take(pa.array(first)) for k in keys}
    columns[ROWS] = pa.array(span.hi - span.lo)
    for source, states in tile_states(plans).values():
        d = source.index
        plan = WindowPlan(-1, "", "count", None, source, "event", False, "long")
        count = events.window_count(source, span) if "n" in states else None
        if "nr" in states:
            columns[tile_col("nr", d)] = pa.array(events.window_count(source, span, rows=True))
        if "n" in states:
            columns[tile_col("n", d)] = pa.array(count)
        if "s" in states or "m" in states:
            total = events.window_sum(source, span)
            columns[tile_col("s", d)] = pa.array(total, mask=count == 0)
        if "m" in states:
            with np.errstate(divide="ignore", invalid="ignore"):
                columns[tile_col("m", d)] = pa.array(total / np.maximum(count, 1), mask=count == 0)
            variance, valid = events.window_moments(replace(plan, agg="variance_pop"), span)
            columns[tile_col("q", d)] = pa.array(variance * count, mask=~valid)
        for state, agg in (("mn", "min"), ("mx", "max"), ("f", "first"), ("l", "last")):
            if state in states:
                window = replace(plan, agg=agg)
                extract = events.window_extreme if agg in ("min", "max") else events.window_edge
                data, valid, values = extract(window, span)
                columns[tile_col(state, d)] = values.to_arrow(data, valid)
    return Items(pa.table(columns), events.seg[first], starts_at[first], tiled=True)
