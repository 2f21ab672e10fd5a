"""Incremental extension of a training set over a growing entity (label) source.

Only the entity rows that are new since the build's recorded entity-source version are computed, at the
groups' current versions, and appended in one Delta commit that records the new inputs (so
`rebuild_training_set` reproduces the extended set). The result equals a full build at those inputs when
(1) the rows already in the set are still in the source unchanged and (2) the set is not stale (no history
written since changes one of its rows: `featurestore.training.staleness`); otherwise extending is refused with the
reason, and a full `build_training_set` is the way.
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import TYPE_CHECKING

from featurestore.errors import FeatureStoreError
from featurestore.training.staleness import staleness
from featurestore.training.sets import (current_inputs, entity_rows, get_historical_features, recorded_inputs,
                                   training_set_path, with_query_windows)

if TYPE_CHECKING:
    from featurestore.offline.store import OfflineStore
    from featurestore.registry import Registry
    from featurestore.training.sets import TrainingSetSpec


@dataclass(frozen=True)
class Extension:
    """What an extension appended and from which inputs."""

    training_set: str
    rows_appended: int
    table_version: int | None
    previous_version: int | None
    inputs: dict


def extend_training_set(store: OfflineStore, spec: TrainingSetSpec, registry: Registry) -> Extension:
    """Append the training-set rows of entity rows added to the source since the set was built."""
    spec.validate_against(registry)
    path = training_set_path(store, spec.name)
    previous = recorded_inputs(store, spec.name)
    if previous.get("as_known_at") != spec.as_known_at:
        raise FeatureStoreError(f"training set {spec.name!r}: built with as_known_at {previous.get('as_known_at')!r}, "
                                f"the spec now says {spec.as_known_at!r}; rebuild it")
    inputs = current_inputs(store, spec)
    old_rows = entity_rows(store, spec, registry, previous["entity_source_version"])
    now_rows = entity_rows(store, spec, registry, inputs["entity_source_version"])
    vanished = old_rows.exceptAll(now_rows).limit(1).count()
    if vanished:
        raise FeatureStoreError(f"training set {spec.name!r}: rows it holds were changed or removed in source "
                                f"{spec.entity_source!r} since its build; rebuild it (build_training_set)")
    stale = staleness(store, spec, registry)
    if stale.changed_rows:
        raise FeatureStoreError(f"training set {spec.name!r} is stale: {stale.changed_rows} of its rows would change "
                                "with the history written since its build; rebuild it instead of extending")
    new_rows = now_rows.exceptAll(old_rows)
    before = store.version(path)
    rows = get_historical_features(store, new_rows, spec.features, registry, timestamp_column=spec.timestamp_column,
                                   ttl_overrides=spec.ttl_overrides, as_known_at=inputs["as_known_at"],
                                   versions=inputs["input_versions"])
    rows = with_query_windows(store, spec, registry, rows, inputs["query_window_source_versions"]).cache()
    try:
        count = rows.count()
        if count:
            stored_columns = store.spark.read.format("delta").load(path).columns
            metadata = json.dumps({**inputs, "extended_from_version": before, "rows_appended": count})
            rows.select(*stored_columns).write.format("delta").mode("append").option("userMetadata", metadata).save(path)
    finally:
        rows.unpersist()
    return Extension(spec.name, count, store.version(path), before, inputs)
