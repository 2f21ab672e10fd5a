"""Reference windowed aggregations: plain loops over lists of dicts, written to be obviously correct.

Windows: snapshot at s covers s - w <= t < s; as of ts covers ts - w < t <= ts (no lower bound when
unbounded). Rows failing `where` count nowhere; nulls count only in row_count. History events: per
(key, time) only the version with the greatest write_time (<= as_known_at if given; a delete marker wins
a tie) counts, and none if that version is a delete marker. Floats order with NaN greatest.

Event-id rule (`event_id` given): an event is its id, not its (key, time). Of all versions of one id (after
the as-known-at filter) the one with the greatest write_time (a delete marker wins a tie) decides the
event's key, time and values, and removes it when it is a marker; only then are rows with a null key or
time ignored. Plain events (no write_time) must have distinct ids. first / last at equal times take the
smallest / greatest event id (without ids: the smallest / greatest value).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from featurestore.columns import IS_DELETED, WRITE_TIME


@dataclass(frozen=True)
class RefWindow:
    """A window as the reference sees it: `where` is a Python predicate on the event row."""

    name: str
    agg: str
    column: str | None
    size: timedelta | None
    where: Callable[[dict], bool] | None = None
    group_by: str | None = None


def _order(value):
    """Sort key with NaN greater than every number."""
    if isinstance(value, float) and math.isnan(value):
        return (1, 0.0)
    return (0, value)


def _same_value(value):
    """Equality key for distinct counts: 0.0 == -0.0 and NaN == NaN."""
    if isinstance(value, float):
        if math.isnan(value):
            return "nan"
        if value == 0.0:
            return 0.0
    return value


def _float_sum(values: list[float]) -> float:
    if any(math.isnan(v) for v in values) or (math.inf in values and -math.inf in values):
        return math.nan
    if math.inf in values:
        return math.inf
    if -math.inf in values:
        return -math.inf
    return math.fsum(values)


def _m2(values: list) -> float:
    floats = [float(v) for v in values]
    if any(not math.isfinite(v) for v in floats):
        return math.nan
    mean = math.fsum(floats) / len(floats)
    return math.fsum((v - mean) ** 2 for v in floats)


def aggregate(agg: str, rows: list[tuple[datetime, object]]):
    """`agg` over (time, value) pairs of the rows in one window (all rows, nulls included)."""
    if agg == "row_count":
        return len(rows)
    present = [(t, v) for t, v in rows if v is not None]
    values = [v for _, v in present]
    if agg == "count":
        return len(values)
    if agg == "approx_count_distinct":
        return len({_same_value(v) for v in values})
    if not values:
        return None
    if agg == "sum":
        return sum(values) if all(isinstance(v, int) for v in values) else _float_sum([float(v) for v in values])
    if agg == "avg":
        total = sum(values) if all(isinstance(v, int) for v in values) else _float_sum([float(v) for v in values])
        return total / len(values)
    if agg == "min":
        return min(values, key=_order)
    if agg == "max":
        return max(values, key=_order)
    if agg == "first":
        return min(present, key=lambda p: (p[0], _order(p[1])))[1]
    if agg == "last":
        return max(present, key=lambda p: (p[0], _order(p[1])))[1]
    if agg in ("variance", "stddev"):
        if len(values) < 2:
            return None
        variance = _m2(values) / (len(values) - 1)
    elif agg in ("variance_pop", "stddev_pop"):
        variance = _m2(values) / len(values)
    else:
        raise ValueError(f"unknown aggregation {agg!r}")
    return math.sqrt(variance) if agg.startswith("stddev") else variance


def in_snapshot_window(t: datetime, s: datetime, size: timedelta | None) -> bool:
    """Snapshot at s sees s - size <= t < s."""
    return t < s and (size is None or s - size <= t)


def in_as_of_window(t: datetime, ts: datetime, size: timedelta | None) -> bool:
    """As of ts sees ts - size < t <= ts."""
    return t <= ts and (size is None or ts - size < t)


def latest_by_event_id(events: list[dict], event_id: str, as_known_at: datetime | None = None) -> list[dict]:
    """The surviving latest version of every event id (plain events: each id must occur once)."""
    assert all(e[event_id] is not None for e in events), "null event id"
    if not events or WRITE_TIME not in events[0]:
        ids = [e[event_id] for e in events]
        assert len(ids) == len(set(ids)), "duplicate event id without write_time"
        return list(events)
    best: dict = {}
    for row in events:
        if as_known_at is not None and (row[WRITE_TIME] is None or row[WRITE_TIME] > as_known_at):
            continue
        rank = (row[WRITE_TIME] is not None, row[WRITE_TIME] or datetime.min, bool(row.get(IS_DELETED)))
        if row[event_id] not in best or rank > best[row[event_id]][0]:
            best[row[event_id]] = (rank, row)
    return [row for _, row in best.values() if not row.get(IS_DELETED)]


def resolve(events: list[dict], keys: Sequence[str], time_column: str, as_known_at: datetime | None = None,
            event_id: str | None = None) -> list[dict]:
    """Either rule: per event id (then the usable rows) or the usable rows per (key, time)."""
    if event_id is not None:
        return _usable(latest_by_event_id(events, event_id, as_known_at), keys, time_column)
    return latest_versions(_usable(events, keys, time_column), keys, time_column, as_known_at)


def latest_versions(events: list[dict], keys: Sequence[str], time_column: str,
                    as_known_at: datetime | None = None) -> list[dict]:
    """Plain events unchanged; history events reduced to the surviving latest version per (key, time)."""
    if not events or WRITE_TIME not in events[0]:
        return list(events)
    best: dict[tuple, dict] = {}
    for row in events:
        if as_known_at is not None and (row[WRITE_TIME] is None or row[WRITE_TIME] > as_known_at):
            continue
        ident = tuple(row[k] for k in keys) + (row[time_column],)
        rank = (row[WRITE_TIME] is not None, row[WRITE_TIME] or datetime.min, bool(row.get(IS_DELETED)))
        if ident not in best or rank > best[ident][0]:
            best[ident] = (rank, row)
    return [row for _, row in best.values() if not row.get(IS_DELETED)]


def window_value(window: RefWindow, rows: list[dict], time_column: str, event_id: str | None = None):
    """The window's value over the rows already inside its time range (equal times ordered by event id)."""
    kept = [r for r in rows if window.where is None or window.where(r) is True]

    def order(r):
        return (r[time_column], r[event_id]) if event_id else r[time_column]

    if window.group_by is None:
        return aggregate(window.agg, [(order(r), r[window.column] if window.column else 1) for r in kept])
    buckets: dict = {}
    for r in kept:
        if r[window.group_by] is not None:
            buckets.setdefault(r[window.group_by], []).append(r)
    return {b: aggregate(window.agg, [(order(r), r[window.column] if window.column else 1) for r in rs])
            for b, rs in buckets.items()}


def _usable(events: list[dict], keys: Sequence[str], time_column: str) -> list[dict]:
    return [e for e in events if e[time_column] is not None and all(e[k] is not None for k in keys)]


def snapshot_reference(events: list[dict], keys: Sequence[str], time_column: str,
                       windows: Sequence[RefWindow], snapshot_times: Sequence[datetime],
                       event_id: str | None = None) -> list[dict]:
    """One dict per (key, s) with an event in the largest window before s: keys, event_time, windows."""
    events = resolve(events, keys, time_column, event_id=event_id)
    largest = max(windows, key=lambda w: (w.size is None, w.size or timedelta(0)))
    out = []
    for key in sorted({tuple(e[k] for k in keys) for e in events}, key=repr):
        mine = [e for e in events if tuple(e[k] for k in keys) == key]
        for s in sorted(set(snapshot_times)):
            if not any(in_snapshot_window(e[time_column], s, largest.size) for e in mine):
                continue
            row = dict(zip(keys, key))
            row["event_time"] = s
            for w in windows:
                inside = [e for e in mine if in_snapshot_window(e[time_column], s, w.size)]
                row[w.name] = window_value(w, inside, time_column, event_id)
            out.append(row)
    return out


def as_of_reference(entity_rows: list[dict], events: list[dict], keys: Sequence[str], entity_time_column: str,
                    event_time_column: str, windows: Sequence[RefWindow],
                    as_known_at: datetime | None = None, event_id: str | None = None) -> list[dict]:
    """Each entity row (in order) extended with one value per window as of its timestamp."""
    events = resolve(events, keys, event_time_column, as_known_at, event_id)
    out = []
    for entity in entity_rows:
        ts = entity[entity_time_column]
        if ts is None or any(entity[k] is None for k in keys):
            mine = []
        else:
            mine = [e for e in events if all(e[k] == entity[k] for k in keys)]
        row = dict(entity)
        for w in windows:
            inside = [e for e in mine if in_as_of_window(e[event_time_column], ts, w.size)]
            row[w.name] = window_value(w, inside, event_time_column, event_id)
        out.append(row)
    return out
