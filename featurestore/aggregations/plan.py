"""Picklable plans handed from the Spark side to the numpy sweep, and the engine's column names."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Literal

ValueKind = Literal["int", "float", "str", "none"]
Stream = Literal["event", "tile"]

# Columns of the Arrow tables the sweep receives (all prefixed so they never clash with user columns).
T = "__fs_t"            # event (or tile start / query) time in microseconds
STREAM = "__fs_stream"  # snapshot input: 0 = raw event, 1 = tile
KIND = "__fs_kind"      # as-of input: 0 = event, 1 = entity row
WT = "__fs_wt"          # write time in microseconds (history events)
DEL = "__fs_del"        # deletion marker (history events)
ROWS = "__fs_rows"      # tile: raw events in the tile
ROW_ID = "__fs_row"     # entity row position (internal)
SNAP = "__fs_snap"      # snapshot time in microseconds (output)
EID = "__fs_eid"        # event id (sources declaring one): resolves versions, breaks equal-time ties


def value_col(source: int) -> str:
    """Event stream: the source's value (null when filtered out)."""
    return f"__fs_v{source}"


def flag_col(source: int) -> str:
    """Event stream: whether the row passes the source's where filter."""
    return f"__fs_r{source}"


def tile_col(state: str, source: int) -> str:
    """Tile stream: a partial aggregate (nr, n, s, m, q, mn, mx, f, l) of the source."""
    return f"__fs_{state}{source}"


def bucket_col(window_index: int) -> str:
    """Event stream: the bucket value of a bucketed window."""
    return f"__fs_b{window_index}"


@dataclass(frozen=True)
class SourcePlan:
    """One distinct (column, where) input; windows sharing it share its states."""

    index: int
    kind: ValueKind
    filtered: bool


@dataclass(frozen=True)
class WindowPlan:
    """One output column: aggregation, size, which source and which item stream feed it."""

    index: int
    name: str
    agg: str
    size_us: int | None
    source: SourcePlan
    stream: Stream
    bucketed: bool
    output: Literal["long", "double", "str"]
