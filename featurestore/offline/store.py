"""The offline store: append-only Delta history per group, a latest-values table, and raw sources."""

from __future__ import annotations

import time
import uuid
import warnings
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from functools import partial
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from featurestore.columns import EVENT_DATE, EVENT_TIME, IS_DELETED
from featurestore.errors import DataValidationError, FeatureStoreError
from featurestore.offline import history_write, latest_table, local_batch, local_classify
from featurestore.offline.conform import check_duplicates, conform, row_stats
from featurestore.offline.history_write import STATUS, newest_per  # noqa: F401 - newest_per is part of this API
from featurestore.offline.spark_times import date_literal, timestamp_literal, utc_date
from featurestore.storage import delta_compat, delta_log
from featurestore.storage.delta_utils import is_concurrent_modification, operation_session, root_cause
from featurestore.times import to_utc, to_utc_or_none
from featurestore.types import dtype_name, spark_type

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

    from featurestore.spec import FeatureGroupSpec, SourceSpec


class LatestTableRepaired(UserWarning):
    """A write found the latest-values table damaged and rebuilt it from the history."""


@dataclass(frozen=True)
class WriteResult:
    """What one write did: rows appended (new + corrections), corrections among them, table version."""

    group: str
    path: str
    rows_written: int
    rows_corrected: int
    rows_unchanged: int
    table_version: int | None
    write_time: datetime | None
    latest_repaired: str | None = None  # why the latest table was rebuilt from the history, if it was


@dataclass(frozen=True)
class WritePolicy:
    """Rules every feature write follows.

    `future_tolerance`: event times later than now + tolerance are refused (None: no limit).
    `max_event_age`: event times older than now - age are refused, e.g. past the table's retention (None: none).
    `max_attempts`: tries against concurrent writers before giving up.
    `local_rows`: a write of at most this many rows is collected to the driver once and classified, committed
    and synced from local relations (`featurestore.offline.local_batch`); larger writes stay distributed.
    """

    future_tolerance: timedelta | None = timedelta(hours=1)
    max_event_age: timedelta | None = None
    max_attempts: int = 8
    local_rows: int = 50_000


def local_write_conf(spark: SparkSession) -> dict[str, str]:
    """SQL settings of the operation session of a small (local) write, for its queries only.

    Its frames are local relations of at most `WritePolicy.local_rows` rows and it reads only the files of the
    batch's partitions and times: one shuffle partition and one Delta log-replay partition per core are
    plenty (the defaults, 8 and 50 here, are tiny tasks of pure overhead), and adaptive execution, which
    runs every exchange as a job of its own, has nothing to adapt.
    """
    from featurestore.session import is_connect_session

    cores = "1" if is_connect_session(spark) else str(max(1, spark.sparkContext.defaultParallelism))
    return {"spark.sql.shuffle.partitions": cores, "spark.databricks.delta.snapshotPartitions": cores,
            "spark.sql.adaptive.enabled": "false"}


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


@dataclass(frozen=True)
class _Attempt:
    """One classify-and-commit attempt: counts per status; rows inserted, version and write_time of its commit
    (write_time None: nothing to write); for a local batch the committed rows (Arrow) and their schema."""

    counts: dict
    inserted: int = 0
    version: int | None = None
    write_time: datetime | None = None
    rows: pa.Table | None = None
    schema: StructType | None = None


class OfflineStore:
    """Delta tables under one storage root (a local folder, s3a://..., abfss://...)."""

    def __init__(self, spark: SparkSession, root: str, policy: WritePolicy | None = None):
        self.spark = spark
        self.root = root
        self.policy = policy or WritePolicy()

    # ---- paths and metadata -------------------------------------------------------------------------------
    def history_path(self, group: str) -> str:
        return _join(self.root, "features", group, "history")

    def latest_path(self, group: str) -> str:
        return _join(self.root, "features", group, "latest")

    def source_path(self, source: str) -> str:
        return _join(self.root, "sources", source)

    def table_path(self, *parts: str) -> str:
        return _join(self.root, *parts)

    def exists(self, path: str) -> bool:
        """True if there is a Delta table at `path`; a FeatureStoreError with the root cause if its log is
        unreadable."""
        try:
            return delta_compat.is_delta_table(self.spark, path)
        except Exception as error:  # noqa: BLE001
            raise FeatureStoreError(f"the Delta table at {path} is unreadable: {root_cause(error)}") from error

    def version(self, path: str) -> int | None:
        """Current Delta version of the table at `path`, None if there is no table."""
        if not self.exists(path):
            return None
        try:
            return int(delta_compat.history(self.spark, path, 1).select("version").first()[0])
        except Exception as error:  # noqa: BLE001
            raise FeatureStoreError(f"the Delta table at {path} is unreadable: {root_cause(error)}") from error

    def _read(self, path: str, what: str, version: int | None = None) -> DataFrame:
        """The Delta table at `path`; a FeatureStoreError naming `what` and the path if absent or unreadable."""
        try:
            if not self.exists(path):
                raise FeatureStoreError(f"{what}: no Delta table at {path}; materialise it first")
            reader = self.spark.read.format("delta")
            if version is not None:
                reader = reader.option("versionAsOf", version)
            df = reader.load(path)
            df.inputFiles()  # replays the log now (Delta caches it), so a corrupt log fails here, named
        except FeatureStoreError:
            raise
        except Exception as error:  # noqa: BLE001
            raise FeatureStoreError(f"{what}: cannot read the Delta table at {path} "
                                    f"(version {version if version is not None else 'latest'}): "
                                    f"{root_cause(error)}") from error
        return df

    @contextmanager
    def _named(self, group: str, table: str, path: str) -> Iterator[None]:
        """Turn any Delta/Java failure inside the block into a FeatureStoreError naming the group, the table
        and the root cause; the store's own errors and Delta's retryable conflicts pass through."""
        try:
            yield
        except FeatureStoreError:
            raise
        except Exception as error:  # noqa: BLE001
            if is_concurrent_modification(error):
                raise
            raise FeatureStoreError(f"feature group {group!r}: the {table} table at {path} failed: "
                                    f"{root_cause(error)}") from error

    # ---- raw sources --------------------------------------------------------------------------------------
    def write_source(self, source: SourceSpec, df: DataFrame, start: datetime, end: datetime) -> WriteResult:
        """Replace the source's rows for [start, end) with `df` in one Delta transaction.

        Partitions are UTC dates of the event time, and the replaced range is [start, end) in UTC, whatever
        the session's or the machine's time zone.
        """
        start, end = to_utc(start, f"source {source.name!r} start"), to_utc(end, f"source {source.name!r} end")
        time_col = source.event_time_column
        outside = df.filter((F.col(time_col) < timestamp_literal(start))
                            | (F.col(time_col) >= timestamp_literal(end))).limit(1).count()
        if outside:
            raise DataValidationError(f"source {source.name!r}: rows with {time_col!r} outside "
                                      f"[{start.isoformat()}, {end.isoformat()})")
        path = self.source_path(source.name)
        rows = df.withColumn(EVENT_DATE, utc_date(time_col))
        writer = rows.write.format("delta").partitionBy(EVENT_DATE)
        if self.exists(path):
            last_day = (end - timedelta(microseconds=1)).date()
            predicate = f"{EVENT_DATE} >= DATE'{start.date().isoformat()}' AND {EVENT_DATE} <= DATE'{last_day.isoformat()}'"
            writer = writer.mode("overwrite").option("replaceWhere", predicate)
        else:
            writer = writer.mode("append")
        writer.save(path)
        count = rows.count()
        return WriteResult(source.name, path, count, 0, 0, self.version(path), None)

    def read_source(self, name: str, time_column: str, start: datetime | None = None,
                    end: datetime | None = None, version: int | None = None) -> DataFrame:
        """Rows of a raw source with start <= time < end (partition-pruned, UTC); all rows without bounds."""
        df = self._read(self.source_path(name), f"source {name!r}", version)
        start, end = to_utc_or_none(start, f"source {name!r} start"), to_utc_or_none(end, f"source {name!r} end")
        if start is not None:
            df = df.filter((F.col(EVENT_DATE) >= date_literal(start.date()))
                           & (F.col(time_column) >= timestamp_literal(start)))
        if end is not None:
            df = df.filter((F.col(EVENT_DATE) <= date_literal(end.date()))
                           & (F.col(time_column) < timestamp_literal(end)))
        return df.drop(EVENT_DATE)

    # ---- feature history ----------------------------------------------------------------------------------
    def read_history(self, group: str, version: int | None = None,
                     as_known_at: datetime | None = None) -> DataFrame:
        """The group's full history (optionally at a Delta version, and only rows written by `as_known_at`)."""
        df = self._read(self.history_path(group), f"feature group {group!r}", version)
        if as_known_at is not None:
            df = df.filter(F.col("write_time") <= timestamp_literal(to_utc(as_known_at, "as_known_at")))
        return df

    def write_features(self, spec: FeatureGroupSpec, df: DataFrame, *, metadata: Mapping | None = None,
                       now: datetime | str | None = None) -> WriteResult:
        """Append rows whose values are new or changed for their (key, event_time); nothing else.

        The whole write is one Delta commit of the history; on any validation error nothing is written. The
        first write creates the history and latest tables, even with zero rows (schema from the spec).
        """
        now = to_utc_or_none(now, f"feature group {spec.name!r}: now")
        incoming = conform(spec, df).persist()
        try:
            stats, local = self._check_rows(spec, incoming, now)
            return self._append_changes(spec, incoming, local, stats, deleted=False, metadata=metadata, now=now)
        finally:
            incoming.unpersist()

    def soft_delete(self, spec: FeatureGroupSpec, keys: DataFrame | Iterable[Mapping], at: datetime | str, *,
                    now: datetime | str | None = None) -> WriteResult:
        """Write delete markers for `keys` at event time `at`: the keys read as absent from `at` on.

        `at` is an instant: an aware datetime, a naive one (UTC) or an ISO-8601 string.
        """
        at = to_utc(at, f"feature group {spec.name!r}: delete time `at`")
        now = to_utc_or_none(now, f"feature group {spec.name!r}: now")
        keys = self._keys_frame(spec, keys)
        markers = keys.dropDuplicates().withColumn(EVENT_TIME, timestamp_literal(at))
        markers = markers.select(*spec.key_names, EVENT_TIME,
                                 *[F.lit(None).cast(spark_type(f.dtype)).alias(f.name) for f in spec.features])
        markers = markers.persist()
        try:
            stats, local = self._check_rows(spec, markers, now)
            return self._append_changes(spec, markers, local, stats, deleted=True,
                                        metadata={"operation": "soft_delete"}, now=now)
        finally:
            markers.unpersist()

    def _check_rows(self, spec: FeatureGroupSpec, rows: DataFrame,
                    now: datetime | None) -> tuple[dict, pa.Table | None]:
        """Null, duplicate and time-bound checks (see WritePolicy); raise naming the group and column.

        Returns the rows' statistics and, for a batch of at most `policy.local_rows` rows, the rows collected
        to the driver (Arrow; the duplicate check then runs on them), else None.
        """
        local = local_batch.collect(rows, self.policy.local_rows)
        if local is not None:
            stats = local_batch.row_stats(spec, local)
            local_batch.check_duplicates(spec, local)
        else:
            stats = row_stats(spec, rows)
            check_duplicates(spec, rows)
        moment = now or utc_now()
        latest, earliest = stats["max_time"], stats["min_time"]
        column = spec.event_time_column
        if latest is not None and self.policy.future_tolerance is not None:
            limit = moment + self.policy.future_tolerance
            if latest > limit:
                raise DataValidationError(f"feature group {spec.name!r}: {column!r} {latest.isoformat()} is later "
                                          f"than now + {self.policy.future_tolerance} ({limit.isoformat()}); "
                                          "nothing was written")
        if earliest is not None and self.policy.max_event_age is not None:
            limit = moment - self.policy.max_event_age
            if earliest < limit:
                raise DataValidationError(f"feature group {spec.name!r}: {column!r} {earliest.isoformat()} is older "
                                          f"than the retention of {self.policy.max_event_age} ({limit.isoformat()}); "
                                          "nothing was written")
        return stats, local

    def _keys_frame(self, spec: FeatureGroupSpec, keys: DataFrame | Iterable[Mapping]) -> DataFrame:
        """Key rows (a DataFrame or dicts) as a DataFrame of the spec's key columns and types."""
        from featurestore.online.store import key_tuples  # strict key typing (no 3.7 -> 3, no True -> 1)
        from featurestore.types import SAFE_CASTS

        if not hasattr(keys, "schema"):
            keys = list(keys)
            for row in keys:
                missing = [k for k in spec.key_names if k not in row]
                if missing:
                    raise DataValidationError(f"feature group {spec.name!r}: key column(s) {missing} missing "
                                              f"from key {dict(row)!r}")
            schema = ", ".join(f"`{k.name}` {spark_type(k.dtype).simpleString()}" for k in spec.keys)
            keys = self.spark.createDataFrame(key_tuples(spec, list(keys)), schema)
        missing = [k for k in spec.key_names if k not in keys.columns]
        if missing:
            raise DataValidationError(f"feature group {spec.name!r}: key column(s) {missing} missing")
        types = {f.name: dtype_name(f.dataType) for f in keys.schema.fields}
        for k in spec.keys:
            if types[k.name] != k.dtype and types[k.name] not in SAFE_CASTS.get(k.dtype, set()):
                raise DataValidationError(f"feature group {spec.name!r}: key column {k.name!r} is "
                                          f"{types[k.name]} in the keys given, declared {k.dtype}; nothing "
                                          "was written (keys are never rounded or cast)")
        return keys.select(*[F.col(k.name).cast(spark_type(k.dtype)).alias(k.name) for k in spec.keys])

    def _append_changes(self, spec: FeatureGroupSpec, incoming: DataFrame, local: pa.Table | None, stats: dict,
                        *, deleted: bool, metadata: Mapping | None, now: datetime | None) -> WriteResult:
        """Classify `incoming` against the history and commit the new and changed rows, then sync latest.

        `local`: the same rows on the driver for a small batch (None: classify in Spark, distributed). A small
        batch runs on an operation session from local relations: the classified rows are collected once, the
        counts and the rows to commit are computed from them, and the latest table is updated from the rows
        this write committed (no read of the change feed).

        Safe with concurrent writers (threads or processes): the commit is an insert-only MERGE that inserts
        a row only if the newest stored version of its (key, event_time) is still the one it was compared
        with; Delta's concurrent-modification conflicts are retried, and rows another writer got to first are
        classified again against the new state.
        """
        path = self.history_path(spec.name)
        session = operation_session(self.spark, conf=local_write_conf(self.spark) if local is not None else None)
        rows = local_batch.frame(session, local, incoming.schema) if local is not None else incoming
        attempt_once = partial(self._attempt_local, batch=local) if local is not None else self._attempt_distributed
        totals = {"new": 0, "correction": 0, "unchanged": 0}
        write_time, committed, commits, last = None, None, 0, None
        for attempt in range(1, self.policy.max_attempts + 1):
            try:
                with self._named(spec.name, "history", path):
                    state = history_write.probe(session, path)
                    history_write.check_table_schema(spec, state)
                    last = attempt_once(spec, session, rows, path, state, stats, deleted, metadata, now)
            except Exception as error:  # noqa: BLE001 - only Delta's concurrency conflicts are retried
                if not is_concurrent_modification(error) or attempt == self.policy.max_attempts:
                    if is_concurrent_modification(error):
                        raise FeatureStoreError(f"feature group {spec.name!r}: gave up after {attempt} attempts "
                                                f"against concurrent writers: {root_cause(error)}") from error
                    raise
                time.sleep(0.2 * attempt)
                continue
            counts = last.counts
            if last.write_time is None:  # nothing new or changed (the table exists)
                totals["unchanged"] += counts.get("unchanged", 0)
                break
            write_time = last.write_time
            committed = last.version if last.version is not None else committed
            commits += last.version is not None
            if last.inserted == counts.get("new", 0) + counts.get("correction", 0):
                for status in totals:
                    totals[status] += counts.get(status, 0)
                break
            # another writer stored some of these keys and times meanwhile: what we did insert is final,
            # classify again so the rest is compared with their version
            totals["new"] += last.inserted
        else:
            raise FeatureStoreError(f"feature group {spec.name!r}: gave up after {self.policy.max_attempts} "
                                    "attempts against concurrent writers")
        written = totals["new"] + totals["correction"]
        own = None
        if commits == 1 and last.version is not None and last.rows is not None:  # all of it in one commit
            own = latest_table.OwnRows(last.version, self._latest_rows(spec, session, last, deleted, state))
        # also repairs a latest table left behind by a crash after a history commit, or rebuilds a damaged one
        repaired = self._sync_latest(spec, committed if committed is not None else state.version, session, own)
        table_version = committed if committed is not None else state.version
        if table_version is None:
            table_version = history_write.probe(session, path).version
        return WriteResult(spec.name, path, written, totals["correction"], totals["unchanged"], table_version,
                           write_time if written else None, repaired)

    @staticmethod
    def _commit_info(spec: FeatureGroupSpec, counts: dict, write_time: datetime, metadata: Mapping | None) -> dict:
        return {"group": spec.name, "rows_written": counts.get("new", 0) + counts.get("correction", 0),
                "rows_corrected": counts.get("correction", 0), "write_time": write_time.isoformat(),
                "write_id": uuid.uuid4().hex, **dict(metadata or {})}

    def _attempt_local(self, spec: FeatureGroupSpec, session: SparkSession, rows: DataFrame, path: str,
                       state: history_write.HistoryState, stats: dict, deleted: bool, metadata: Mapping | None,
                       now: datetime | None, *, batch: pa.Table) -> _Attempt:
        """Classify a local batch (`batch`: the same rows as `rows`, on the driver), commit its new and changed
        rows from the driver. A local table is classified on the driver (`local_classify`: delta-rs and DuckDB,
        no Spark job), another in one Spark query, collected."""
        if delta_log.usable(session, path):
            table, schema = local_classify.classify(spec, batch, path, state, stats, deleted), \
                local_classify.classified_schema(rows.schema)
        else:
            classified = history_write.classify(session, spec, rows, path, state, stats, deleted, small=True)
            table, schema = classified.toArrow(), classified.schema
        counts = local_batch.counts(table)
        if not counts.get("new", 0) + counts.get("correction", 0) and state.version is not None:
            return _Attempt(counts)
        write_time = history_write.next_write_time(state.watermark, now)
        pending = local_batch.pending(table)
        commit_rows = history_write.rows_to_commit(spec, local_batch.frame(session, pending, schema), write_time,
                                                   deleted)
        inserted, version = history_write.commit(session, spec, commit_rows, path, state,
                                                 self._commit_info(spec, counts, write_time, metadata), stats,
                                                 local=True)
        return _Attempt(counts, inserted, version, write_time, pending, schema)

    def _attempt_distributed(self, spec: FeatureGroupSpec, session: SparkSession, rows: DataFrame, path: str,
                             state: history_write.HistoryState, stats: dict, deleted: bool,
                             metadata: Mapping | None, now: datetime | None) -> _Attempt:
        """`_attempt_local` for a large batch: classified in Spark (cached once), committed from the cache."""
        classified = history_write.classify(self.spark, spec, rows, path, state, stats, deleted).persist()
        try:
            counts = {r[STATUS]: r["count"] for r in classified.groupBy(STATUS).count().collect()}
            if not counts.get("new", 0) + counts.get("correction", 0) and state.version is not None:
                return _Attempt(counts)
            write_time = history_write.next_write_time(state.watermark, now)
            commit_rows = history_write.rows_to_commit(spec, classified, write_time, deleted)
            inserted, version = history_write.commit(session, spec, commit_rows, path, state,
                                                     self._commit_info(spec, counts, write_time, metadata), stats)
        finally:
            classified.unpersist()
        return _Attempt(counts, inserted, version, write_time)

    @staticmethod
    def _latest_rows(spec: FeatureGroupSpec, session: SparkSession, committed: _Attempt, deleted: bool,
                     state: history_write.HistoryState) -> DataFrame:
        """The newest committed row of each key, with the latest table's columns (a local relation)."""
        newest = local_batch.frame(session, local_batch.newest_per_key(committed.rows, spec.key_names),
                                   committed.schema)
        rows = history_write.rows_to_commit(spec, newest, committed.write_time, deleted)
        rows = rows.drop(EVENT_DATE, history_write.BASE)
        # columns the history has beyond the spec (features no longer declared) are null in new rows
        extra = [f for f in (state.schema.fields if state.schema else [])
                 if f.name not in rows.columns and f.name != EVENT_DATE]
        return rows.select("*", *[F.lit(None).cast(f.dataType).alias(f.name) for f in extra])

    # ---- latest values ------------------------------------------------------------------------------------
    def sync_latest(self, spec: FeatureGroupSpec) -> int | None:
        """Bring the latest-values table up to date with the history (Delta MERGE); returns its version.

        It keeps one row per key, the newest by (event_time, write_time), delete markers included so that a
        late backfill older than a delete cannot resurrect the key; readers see only non-deleted rows. Only
        history rows added since the last sync are read (Delta change data feed from the history version the
        previous sync recorded), so a crash between a history write and this sync is repaired by the next one.
        A damaged latest table (unreadable log, missing data file) is rebuilt from the history, with a
        `LatestTableRepaired` warning.
        """
        self._sync_latest(spec, None, operation_session(self.spark))
        with self._named(spec.name, "latest", self.latest_path(spec.name)):
            return latest_table.probe(self.spark, self.latest_path(spec.name)).version

    def _sync_latest(self, spec: FeatureGroupSpec, target: int | None, session: SparkSession,
                     own: latest_table.OwnRows | None = None) -> str | None:
        """Sync (see `sync_latest`) up to history version `target` on the operation session `session`; `own`:
        the rows of the write that committed `target`, used when the table is synced up to the version before
        it. Returns why the latest table was rebuilt, None if it was not."""
        history_path, latest_path = self.history_path(spec.name), self.latest_path(spec.name)
        if target is None:
            with self._named(spec.name, "history", history_path):
                target = history_write.probe(self.spark, history_path).version
        if target is None:
            return None
        failures = 0
        for attempt in range(1, self.policy.max_attempts + 1):
            try:
                self._sync_latest_once(spec, session, history_path, latest_path, target, own)
                return None
            except Exception as error:  # noqa: BLE001
                if is_concurrent_modification(error) and attempt < self.policy.max_attempts:
                    time.sleep(0.2 * attempt)
                    continue
                failures += 1
                if failures == 1:  # once more, in case it was transient, with Delta's cached log dropped
                    latest_table.forget(self.spark, latest_path)
                    continue
                # the latest table is derived data: rebuild it from the history (beside it, then swapped in;
                # a damaged history makes the rebuild fail before anything is touched)
                return self._rebuild_latest(spec, history_path, latest_path, target, error)
        return None

    def _sync_latest_once(self, spec: FeatureGroupSpec, session: SparkSession, history_path: str,
                          latest_path: str, target: int, own: latest_table.OwnRows | None) -> None:
        state = latest_table.probe(session, latest_path)
        if state.synced is not None and state.synced >= target:
            return
        if state.version is None:
            latest_table.create(session, spec, history_path, latest_path, target)
            return
        if own is not None and own.version == target and state.synced == target - 1:
            latest_table.merge_changes(session, spec, latest_path, own.rows, target, local=True)
            return
        changes = latest_table.history_changes(session, history_path, state.synced, target)
        latest_table.merge_changes(session, spec, latest_path, newest_per(changes, spec.key_names), target)

    def _rebuild_latest(self, spec: FeatureGroupSpec, history_path: str, latest_path: str, target: int,
                        error: BaseException) -> str:
        """Rebuild the latest table from the history after `error`; a named error if that fails too."""
        reason = root_cause(error)
        try:
            aside = latest_table.rebuild(self.spark, spec, history_path, latest_path, target)
        except Exception as second:  # noqa: BLE001
            raise FeatureStoreError(
                f"feature group {spec.name!r}: the latest table at {latest_path} could not be brought up to date "
                f"({reason}) nor rebuilt from the history at {history_path}: {root_cause(second)}") from second
        message = (f"feature group {spec.name!r}: the latest table at {latest_path} was damaged ({reason}); "
                   f"it was rebuilt from the history (version {target}); the damaged table is kept at {aside}")
        warnings.warn(message, LatestTableRepaired, stacklevel=3)
        return message

    def synced_history_version(self, group: str) -> int | None:
        """The history version the latest-values table was last brought up to."""
        path = self.latest_path(group)
        with self._named(group, "latest", path):
            return latest_table.probe(self.spark, path).synced

    def read_latest(self, group: str, version: int | None = None) -> DataFrame:
        """Current value of every non-deleted key: keys, event_time, write_time, features."""
        df = self._read(self.latest_path(group), f"feature group {group!r}", version)
        return df.filter(~F.col(IS_DELETED)).drop(IS_DELETED)

    def lookup(self, spec: FeatureGroupSpec, keys: DataFrame | Iterable[Mapping]) -> DataFrame:
        """Current values for the given keys (keys that are absent or deleted are not returned)."""
        keys = self._keys_frame(spec, keys).dropDuplicates()
        return self.read_latest(spec.name).join(keys, on=spec.key_names)
