"""Windowed aggregations over events, exact to the microsecond.

Two evaluation points, two window conventions (w = window size; unbounded windows drop the lower bound):

* **Snapshot features** (`snapshot_aggregates`): computed per key at each snapshot time s (the end of an
  hour / day period). The window is **s - w <= event_time < s** (half-open). A snapshot row is stamped
  event_time = s and a point-in-time join makes it visible at ts >= s, so the snapshot must not see
  events at exactly s.
* **Query-time aggregation** (`aggregate_as_of`): computed as of each entity row's timestamp ts. The
  window is **ts - w < event_time <= ts**, consistent with the point-in-time rule event_time <= ts.

Aggregations (see `algebra`): row_count, count, sum, avg, min, max, first, last, variance / stddev
(sample), variance_pop / stddev_pop (population), approx_count_distinct (computed exactly). Nulls are
ignored by all but row_count; an empty window gives 0 for the counts and null otherwise.

History events (with `write_time` and optionally `is_deleted`): for each (key, event_time) only the latest
version counts (greatest write_time, after the optional as-known-at filter write_time <= K; on a tie a
delete marker wins). If that latest version is a delete marker the event at that exact (key, event_time)
is removed; a marker never erases events at other times, and a later non-deleted version restores it.

Engine: one shuffle by key, then a vectorised numpy sweep per Spark partition (mapInArrow) over items
sorted by (key, time): binary search for each window's index range, prefix differences for invertible
aggregations (int64 for integral sums, so exact; per-key segmented scans for floats; variance from sums
shifted by the key's mean, re-done with an exact (count, mean, M2) block tree for the windows where the
differences could lose digits), a sparse table for min/max, next/previous-valid pointers for first/last,
a merge-sort tree for exact distinct counts. Snapshot features first fold events into tiles, one per
(key, snapshot period), when the snapshot times form a regular grid and the window size is a multiple
of its step (exact then); other windows are computed from the raw events.
"""

from typing import Any

from featurestore.aggregations.algebra import AGGREGATIONS, Aggregation, Window

_LAZY = {"aggregate_as_of": "featurestore.aggregations.query_time",
         "snapshot_aggregates": "featurestore.aggregations.snapshot"}


def __getattr__(name: str) -> Any:
    """The Spark computations, imported on first use: declaring windows needs no pyspark."""
    if name in _LAZY:
        import importlib

        return getattr(importlib.import_module(_LAZY[name]), name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")

__all__ = ["AGGREGATIONS", "Aggregation", "Window", "aggregate_as_of", "snapshot_aggregates"]
