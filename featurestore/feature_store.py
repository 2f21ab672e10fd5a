"""`FeatureStore`: the one front door of a feature-store project (notebook, CLI, Dagster resources, benchmarks).

    fs = FeatureStore.from_settings()                    # settings: featurestore.settings
    fs = FeatureStore(root="data/store", engine="duckdb")
    fs.list_groups(); fs.describe("card")
    fs.get_historical_features(entity_df, ["consumer:*", "card:avg_amt_last_1h"], timestamp_column="event_time")
    fs.get_online_features("card", [{"cc_num": "4000000000000001"}])
    fs.build_training_set("fraud_training")

Engines (`engine=`): "duckdb" reads the Delta tables with delta-rs and joins in DuckDB (one machine, no JVM;
results are pyarrow Tables); "spark" reads and joins with Spark (clusters, large sets; results are Spark
DataFrames). "auto" (the default) is duckdb for a local root with a local master, spark otherwise. Writes
(materialisation, training-set tables on the spark engine) always go through Spark and delta-spark; Spark
starts lazily, only when the spark engine or a write needs it.
"""

from __future__ import annotations

import json
import logging
import warnings
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING, Any

from featurestore.columns import EVENT_DATE, EVENT_TIME, IS_DELETED, WRITE_TIME
from featurestore.errors import FeatureStoreError, SpecError
from featurestore.settings import Settings, local_path
from featurestore.storage import layout
from featurestore.times import to_utc_or_none

if TYPE_CHECKING:
    from featurestore.offline.store import OfflineStore
    from featurestore.registry import Registry
    from featurestore.spec import FeatureGroupSpec
    from featurestore.storage.delta_read import DeltaReader
    from featurestore.training.sets import TrainingSetResult, TrainingSetSpec

log = logging.getLogger("featurestore")


class KnownTooEarlyWarning(UserWarning):
    """as_known_at is before every write of a requested group: its features are all null."""


@dataclass(frozen=True)
class GroupState:
    """What the tables of one group hold: versions, row counts, newest times (None: no table)."""

    history_version: int | None
    latest_version: int | None
    history_rows: int
    live_keys: int
    deleted_keys: int
    first_write: datetime | None
    last_write: datetime | None
    newest_event: datetime | None


class FeatureStore:
    """Feature groups, training sets and their Delta tables under one root, with one engine for reads."""

    def __init__(self, root: str | None = None, engine: str | None = None, package: str | None = None, *,
                 settings: Settings | None = None, spark: Any = None, registry: Registry | None = None):
        base = settings or Settings.resolve()
        self.settings = base.with_(root=root, engine=engine, groups_package=package)
        self._spark = spark
        self._spark_factory = None  # e.g. a Dagster SparkResource's get_session
        self._registry = registry
        self._offline: OfflineStore | None = None
        self._reader: DeltaReader | None = None
        self._duck = None

    @classmethod
    def from_settings(cls, settings: Settings | None = None, **overrides: Any) -> FeatureStore:
        """The store the settings describe (environment, featurestore.yaml; `overrides` win)."""
        return cls(settings=settings or Settings.resolve(**overrides))

    def __repr__(self) -> str:
        return f"FeatureStore(root={self.root!r}, engine={self.engine!r}, package={self.settings.groups_package!r})"

    # ---- plumbing (lazy) ------------------------------------------------------------------------------------
    @property
    def root(self) -> str:
        return self.settings.root

    @property
    def engine(self) -> str:
        """'duckdb' or 'spark': the engine reads and joins use."""
        return self.settings.resolved_engine

    @property
    def registry(self) -> Registry:
        """The project's specs, discovered once from the groups package."""
        if self._registry is None:
            from featurestore.registry import discover

            try:
                self._registry = discover(self.settings.groups_package)
            except ModuleNotFoundError as error:
                raise SpecError(f"cannot import spec package {self.settings.groups_package!r}: {error}") from None
        return self._registry

    @property
    def spark(self):
        """The process's SparkSession, started on first use."""
        if self._spark is None and self._spark_factory is not None:
            self._spark = self._spark_factory()
        if self._spark is None:
            from featurestore.session import build_spark_session

            self._spark = build_spark_session(self.settings.spark_master, app_name="featurestore",
                                              conf=self.settings.spark_conf, jars_dir=self.settings.jars_dir)
        return self._spark

    @property
    def offline(self) -> OfflineStore:
        """The Spark-backed OfflineStore (writes, and reads on the spark engine)."""
        if self._offline is None:
            from featurestore.offline.store import OfflineStore

            self._offline = OfflineStore(self.spark, self.root)
        return self._offline

    @property
    def reader(self) -> DeltaReader:
        """The delta-rs reader of this root (no JVM)."""
        if self._reader is None:
            from featurestore.storage.delta_read import DeltaReader

            self._reader = DeltaReader(self.root)
        return self._reader

    @property
    def duckdb(self):
        """This store's DuckDB connection."""
        if self._duck is None:
            from featurestore.storage.delta_read import connect

            self._duck = connect()
        return self._duck

    def with_registry(self, registry: Registry) -> FeatureStore:
        """This store using `registry` instead of discovering the groups package (returns self)."""
        self._registry = registry
        return self

    def group(self, name: str) -> FeatureGroupSpec:
        return self.registry.group(name)

    def training_set_spec(self, name: str | TrainingSetSpec) -> TrainingSetSpec:
        """A registered training set by name (a TrainingSetSpec is returned as is)."""
        return self.registry.training_set(name) if isinstance(name, str) else name

    def _uses_spark_reads(self) -> bool:
        return self.engine == "spark"

    def check_root(self) -> None:
        """FeatureStoreError unless the root is a store: for a local root, an existing folder holding Delta
        tables of this project (a remote root is checked when read)."""
        if self.settings.is_remote:
            return
        folder = local_path(self.root)
        if not folder.is_dir():
            raise FeatureStoreError(f"store root {folder} does not exist; run the materialisation (make demo) "
                                    "or pass --root / FEATURESTORE_ROOT")
        tables = [p for p in (folder / "features").glob("*/history") if (p / "_delta_log").is_dir()] + \
                 [p for p in (folder / "sources").glob("*") if (p / "_delta_log").is_dir()]
        if not tables:
            raise FeatureStoreError(f"store root {folder} holds no feature-store Delta tables "
                                    "(features/<group>/history, sources/<name>); is it the right folder?")

    # ---- table versions and state ---------------------------------------------------------------------------
    def _version(self, path: str) -> int | None:
        if self._uses_spark_reads() and self.settings.is_remote:
            return self.offline.version(path)
        return self.reader.version(path)

    def input_versions(self, groups: Iterable[str]) -> dict[str, int]:
        """Current Delta version of each group's history; SpecError for a group never materialised."""
        versions = {}
        for group in groups:
            version = self._version(layout.history_path(self.root, group))
            if version is None:
                raise SpecError(f"feature group {group!r} has no history yet under {self.root}; materialise it")
            versions[group] = version
        return versions

    def group_state(self, name: str) -> GroupState:
        """Versions, row counts and times of one group's tables (delta-rs + DuckDB; Spark for remote roots
        on the spark engine)."""
        spec = self.group(name)
        history_path, latest_path = layout.history_path(self.root, name), layout.latest_path(self.root, name)
        history_version, latest_version = self._version(history_path), self._version(latest_path)
        if self._uses_spark_reads() and self.settings.is_remote:
            return self._group_state_spark(spec, history_version, latest_version)
        rows, first, last, newest = 0, None, None, None
        if history_version is not None:
            what = f"feature group {name!r}"
            rows = self._sql("SELECT count(*) FROM h", h=self.reader.history(self.duckdb, name))[0][0]
            first, last = self.reader.write_times(history_path, what)
            if first is None and rows:  # commits that do not record it: scan the column
                first, last = self._sql(f"SELECT min({WRITE_TIME}), max({WRITE_TIME}) FROM h",
                                        h=self.reader.history(self.duckdb, name))[0]
            files = self.reader.newest_partition_files(history_path, what, EVENT_DATE)
            if files:
                from featurestore.storage.delta_read import utc_relation

                newest = self._sql(f"SELECT max({EVENT_TIME}) FROM n",
                                   n=utc_relation(self.duckdb.read_parquet(files, union_by_name=True)))[0][0]
        live = deleted = 0
        if latest_version is not None:
            live, deleted = self._sql(f"SELECT count(*) FILTER (WHERE NOT {IS_DELETED}), "
                                      f"count(*) FILTER (WHERE {IS_DELETED}) FROM l",
                                      l=self.reader.latest(self.duckdb, name))[0]
        return GroupState(history_version, latest_version, int(rows), int(live), int(deleted),
                          _aware(first), _aware(last), _aware(newest))

    def _group_state_spark(self, spec: FeatureGroupSpec, history_version, latest_version) -> GroupState:
        from pyspark.sql import functions as F

        stats = (0, None, None, None)
        if history_version is not None:
            row = self.offline.read_history(spec.name).agg(
                F.count(F.lit(1)), F.unix_micros(F.min(WRITE_TIME)), F.unix_micros(F.max(WRITE_TIME)),
                F.unix_micros(F.max(EVENT_TIME))).first()
            from featurestore.times import from_micros

            stats = (row[0], from_micros(row[1]), from_micros(row[2]), from_micros(row[3]))
        live = deleted = 0
        if latest_version is not None:
            df = self.spark.read.format("delta").load(self.offline.latest_path(spec.name))
            row = df.agg(F.count(F.lit(1)), F.sum(F.col(IS_DELETED).cast("long"))).first()
            deleted = row[1] or 0
            live = row[0] - deleted
        return GroupState(history_version, latest_version, int(stats[0]), int(live), int(deleted), *stats[1:])

    def _sql(self, sql: str, **relations: Any) -> list[tuple]:
        from featurestore.storage.delta_read import query

        return query(self.duckdb, sql, **relations)

    # ---- catalog --------------------------------------------------------------------------------------------
    def list_groups(self) -> list[dict]:
        """Every feature group: spec summary plus last materialisation and freshness (None: never)."""
        return [{**self._summary(spec), **self._freshness(self.group_state(spec.name))}
                for spec in self.registry.groups.values()]

    def describe(self, name: str) -> dict:
        """One group: spec, features with types, table paths, versions, row counts, freshness, online state."""
        spec = self.group(name)
        state = self.group_state(name)
        return {**self._summary(spec), **self._freshness(state),
                "features": [{"name": f.name, "type": f.dtype, "description": f.description} for f in spec.features],
                "keys": [{"name": k.name, "type": k.dtype, "description": k.description} for k in spec.keys],
                "event_time_column": spec.event_time_column, "sources": list(spec.sources), "start": spec.start,
                "tags": dict(spec.tags),
                "history": {"path": layout.history_path(self.root, name), "version": state.history_version,
                            "rows": state.history_rows},
                "latest": {"path": layout.latest_path(self.root, name), "version": state.latest_version,
                           "rows": state.live_keys, "deleted_keys": state.deleted_keys},
                "online": self._online_state(spec)}

    @staticmethod
    def _summary(spec: FeatureGroupSpec) -> dict:
        from featurestore.durations import format_duration

        return {"group": spec.name, "owner": spec.owner, "description": spec.description,
                "keys": {k.name: k.dtype for k in spec.keys}, "ttl": format_duration(spec.ttl),
                "schedule": {"grain": spec.grain, "cron": spec.cron}, "features": [f.name for f in spec.features]}

    @staticmethod
    def _freshness(state: GroupState) -> dict:
        return {"last_materialised": state.last_write, "newest_event_time": state.newest_event,
                "first_write": state.first_write}

    def _online_state(self, spec: FeatureGroupSpec) -> dict:
        from pathlib import Path

        path = self.settings.online_file()
        if path is None or not Path(path).exists():
            return {"path": path, "synced": False}
        online = self.online_store()
        state = online.state(spec.name)
        if state is None:
            return {"path": path, "synced": False}
        return {"path": path, "synced": True, "synced_delta_version": state["delta_version"],
                "synced_at": state["synced_at"], "rows": online.count(spec.name)}

    def online_store(self, path: str | None = None):
        """The SQLite online store (settings' online_path, or <root>/online.sqlite)."""
        from featurestore.online.store import OnlineStore

        chosen = path or self.settings.online_file()
        if chosen is None:
            raise FeatureStoreError(f"the store root {self.root} is remote: set FEATURESTORE_ONLINE_PATH "
                                    "(online_path) to a local SQLite file")
        return OnlineStore(chosen)

    # ---- offline reads --------------------------------------------------------------------------------------
    def get_historical_features(self, entity_df: Any, features: Sequence[str], *, timestamp_column: str = "ts",
                                as_known_at: datetime | str | None = None,
                                ttl_overrides: Mapping[str, timedelta | str | None] | None = None,
                                versions: Mapping[str, int] | None = None, full_feature_names: bool = False):
        """Entity rows joined point-in-time to the requested features ('group:feature' / 'group:*').

        Rules: featurestore.engines.pit. `as_known_at` ignores history written after it (naive = UTC), `ttl_overrides`
        replace a group's TTL, `versions` pin a group's history to a Delta version; features keep their names
        (`full_feature_names=True`: every feature column is `group__feature`). duckdb engine: pandas / pyarrow
        / Spark entity rows in, a pyarrow Table out, in entity order; spark engine: a Spark DataFrame (pandas /
        pyarrow converted) in and out, order unspecified.
        """
        from featurestore.training.sets import parse_feature_refs

        groups = self.registry.groups
        selected = parse_feature_refs(features, groups)
        overrides = dict(ttl_overrides or {})
        unknown = sorted(set(overrides) - set(selected))
        if unknown:
            raise SpecError(f"ttl_overrides for group(s) {unknown} that no requested feature comes from")
        cutoff = to_utc_or_none(as_known_at, "as_known_at")
        pinned = dict(versions or {})
        self._warn_if_known_too_early(list(selected), cutoff, pinned)
        if self.engine == "spark":
            from featurestore.training.sets import get_historical_features

            return get_historical_features(self.offline, self._spark_frame(entity_df), features, groups,
                                           timestamp_column=timestamp_column, ttl_overrides=overrides,
                                           as_known_at=cutoff, versions=pinned,
                                           full_feature_names=full_feature_names)
        from featurestore.engines.duckdb_engine import to_arrow
        from featurestore.engines.pit import FeatureQuery
        from featurestore.engines.pit_duckdb import point_in_time_join_duckdb

        queries = [FeatureQuery(group=g, history=self.reader.history(self.duckdb, g, pinned.get(g)), keys=groups[g].key_names,
                                features=names, ttl=overrides.get(g, groups[g].ttl)) for g, names in selected.items()]
        return point_in_time_join_duckdb(to_arrow(entity_df), queries, timestamp_column=timestamp_column,
                                         as_known_at=cutoff, connection=self.duckdb,
                                         full_feature_names=full_feature_names)

    def _spark_frame(self, frame: Any):
        if hasattr(frame, "sparkSession"):
            return frame
        if hasattr(frame, "to_pandas") and not hasattr(frame, "iloc"):  # pyarrow
            return self.spark.createDataFrame(frame.to_pandas())
        return self.spark.createDataFrame(frame)

    def _warn_if_known_too_early(self, groups: Sequence[str], cutoff: datetime | None,
                                 versions: Mapping[str, int]) -> None:
        """A warning (and a log line) for each group whose first write is after `cutoff`."""
        if cutoff is None:
            return
        for group in groups:
            first = self.first_write_time(group, versions.get(group))
            if first is not None and cutoff < first:
                message = (f"as_known_at {cutoff.isoformat()} is before the first write of feature group {group!r} "
                           f"({first.isoformat()}): nothing of it was known then, so its features are all null")
                log.warning(message)
                warnings.warn(message, KnownTooEarlyWarning, stacklevel=3)

    def first_write_time(self, group: str, version: int | None = None) -> datetime | None:
        """The earliest write_time of a group's history (at `version`), None if it has no rows or no table."""
        path = layout.history_path(self.root, group)
        if self._uses_spark_reads() and self.settings.is_remote:
            from pyspark.sql import functions as F

            from featurestore.times import from_micros

            if not self.offline.exists(path):
                return None
            return from_micros(self.offline.read_history(group, version=version)
                               .agg(F.unix_micros(F.min(WRITE_TIME))).first()[0])
        if self.reader.version(path) is None:
            return None
        first, _ = self.reader.write_times(path, f"feature group {group!r}", version)
        if first is None:
            first = self._sql(f"SELECT min({WRITE_TIME}) FROM h", h=self.reader.history(self.duckdb, group, version))[0][0]
        return _aware(first)

    # ---- online ---------------------------------------------------------------------------------------------
    def get_online_features(self, groups: str | Sequence[str], keys: Mapping | Sequence[Mapping], *,
                            online: bool = False, include_event_time: bool = False,
                            full_feature_names: bool = False) -> list[dict]:
        """Current values for each key row, in order (unknown or deleted keys give None features).

        From the latest-values Delta tables (delta-rs on the duckdb engine, Spark on the spark engine), or
        with `online=True` from the SQLite online store. Naming as in training sets.
        """
        from featurestore.online.store import get_online_features

        names = [groups] if isinstance(groups, str) else list(groups)
        specs = [self.group(n) for n in names]
        if online:
            backend = self.online_store()
        elif self.engine == "spark":
            backend = self.offline
        else:
            backend = DeltaLatestBackend(self)
        return get_online_features(backend, specs, keys, include_event_time=include_event_time,
                                   full_feature_names=full_feature_names)

    # ---- training sets --------------------------------------------------------------------------------------
    def current_inputs(self, spec: TrainingSetSpec, *, versions: Mapping[str, int] | None = None,
                       as_known_at: str | None = None) -> dict:
        """The inputs a build reads now (Delta versions of groups and sources, as-known-at), recorded with it."""
        sources = {q.source: self._version(layout.source_path(self.root, q.source)) for q in spec.query_windows}
        entity_version = self._version(layout.source_path(self.root, spec.entity_source))
        if entity_version is None:
            raise SpecError(f"training set {spec.name!r}: source {spec.entity_source!r} has no table under "
                            f"{self.root}; materialise it first")
        cutoff = as_known_at or spec.as_known_at
        return {"training_set": spec.name,
                "input_versions": dict(versions) if versions is not None else self.input_versions(spec.groups()),
                "entity_source_version": entity_version, "query_window_source_versions": sources,
                "as_known_at": to_utc_or_none(cutoff, "as_known_at").isoformat() if cutoff else None}

    def training_set_frame(self, spec: TrainingSetSpec | str, inputs: Mapping):
        """The training set's rows from exactly `inputs` (see current_inputs), not written."""
        spec = self.training_set_spec(spec)
        spec.validate_against(self.registry)
        if self.engine == "spark":
            from featurestore.training import sets as training
            return training.training_set_frame(self.offline, spec, self.registry, inputs)
        entities = self._entity_rows(spec, inputs["entity_source_version"])
        rows = self.get_historical_features(entities, spec.features, timestamp_column=spec.timestamp_column,
                                            ttl_overrides=spec.ttl_overrides, as_known_at=inputs["as_known_at"],
                                            versions=inputs["input_versions"],
                                            full_feature_names=spec.full_feature_names)
        return self._query_windows(spec, rows, inputs.get("query_window_source_versions", {}))

    def _entity_rows(self, spec: TrainingSetSpec, version: int | None):
        source = self.registry.source(spec.entity_source)
        data = self.reader.source(self.duckdb, source.name, version)
        missing = [c for c in spec.entity_columns if c not in data.columns]
        if missing:
            raise SpecError(f"training set {spec.name!r}: source {source.name!r} has no column(s) {missing}")
        from featurestore.engines.pit_duckdb import _q

        where = []
        for bound, op in ((spec.start, ">="), (spec.end, "<")):
            if bound:
                where.append(f"{_q(spec.timestamp_column)} {op} TIMESTAMPTZ '{bound} 00:00:00+00'")
        data.create_view("__fs_source", replace=True)
        sql = (f"SELECT {', '.join(_q(c) for c in spec.entity_columns)} FROM __fs_source"
               + (f" WHERE {' AND '.join(where)}" if where else ""))
        return self.duckdb.sql(sql).to_arrow_table()

    def _query_windows(self, spec: TrainingSetSpec, rows, source_versions: Mapping[str, int]):
        """Query-time windows on the duckdb engine: DuckDB where it computes them exactly, Spark otherwise."""
        from featurestore.engines.duckdb_engine import aggregate_as_of_duckdb, needs_spark

        for query in spec.query_windows:
            source = self.registry.source(query.source)
            events = self.reader.source(self.duckdb, source.name, source_versions.get(source.name))
            reasons = needs_spark(query.windows, events.columns)
            if not reasons:
                rows = aggregate_as_of_duckdb(self.duckdb, rows, events, keys=query.keys,
                                              entity_time_column=spec.timestamp_column,
                                              event_time_column=source.event_time_column, windows=query.windows)
                continue
            log.info("training set %r: query-time windows over %r run on Spark (%s)", spec.name, source.name,
                     "; ".join(reasons))
            from featurestore.aggregations import aggregate_as_of

            spark_events = self.offline.read_source(source.name, source.event_time_column,
                                                    version=source_versions.get(source.name))
            rows = aggregate_as_of(self._spark_frame(rows), spark_events, keys=query.keys,
                                   entity_time_column=spec.timestamp_column,
                                   event_time_column=source.event_time_column, windows=query.windows).toArrow()
        return rows

    def build_training_set(self, name: str | TrainingSetSpec, *, versions: Mapping[str, int] | None = None,
                           as_known_at: str | None = None) -> TrainingSetResult:
        """Compute a registered training set at the current (or given) input versions and overwrite its Delta
        table `training_sets/<name>`; the commit records the inputs so `rebuild_training_set` reproduces it.
        The spark engine writes with delta-spark, the duckdb engine with delta-rs (same table, same metadata).
        `name` may also be a TrainingSetSpec that is not registered (checked against the registry)."""
        spec = self.training_set_spec(name)
        if self.engine == "spark":
            from featurestore.training import sets as training
            return training.build_training_set(self.offline, spec, self.registry, versions=versions,
                                               as_known_at=as_known_at)
        inputs = self.current_inputs(spec, versions=versions, as_known_at=as_known_at)
        table = self.training_set_frame(spec, inputs)
        path = layout.training_set_path(self.root, spec.name)
        from deltalake import CommitProperties, write_deltalake

        write_deltalake(path, table, mode="overwrite", schema_mode="overwrite",
                        commit_properties=CommitProperties(custom_metadata={"userMetadata": json.dumps(inputs)}))
        from featurestore.training.sets import TrainingSetResult

        feature_columns = [c for c in table.column_names if c not in spec.entity_columns]
        rows = table.num_rows
        return TrainingSetResult(name=spec.name, path=path, table_version=self.reader.version(path), rows=rows,
                                 input_versions=inputs["input_versions"],
                                 entity_source_version=inputs["entity_source_version"],
                                 as_known_at=inputs["as_known_at"],
                                 null_rates={c: (table.column(c).null_count / rows if rows else 0.0)
                                             for c in feature_columns})

    def recorded_inputs(self, name: str, version: int | None = None) -> dict:
        """The inputs recorded with a training set's commit (newest, or at `version`)."""
        path = layout.training_set_path(self.root, name)
        if self.engine == "spark" and self.settings.is_remote:
            from featurestore.training import sets as training
            return training.recorded_inputs(self.offline, name, version)
        found = self.reader.commit_metadata(path, f"training set {name!r}", version)
        if not found or "input_versions" not in found:
            raise SpecError(f"training set {name!r}: no recorded inputs at version {version}")
        return found

    def rebuild_training_set(self, name: str | TrainingSetSpec, version: int | None = None):
        """The training set recomputed from the inputs recorded with its commit (time travel), not written."""
        spec = self.training_set_spec(name)
        return self.training_set_frame(spec, self.recorded_inputs(spec.name, version))

    def read_training_set(self, name: str, version: int | None = None):
        """A built training set's rows (pyarrow on duckdb, Spark DataFrame on spark)."""
        path = layout.training_set_path(self.root, name)
        if self.engine == "spark":
            return self.offline._read(path, f"training set {name!r}", version)
        return self.reader.relation(self.duckdb, path, f"training set {name!r}", version).to_arrow_table()

    # ---- writes (Spark) -------------------------------------------------------------------------------------
    def materialize(self, name: str, start: datetime | str, end: datetime | str):
        """Materialise a source or a feature group for [start, end) through Spark; returns the WriteResult."""
        from featurestore.offline.materialize import materialize_group, materialize_source
        from featurestore.times import to_utc

        begin, finish = to_utc(start, "materialize: start"), to_utc(end, "materialize: end")
        if name in self.registry.sources:
            return materialize_source(self.offline, self.registry.sources[name], begin, finish)
        return materialize_group(self.offline, self.group(name), self.registry, begin, finish)

    def close(self) -> None:
        """Close the DuckDB connection (Spark, shared by the process, is left running)."""
        if self._duck is not None:
            self._duck.close()
            self._duck = None


class DeltaLatestBackend:
    """Online lookups from the latest-values Delta tables through delta-rs: the `get` of OnlineStore."""

    def __init__(self, store: FeatureStore):
        self.store = store

    def get(self, spec: FeatureGroupSpec, keys: Sequence[tuple]) -> dict[tuple, dict]:
        from featurestore.engines.pit_duckdb import _q

        wanted = list(dict.fromkeys(keys))
        if not wanted:
            return {}
        store = self.store
        names = spec.key_names
        store.reader.latest(store.duckdb, spec.name).create_view("__fs_latest", replace=True)
        conditions = [f"NOT {IS_DELETED}"] + [f"list_contains(?, {_q(k)})" for k in names]
        columns = ", ".join(_q(c) for c in [*names, EVENT_TIME, *spec.feature_names])
        cursor = store.duckdb.execute(f"SELECT {columns} FROM __fs_latest WHERE {' AND '.join(conditions)}",
                                      [list({t[i] for t in wanted}) for i in range(len(names))])
        outputs = [EVENT_TIME, *spec.feature_names]
        wanted_set = set(wanted)
        found = {}
        for record in cursor.fetchall():
            key = tuple(record[:len(names)])
            if key in wanted_set:
                found[key] = {name: (_aware(v) if isinstance(v, datetime) else v)
                              for name, v in zip(outputs, record[len(names):])}
        return found


def _aware(moment: datetime | None) -> datetime | None:
    if moment is None:
        return None
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)
