"""Materialising a source or a feature group for a time window: read, transform, write."""

from __future__ import annotations

from datetime import datetime
from typing import TYPE_CHECKING

from featurestore.spec import FeatureGroupSpec, SourceSpec, TransformInput
from featurestore.store import OfflineStore, WriteResult

if TYPE_CHECKING:
    from featurestore.registry import Registry


def materialize_source(store: OfflineStore, source: SourceSpec, start: datetime, end: datetime) -> WriteResult:
    """Load the source for [start, end) and replace those rows in its Delta table."""
    return store.write_source(source, source.load(store.spark, start, end), start, end)


def transform_input(store: OfflineStore, spec: FeatureGroupSpec, registry: Registry,
                    start: datetime, end: datetime) -> TransformInput:
    """The transform's input for [start, end): each source read from start - lookback to end."""
    sources = {name: store.read_source(name, registry.source(name).event_time_column,
                                       start - spec.source_lookback, end) for name in spec.sources}
    return TransformInput(spark=store.spark, sources=sources, start=start, end=end, grain=spec.grain)


def materialize_group(store: OfflineStore, spec: FeatureGroupSpec, registry: Registry,
                      start: datetime, end: datetime) -> WriteResult:
    """Compute the group's snapshots for [start, end) and append what is new or changed to its history."""
    rows = spec.transform(transform_input(store, spec, registry, start, end))
    window = {"partition_start": start.isoformat(), "partition_end": end.isoformat()}
    return store.write_features(spec, rows, metadata=window)
