"""Reference point-in-time join: plain loops over lists of dicts, written to be obviously correct.

For each entity row and group: among the group's history rows with the same key (compared column by column),
``event_time <= ts``, ``ts - event_time <= ttl`` (if a TTL), ``write_time <= as_known_at`` (if given), take
the one with the greatest (event_time, write_time); a delete marker or no row gives nulls. Null key or null
ts gives nulls. Output names follow featurestore.engines.pit: an explicit output name, else the feature name (``group__feature``
with ``full_feature_names``); a clash is an error.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta, timezone

from featurestore.columns import EVENT_TIME, IS_DELETED, WRITE_TIME


@dataclass
class ReferenceGroup:
    """One group's history rows and what to take from them."""

    name: str
    rows: list[dict]
    keys: Sequence[str]
    features: Sequence[str]
    ttl: timedelta | None = None
    output_names: Mapping[str, str] = field(default_factory=dict)


def output_names(groups: Sequence[ReferenceGroup], full_feature_names: bool = False) -> list[dict[str, str]]:
    """Feature -> output column per group: explicit, else the name (group__feature with full_feature_names);
    a clash is an error."""
    names = [{f: g.output_names.get(f, f"{g.name}__{f}" if full_feature_names else f) for f in g.features}
             for g in groups]
    every = [name for group_names in names for name in group_names.values()]
    clashes = sorted({n for n in every if every.count(n) > 1})
    if clashes:
        raise ValueError(f"output columns {clashes} produced twice")
    return names


def newest_visible_row(entity: dict, group: ReferenceGroup, ts_column: str,
                       as_known_at: datetime | None) -> dict | None:
    """The history row that decides this entity row's features, or None."""
    ts = entity[ts_column]
    if ts is None or any(entity[k] is None for k in group.keys):
        return None
    best = None
    for row in group.rows:
        if any(row[k] != entity[k] for k in group.keys):
            continue
        if row[EVENT_TIME] is None or row[EVENT_TIME] > ts:
            continue
        if group.ttl is not None and ts - row[EVENT_TIME] > group.ttl:
            continue
        if as_known_at is not None and (row[WRITE_TIME] is None or row[WRITE_TIME] > as_known_at):
            continue
        if best is None or (row[EVENT_TIME], row[WRITE_TIME]) > (best[EVENT_TIME], best[WRITE_TIME]):
            best = row
    if best is None or best[IS_DELETED]:
        return None
    return best


def pit_join_reference(entities: list[dict], groups: Sequence[ReferenceGroup], *, ts_column: str = "ts",
                       as_known_at: datetime | None = None, full_feature_names: bool = False) -> list[dict]:
    """Each entity row, in order, extended with each group's features as of the row's time."""
    if as_known_at is not None and as_known_at.tzinfo is None:
        as_known_at = as_known_at.replace(tzinfo=timezone.utc)  # naive means UTC
    names = output_names(groups, full_feature_names)
    result = []
    for entity in entities:
        out = dict(entity)
        for group, group_names in zip(groups, names):
            row = newest_visible_row(entity, group, ts_column, as_known_at)
            for feature in group.features:
                out[group_names[feature]] = None if row is None else row[feature]
        result.append(out)
    return result
