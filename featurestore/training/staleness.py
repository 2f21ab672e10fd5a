"""Stale training sets: how many of a built set's rows would change because of history written since.

A training set records the Delta version of every group history it read. Everything written to a history
afterwards (corrections, late data, delete markers: the history is append-only, so all are inserts) is in
the history's change data feed from that version on. A changed history row (key, event_time) can only
affect entity rows of the same key with event_time <= ts and ts - event_time <= the group's TTL (the
query's TTL override if any); those candidate rows are recomputed at the current versions (same as-known-at
cutoff) and compared with the stored rows, column by column (nulls equal). Rows whose value is unchanged do
not count. Query-time window columns (raw sources) are not part of this check.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from featurestore.columns import EVENT_TIME
from featurestore.durations import parse_duration, to_microseconds
from featurestore.training.sets import get_historical_features, input_versions, recorded_inputs, training_set_path

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from featurestore.offline.store import OfflineStore
    from featurestore.registry import Registry
    from featurestore.training.sets import TrainingSetSpec


@dataclass(frozen=True)
class Staleness:
    """The result: rows that would change, out of how many, and the history written since the build."""

    training_set: str
    rows: int
    candidate_rows: int
    changed_rows: int
    pinned_versions: dict[str, int]
    current_versions: dict[str, int]
    history_rows_since: dict[str, int] = field(default_factory=dict)

    @property
    def changed_fraction(self) -> float:
        return self.changed_rows / self.rows if self.rows else 0.0

    def metadata(self) -> dict:
        return {"rows": self.rows, "candidate_rows": self.candidate_rows, "changed_rows": self.changed_rows,
                "changed_fraction": round(self.changed_fraction, 6), "pinned_versions": self.pinned_versions,
                "current_versions": self.current_versions, "history_rows_since": self.history_rows_since}


def history_changes(store: OfflineStore, group: str, since: int, until: int) -> DataFrame:
    """History rows written in versions (since, until] (change data feed, inserts)."""
    feed = (store.spark.read.format("delta").option("readChangeFeed", "true")
            .option("startingVersion", since + 1).option("endingVersion", until).load(store.history_path(group)))
    return feed.filter(F.col("_change_type") == "insert")


def candidate_rows(rows: DataFrame, changes: DataFrame, keys: list[str], timestamp: str, ttl) -> DataFrame:
    """The set's rows that a changed (key, event_time) can affect: same key, event_time <= ts within TTL."""
    touched = changes.select(*keys, F.col(EVENT_TIME).alias("__changed_at")).distinct()
    joined = rows.join(touched, on=keys, how="inner")
    condition = F.col("__changed_at") <= F.col(timestamp)
    if ttl is not None:
        condition &= (F.unix_micros(F.col(timestamp)) - F.unix_micros(F.col("__changed_at"))) <= to_microseconds(ttl)
    return joined.where(condition).select(*rows.columns).distinct()


def staleness(store: OfflineStore, spec: TrainingSetSpec, registry: Registry) -> Staleness:
    """How many rows of the built training set `spec` would change if it were rebuilt now."""
    inputs = recorded_inputs(store, spec.name)
    pinned = {g: int(v) for g, v in inputs["input_versions"].items()}
    current = input_versions(store, list(pinned))
    stored = store.spark.read.format("delta").load(training_set_path(store, spec.name))
    window_columns = {w.name for q in spec.query_windows for w in q.windows}
    columns = [c for c in stored.columns if c not in window_columns]
    stored = stored.select(*columns)
    total = stored.count()
    candidates, since = None, {}
    for group, version in pinned.items():
        if current[group] <= version:
            since[group] = 0
            continue
        changes = history_changes(store, group, version, current[group]).cache()
        since[group] = changes.count()
        group_spec = registry.group(group)
        ttl = parse_duration(spec.ttl_overrides.get(group, group_spec.ttl),
                             what=f"training set {spec.name!r}: ttl of {group!r}")
        found = candidate_rows(stored, changes, group_spec.key_names, spec.timestamp_column, ttl)
        candidates = found if candidates is None else candidates.unionByName(found)
    if candidates is None:
        return Staleness(spec.name, total, 0, 0, pinned, current, since)
    # distinct entity rows (with their stored features); duplicates of an entity row change together
    candidates = candidates.distinct().cache()
    try:
        count = candidates.count()
        if not count:
            return Staleness(spec.name, total, 0, 0, pinned, current, since)
        entities = candidates.select(*spec.entity_columns)
        recomputed = get_historical_features(store, entities, spec.features, registry,
                                             timestamp_column=spec.timestamp_column, ttl_overrides=spec.ttl_overrides,
                                             as_known_at=inputs.get("as_known_at"), versions=current)
        changed_entities = candidates.select(*columns).exceptAll(recomputed.select(*columns)).select(
            *[F.col(c).alias(f"__e{i}") for i, c in enumerate(spec.entity_columns)]).distinct()
        # every stored row equal to a changed entity row changes (duplicates included)
        changed = stored.join(changed_entities, on=[
            F.col(c).eqNullSafe(F.col(f"__e{i}")) for i, c in enumerate(spec.entity_columns)], how="left_semi").count()
    finally:
        candidates.unpersist()
    return Staleness(spec.name, total, count, changed, pinned, current, since)
