"""Training sets: the store-level point-in-time API and declarative training-set specs.

`get_historical_features` is the notebook entry point: an entity DataFrame and feature references such as
"consumer:avg_amt_last_7d" or "card:*" give the entity rows with each feature as it was at the row's time.
`build_training_set` materialises a `TrainingSetSpec` to Delta, pinning the Delta version of every input so
that the same set can be rebuilt exactly later (`rebuild_training_set`).
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING

from featurestore.engines.pit import FeatureQuery, point_in_time_join
from featurestore.errors import SpecError
from featurestore.spec import FeatureGroupSpec, check_name
from featurestore.times import to_utc_or_none

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from featurestore.offline.store import OfflineStore
    from featurestore.registry import Registry


def parse_feature_refs(refs: Sequence[str], groups: Mapping[str, FeatureGroupSpec]) -> dict[str, list[str]]:
    """'group:feature' / 'group:*' references -> features per group, in order; errors name the reference."""
    selected: dict[str, list[str]] = {}
    for ref in refs:
        group, sep, feature = ref.partition(":")
        if not sep or not group or not feature:
            raise SpecError(f"feature reference {ref!r} must look like 'group:feature' or 'group:*'")
        if group not in groups:
            raise SpecError(f"feature reference {ref!r}: unknown feature group {group!r}; known: {sorted(groups)}")
        spec = groups[group]
        names = spec.feature_names if feature == "*" else [spec.feature(feature).name]
        chosen = selected.setdefault(group, [])
        chosen.extend(n for n in names if n not in chosen)
    if not selected:
        raise SpecError("no features requested")
    return selected


def _as_utc(moment: datetime | str | None, what: str) -> datetime | None:
    """The one UTC rule (featurestore.times): naive means UTC, ISO strings with Z or an offset."""
    return to_utc_or_none(moment, what)


def input_versions(store: OfflineStore, groups: Sequence[str]) -> dict[str, int]:
    """Current Delta version of each group's history table."""
    versions = {}
    for group in groups:
        version = store.version(store.history_path(group))
        if version is None:
            raise SpecError(f"feature group {group!r} has no history yet; materialise it first")
        versions[group] = version
    return versions


def get_historical_features(store: OfflineStore, entity_df: DataFrame, features: Sequence[str],
                            groups: Mapping[str, FeatureGroupSpec] | Registry, *, timestamp_column: str = "ts",
                            ttl_overrides: Mapping[str, timedelta | str | None] | None = None,
                            as_known_at: datetime | str | None = None,
                            versions: Mapping[str, int] | None = None,
                            full_feature_names: bool = False) -> DataFrame:
    """Entity rows joined point-in-time to the requested features (see featurestore.engines.pit for the rules).

    `groups` maps names to specs (or is a Registry); `ttl_overrides` replaces a group's TTL for this query;
    `as_known_at` ignores history written after it; `versions` pins each group's history to a Delta version;
    features keep their names, or are all `group__feature` with `full_feature_names=True` (a name two groups
    share is a SpecError naming both). The Spark engine; `featurestore.FeatureStore` picks the engine.
    """
    groups = getattr(groups, "groups", groups)
    selected = parse_feature_refs(features, groups)
    overrides = dict(ttl_overrides or {})
    unknown = sorted(set(overrides) - set(selected))
    if unknown:
        raise SpecError(f"ttl_overrides for group(s) {unknown} that no requested feature comes from")
    queries = []
    for group, names in selected.items():
        spec = groups[group]
        history = store.read_history(group, version=(versions or {}).get(group))
        queries.append(FeatureQuery(group=group, history=history, keys=spec.key_names, features=names,
                                    ttl=overrides.get(group, spec.ttl)))
    return point_in_time_join(entity_df, queries, timestamp_column=timestamp_column,
                              as_known_at=_as_utc(as_known_at, "as_known_at"), full_feature_names=full_feature_names)


@dataclass(frozen=True)
class QueryTimeWindows:
    """Window aggregates of a raw source computed as of each entity row's exact timestamp (Zipline-style):
    window ts - w < event_time <= ts, per `keys` (entity columns that are also columns of the source)."""

    source: str
    keys: tuple[str, ...]
    windows: tuple

    def __post_init__(self) -> None:
        from featurestore.aggregations.algebra import check_windows

        object.__setattr__(self, "keys", tuple(self.keys))
        object.__setattr__(self, "windows", check_windows(self.windows, reserved=list(self.keys)))
        if not self.keys:
            raise SpecError(f"query-time windows over {self.source!r}: no key columns")


@dataclass(frozen=True)
class TrainingSetSpec:
    """A training set: entity rows from a source (keys, timestamp, label...) joined to group features.

    `entity_columns` are kept from the source rows with `start <= timestamp < end` (ISO dates, UTC; either may
    be omitted); `features` are 'group:feature' or 'group:*' references. Feature columns keep their names;
    with `full_feature_names=True` each is named `group__feature` (needed when two groups share a feature
    name: adding a group then never renames a column already there).
    """

    name: str
    description: str
    entity_source: str
    timestamp_column: str
    entity_columns: tuple[str, ...]
    features: tuple[str, ...]
    label: str | None = None
    start: str | None = None
    end: str | None = None
    ttl_overrides: Mapping[str, str] = field(default_factory=dict)
    as_known_at: str | None = None
    query_windows: tuple[QueryTimeWindows, ...] = ()
    full_feature_names: bool = False

    def __post_init__(self) -> None:
        what = f"training set {self.name!r}"
        check_name(self.name, what)
        object.__setattr__(self, "entity_columns", tuple(self.entity_columns))
        object.__setattr__(self, "features", tuple(self.features))
        object.__setattr__(self, "ttl_overrides", dict(self.ttl_overrides))
        object.__setattr__(self, "query_windows", tuple(self.query_windows))
        for query in self.query_windows:
            missing = [k for k in query.keys if k not in self.entity_columns]
            if missing:
                raise SpecError(f"{what}: query-time windows over {query.source!r} are keyed by {missing}, "
                                "which are not among entity_columns")
        if self.timestamp_column not in self.entity_columns:
            raise SpecError(f"{what}: timestamp column {self.timestamp_column!r} must be among entity_columns")
        if self.label is not None and self.label not in self.entity_columns:
            raise SpecError(f"{what}: label {self.label!r} must be among entity_columns")
        if not self.features:
            raise SpecError(f"{what}: no features requested")
        for bound in (self.start, self.end):
            if bound is not None:
                _as_utc(f"{bound}T00:00:00+00:00", f"{what}: start/end {bound!r}")
        _as_utc(self.as_known_at, f"{what}: as_known_at")
        from featurestore.durations import parse_duration

        for group, ttl in self.ttl_overrides.items():
            parse_duration(ttl, what=f"{what}: ttl override for {group!r}")

    def groups(self) -> list[str]:
        return list(dict.fromkeys(ref.partition(":")[0] for ref in self.features))

    def validate_against(self, registry: Registry) -> None:
        """Check the source, the feature references and the key columns against the registry's specs."""
        what = f"training set {self.name!r}"
        registry.source(self.entity_source)
        for query in self.query_windows:
            registry.source(query.source)
        selected = parse_feature_refs(self.features, registry.groups)
        for group in selected:
            missing = [k for k in registry.groups[group].key_names if k not in self.entity_columns]
            if missing:
                raise SpecError(f"{what}: feature group {group!r} is keyed by {missing}, "
                                "which are not among entity_columns")
        unknown = sorted(set(self.ttl_overrides) - set(selected))
        if unknown:
            raise SpecError(f"{what}: ttl_overrides for group(s) {unknown} that no requested feature comes from")
        self.output_columns(registry)

    def output_columns(self, registry: Registry) -> list[str]:
        """The feature columns the set will have, in order; SpecError (naming both groups) on a clash."""
        from featurestore.engines.pit import FeatureQuery, resolve_output_names

        selected = parse_feature_refs(self.features, registry.groups)
        queries = [FeatureQuery(g, None, registry.groups[g].key_names, names) for g, names in selected.items()]
        try:
            names = resolve_output_names(self.entity_columns, queries, full_feature_names=self.full_feature_names)
        except SpecError as error:
            raise SpecError(f"training set {self.name!r}: {error} (TrainingSetSpec(full_feature_names=True))") \
                from None
        return [n for per_group in names for n in per_group.values()] + \
            [w.name for q in self.query_windows for w in q.windows]


@dataclass(frozen=True)
class TrainingSetResult:
    """Where a training set was written, what went into it, and a profile of its features."""

    name: str
    path: str
    table_version: int
    rows: int
    input_versions: dict[str, int]
    entity_source_version: int
    as_known_at: str | None
    null_rates: dict[str, float]


def training_set_path(store: OfflineStore, name: str) -> str:
    return store.table_path("training_sets", name)


def entity_rows(store: OfflineStore, spec: TrainingSetSpec, registry: Registry,
                version: int | None = None) -> DataFrame:
    """The spec's entity rows read from its source (at a Delta version if given), entity columns only."""
    source = registry.source(spec.entity_source)
    start = _as_utc(f"{spec.start}T00:00:00+00:00", "start") if spec.start else None
    end = _as_utc(f"{spec.end}T00:00:00+00:00", "end") if spec.end else None
    rows = store.read_source(source.name, spec.timestamp_column, start, end, version=version)
    missing = [c for c in spec.entity_columns if c not in rows.columns]
    if missing:
        raise SpecError(f"training set {spec.name!r}: source {source.name!r} has no column(s) {missing}")
    return rows.select(*spec.entity_columns)


def current_inputs(store: OfflineStore, spec: TrainingSetSpec, *, versions: Mapping[str, int] | None = None,
                   as_known_at: datetime | str | None = None) -> dict:
    """The inputs a build would read now: each group's, the entity source's and the windowed sources' Delta
    versions (or `versions` for the groups) and the as-known-at time; recorded with the set's commit."""
    return {"training_set": spec.name,
            "input_versions": dict(versions) if versions is not None else input_versions(store, spec.groups()),
            "entity_source_version": store.version(store.source_path(spec.entity_source)),
            "query_window_source_versions": {q.source: store.version(store.source_path(q.source))
                                             for q in spec.query_windows},
            "as_known_at": _iso(as_known_at or spec.as_known_at)}


def _iso(moment: datetime | str | None) -> str | None:
    value = _as_utc(moment, "as_known_at")
    return None if value is None else value.isoformat()


def training_set_frame(store: OfflineStore, spec: TrainingSetSpec, registry: Registry, inputs: Mapping) -> DataFrame:
    """The training set's rows computed from exactly the given inputs (see `current_inputs`), not written."""
    spec.validate_against(registry)
    entities = entity_rows(store, spec, registry, inputs["entity_source_version"])
    result = get_historical_features(store, entities, spec.features, registry,
                                     timestamp_column=spec.timestamp_column, ttl_overrides=spec.ttl_overrides,
                                     as_known_at=inputs["as_known_at"], versions=inputs["input_versions"],
                                     full_feature_names=spec.full_feature_names)
    return with_query_windows(store, spec, registry, result, inputs.get("query_window_source_versions", {}))


def build_training_set(store: OfflineStore, spec: TrainingSetSpec, registry: Registry, *,
                       versions: Mapping[str, int] | None = None,
                       as_known_at: datetime | str | None = None) -> TrainingSetResult:
    """Join the entity rows to the features at pinned input versions and overwrite the set's Delta table.

    The commit records the inputs, so `rebuild_training_set` can reproduce it.
    """
    inputs = current_inputs(store, spec, versions=versions, as_known_at=as_known_at)
    path = training_set_path(store, spec.name)
    (training_set_frame(store, spec, registry, inputs).write.format("delta").mode("overwrite")
     .option("overwriteSchema", "true").option("userMetadata", json.dumps(inputs)).save(path))
    from pyspark.sql import functions as F

    written = store.spark.read.format("delta").load(path)
    feature_columns = [c for c in written.columns if c not in spec.entity_columns]
    profile = written.agg(F.count(F.lit(1)).alias("__rows"),
                          *[F.avg(F.col(c).isNull().cast("double")).alias(c) for c in feature_columns]).first()
    return TrainingSetResult(name=spec.name, path=path, table_version=store.version(path), rows=profile["__rows"],
                             input_versions=inputs["input_versions"],
                             entity_source_version=inputs["entity_source_version"], as_known_at=inputs["as_known_at"],
                             null_rates={c: float(profile[c] or 0.0) for c in feature_columns})


def recorded_inputs(store: OfflineStore, name: str, version: int | None = None) -> dict:
    """The input versions and as-known-at time recorded with a training set's Delta commit."""
    from featurestore.storage.delta_compat import history as delta_history
    from pyspark.sql import functions as F

    history = delta_history(store.spark, training_set_path(store, name))
    if version is not None:
        history = history.filter(F.col("version") == version)
    row = history.orderBy(F.col("version").desc()).select("userMetadata").first()
    if row is None or not row[0]:
        raise SpecError(f"training set {name!r}: no recorded inputs at version {version}")
    return json.loads(row[0])


def rebuild_training_set(store: OfflineStore, spec: TrainingSetSpec, registry: Registry,
                         version: int | None = None) -> DataFrame:
    """The training set recomputed from the inputs recorded with its commit (time travel)."""
    return training_set_frame(store, spec, registry, recorded_inputs(store, spec.name, version))


def with_query_windows(store: OfflineStore, spec: TrainingSetSpec, registry: Registry, rows: DataFrame,
                       source_versions: Mapping[str, int]) -> DataFrame:
    """`rows` plus each query-time window, aggregated over its source (at the pinned version) as of each row."""
    from featurestore.aggregations import aggregate_as_of

    for query in spec.query_windows:
        source = registry.source(query.source)
        events = store.read_source(source.name, source.event_time_column, version=source_versions.get(source.name))
        rows = aggregate_as_of(rows, events, keys=query.keys, entity_time_column=spec.timestamp_column,
                               event_time_column=source.event_time_column, windows=query.windows)
    return rows
