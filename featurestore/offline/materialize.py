"""Materialising a source or a feature group for a time window: read, transform, write."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from featurestore.offline.store import OfflineStore, WriteResult
from featurestore.spec import FeatureGroupSpec, SourceSpec, TransformInput

if TYPE_CHECKING:
    from featurestore.registry import Registry


def materialize_source(store: OfflineStore, source: SourceSpec, start: datetime, end: datetime) -> WriteResult:
    """Load the source for [start, end) and replace those rows in its Delta table."""
    return store.write_source(source, source.load(store.spark, start, end), start, end)


def transform_input(store: OfflineStore, spec: FeatureGroupSpec, registry: Registry,
                    start: datetime, end: datetime) -> TransformInput:
    """The transform's input for [start, end): each source read from start - lookback to end (with every
    version of the event ids in that range, for sources declaring an event id: see `with_all_versions`)."""
    sources = {name: store.read_source(name, registry.source(name).event_time_column,
                                       start - spec.source_lookback, end) for name in spec.sources}
    event_ids = {name: registry.source(name).event_id_column for name in spec.sources
                 if registry.source(name).event_id_column}
    for name in event_ids:
        sources[name] = with_all_versions(store, registry.source(name), sources[name])
    return TransformInput(spark=store.spark, sources=sources, start=start, end=end, grain=spec.grain,
                          event_ids=event_ids)


def with_all_versions(store: OfflineStore, source: SourceSpec, in_range):
    """Every row of the source whose event id occurs in `in_range`: a version that moved the event out of
    the range must still replace the one inside it (one scan of the whole source)."""
    column = source.event_id_column
    everything = store.read_source(source.name, source.event_time_column)
    if column not in everything.columns:
        from featurestore.errors import SpecError

        raise SpecError(f"source {source.name!r}: no event-id column {column!r}; columns are {everything.columns}")
    same_ids = everything.join(in_range.select(column).distinct(), on=column, how="left_semi")
    return same_ids.unionByName(in_range.where(in_range[column].isNull()))  # null ids: refused downstream


def materialize_group(store: OfflineStore, spec: FeatureGroupSpec, registry: Registry,
                      start: datetime, end: datetime) -> WriteResult:
    """Compute the group's snapshots for [start, end) and append what is new or changed to its history."""
    rows = spec.transform(transform_input(store, spec, registry, start, end))
    window = {"partition_start": start.isoformat(), "partition_end": end.isoformat()}
    return store.write_features(spec, rows, metadata=window)
