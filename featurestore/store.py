"""The offline store: append-only Delta history per group, a latest-values table, and raw sources."""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from pyspark.sql import functions as F
from pyspark.sql.window import Window as SparkWindow

from featurestore.columns import EVENT_DATE, EVENT_TIME, IS_DELETED, WRITE_TIME
from featurestore.conform import check_rows, conform
from featurestore.errors import DataValidationError, FeatureStoreError
from featurestore.types import spark_type

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from featurestore.spec import FeatureGroupSpec, SourceSpec

_STATUS = "__write_status"


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


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


def _join(root: str, *parts: str) -> str:
    return "/".join([root.rstrip("/"), *parts])


class OfflineStore:
    """Delta tables under one storage root (a local folder, s3a://..., abfss://...)."""

    def __init__(self, spark: SparkSession, root: str):
        self.spark = spark
        self.root = root

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
        from delta.tables import DeltaTable

        return DeltaTable.isDeltaTable(self.spark, path)

    def version(self, path: str) -> int | None:
        """Current Delta version of the table at `path`, None if there is no table."""
        from delta.tables import DeltaTable

        if not self.exists(path):
            return None
        return int(DeltaTable.forPath(self.spark, path).history(1).select("version").first()[0])

    def _read(self, path: str, what: str, version: int | None = None) -> DataFrame:
        if not self.exists(path):
            raise FeatureStoreError(f"{what}: no Delta table at {path}; materialise it first")
        reader = self.spark.read.format("delta")
        if version is not None:
            reader = reader.option("versionAsOf", version)
        return reader.load(path)

    # ---- raw sources --------------------------------------------------------------------------------------
    def write_source(self, source: SourceSpec, df: DataFrame, start: datetime, end: datetime) -> WriteResult:
        """Replace the source's rows for [start, end) with `df` in one Delta transaction."""
        time_col = source.event_time_column
        outside = df.filter((F.col(time_col) < F.lit(start)) | (F.col(time_col) >= F.lit(end))).limit(1).count()
        if outside:
            raise DataValidationError(f"source {source.name!r}: rows with {time_col!r} outside [{start}, {end})")
        path = self.source_path(source.name)
        rows = df.withColumn(EVENT_DATE, F.to_date(F.col(time_col)))
        writer = rows.write.format("delta").partitionBy(EVENT_DATE)
        if self.exists(path):
            predicate = f"{EVENT_DATE} >= '{start.date()}' AND {EVENT_DATE} <= '{(end - timedelta(microseconds=1)).date()}'"
            writer = writer.mode("overwrite").option("replaceWhere", predicate)
        else:
            writer = writer.mode("append")
        writer.save(path)
        count = rows.count()
        return WriteResult(source.name, path, count, 0, 0, self.version(path), None)

    def read_source(self, name: str, time_column: str, start: datetime | None = None,
                    end: datetime | None = None, version: int | None = None) -> DataFrame:
        """Rows of a raw source with start <= time < end (partition-pruned); all rows without bounds."""
        df = self._read(self.source_path(name), f"source {name!r}", version)
        if start is not None:
            df = df.filter((F.col(EVENT_DATE) >= F.lit(start.date())) & (F.col(time_column) >= F.lit(start)))
        if end is not None:
            df = df.filter((F.col(EVENT_DATE) <= F.lit(end.date())) & (F.col(time_column) < F.lit(end)))
        return df.drop(EVENT_DATE)

    # ---- feature history ----------------------------------------------------------------------------------
    def read_history(self, group: str, version: int | None = None,
                     as_known_at: datetime | None = None) -> DataFrame:
        """The group's full history (optionally at a Delta version, and only rows written by `as_known_at`)."""
        df = self._read(self.history_path(group), f"feature group {group!r}", version)
        if as_known_at is not None:
            df = df.filter(F.col(WRITE_TIME) <= F.lit(as_known_at))
        return df

    def write_features(self, spec: FeatureGroupSpec, df: DataFrame, *, metadata: Mapping | None = None,
                       now: datetime | None = None) -> WriteResult:
        """Append rows whose values are new or changed for their (key, event_time); nothing else.

        The whole write is one Delta commit; on any validation error nothing is written.
        """
        incoming = conform(spec, df).persist()
        try:
            check_rows(spec, incoming)
            return self._append_changes(spec, incoming, deleted=False, metadata=metadata, now=now)
        finally:
            incoming.unpersist()

    def soft_delete(self, spec: FeatureGroupSpec, keys: DataFrame | Iterable[Mapping], at: datetime, *,
                    now: datetime | None = None) -> WriteResult:
        """Write delete markers for `keys` at event time `at`: the keys read as absent from `at` on."""
        if at.tzinfo is None:
            raise DataValidationError(f"feature group {spec.name!r}: delete time {at} has no timezone; pass UTC")
        keys = self._keys_frame(spec, keys)
        markers = keys.dropDuplicates().withColumn(EVENT_TIME, F.lit(at).cast("timestamp"))
        markers = markers.select(*spec.key_names, EVENT_TIME,
                                 *[F.lit(None).cast(spark_type(f.dtype)).alias(f.name) for f in spec.features])
        check_rows(spec, markers)
        return self._append_changes(spec, markers, deleted=True, metadata={"operation": "soft_delete"}, now=now)

    def _keys_frame(self, spec: FeatureGroupSpec, keys: DataFrame | Iterable[Mapping]) -> DataFrame:
        """Key rows (a DataFrame or dicts) as a DataFrame of the spec's key columns and types."""
        if not hasattr(keys, "schema"):
            schema = ", ".join(f"`{k.name}` {spark_type(k.dtype).simpleString()}" for k in spec.keys)
            rows = [tuple(row.get(k) for k in spec.key_names) for row in keys]
            keys = self.spark.createDataFrame(rows, schema)
        missing = [k for k in spec.key_names if k not in keys.columns]
        if missing:
            raise DataValidationError(f"feature group {spec.name!r}: key column(s) {missing} missing")
        return keys.select(*[F.col(k.name).cast(spark_type(k.dtype)).alias(k.name) for k in spec.keys])

    def _append_changes(self, spec: FeatureGroupSpec, incoming: DataFrame, *, deleted: bool,
                        metadata: Mapping | None, now: datetime | None) -> WriteResult:
        path = self.history_path(spec.name)
        classified = self._classify(spec, incoming, path, deleted).persist()
        try:
            counts = {row[_STATUS]: row["count"] for row in classified.groupBy(_STATUS).count().collect()}
            written = counts.get("new", 0) + counts.get("correction", 0)
            if not written:
                return WriteResult(spec.name, path, 0, 0, counts.get("unchanged", 0), self.version(path), None)
            write_time = self._next_write_time(path, now)
            rows = classified.filter(F.col(_STATUS) != "unchanged").select(
                *spec.key_names, EVENT_TIME, F.lit(write_time).cast("timestamp").alias(WRITE_TIME),
                F.lit(deleted).alias(IS_DELETED), *spec.feature_names,
                F.to_date(F.col(EVENT_TIME)).alias(EVENT_DATE))
            info = {"group": spec.name, "rows_written": written, "rows_corrected": counts.get("correction", 0),
                    "write_time": write_time.isoformat(), **dict(metadata or {})}
            (rows.write.format("delta").mode("append").partitionBy(EVENT_DATE)
             .option("userMetadata", json.dumps(info, default=str)).save(path))
        finally:
            classified.unpersist()
        self.sync_latest(spec)
        return WriteResult(spec.name, path, written, counts.get("correction", 0), counts.get("unchanged", 0),
                           self.version(path), write_time)

    def _classify(self, spec: FeatureGroupSpec, incoming: DataFrame, path: str, deleted: bool) -> DataFrame:
        """Incoming rows with a status: 'new' (no version of its key and event_time yet), 'correction'
        (differs from the current version) or 'unchanged'."""
        keys = spec.key_names
        if not self.exists(path):
            return incoming.withColumn(_STATUS, F.lit("new"))
        bounds = incoming.agg(F.min(EVENT_TIME), F.max(EVENT_TIME)).first()
        if bounds[0] is None:
            return incoming.withColumn(_STATUS, F.lit("new"))
        current = newest_per(self.read_history(spec.name).filter(
            F.col(EVENT_DATE).between(bounds[0].date(), bounds[1].date())
            & F.col(EVENT_TIME).between(bounds[0], bounds[1])), keys + [EVENT_TIME])
        current = current.select(*keys, EVENT_TIME, F.col(IS_DELETED).alias("__cur_deleted"),
                                 *[F.col(f).alias(f"__cur_{f}") for f in spec.feature_names])
        joined = incoming.join(current, on=keys + [EVENT_TIME], how="left")
        present = F.col("__cur_deleted").isNotNull()
        if deleted:
            differs = ~F.col("__cur_deleted")
        else:
            differs = F.col("__cur_deleted")
            for f in spec.feature_names:
                differs = differs | ~F.col(f).eqNullSafe(F.col(f"__cur_{f}"))
        status = F.when(~present, "new").when(differs, "correction").otherwise("unchanged")
        return joined.select(*incoming.columns, status.alias(_STATUS))

    def _next_write_time(self, path: str, now: datetime | None) -> datetime:
        """Now (UTC), or 1 µs after the table's newest write_time if the clock is behind: monotonic per table."""
        stamp = (now or utc_now()).astimezone(timezone.utc)
        if self.exists(path):
            last = self.spark.read.format("delta").load(path).agg(F.max(WRITE_TIME)).first()[0]
            if last is not None:
                last = last.replace(tzinfo=timezone.utc) if last.tzinfo is None else last
                stamp = max(stamp, last + timedelta(microseconds=1))
        return stamp

    # ---- latest values ------------------------------------------------------------------------------------
    def sync_latest(self, spec: FeatureGroupSpec) -> int | None:
        """Bring the latest-values table up to date with the history (Delta MERGE); returns its version.

        It keeps one row per key, the newest by (event_time, write_time), delete markers included so that a
        late backfill older than a delete cannot resurrect the key; readers see only non-deleted rows.
        """
        keys = spec.key_names
        history = self.read_history(spec.name).drop(EVENT_DATE)
        latest_path = self.latest_path(spec.name)
        if self.exists(latest_path):
            watermark = self.spark.read.format("delta").load(latest_path).agg(F.max(WRITE_TIME)).first()[0]
            if watermark is not None:
                history = history.filter(F.col(WRITE_TIME) > F.lit(watermark))
        newest = newest_per(history, keys)
        if not self.exists(latest_path):
            newest.write.format("delta").mode("append").save(latest_path)
            return self.version(latest_path)
        from delta.tables import DeltaTable

        on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in keys)
        newer = ("s.event_time > t.event_time OR (s.event_time = t.event_time AND s.write_time > t.write_time)"
                 .replace("event_time", EVENT_TIME).replace("write_time", WRITE_TIME))
        (DeltaTable.forPath(self.spark, latest_path).alias("t").merge(newest.alias("s"), on)
         .whenMatchedUpdateAll(condition=newer).whenNotMatchedInsertAll().execute())
        return self.version(latest_path)

    def read_latest(self, group: str, version: int | None = None) -> DataFrame:
        """Current value of every non-deleted key: keys, event_time, write_time, features."""
        df = self._read(self.latest_path(group), f"feature group {group!r}", version)
        return df.filter(~F.col(IS_DELETED)).drop(IS_DELETED)

    def lookup(self, spec: FeatureGroupSpec, keys: DataFrame | Iterable[Mapping]) -> DataFrame:
        """Current values for the given keys (keys that are absent or deleted are not returned)."""
        keys = self._keys_frame(spec, keys).dropDuplicates()
        return self.read_latest(spec.name).join(keys, on=spec.key_names)


def newest_per(df: DataFrame, columns: list[str]) -> DataFrame:
    """The newest row per `columns` by (event_time, write_time)."""
    order = [F.col(EVENT_TIME).desc(), F.col(WRITE_TIME).desc()] if EVENT_TIME not in columns \
        else [F.col(WRITE_TIME).desc()]
    rank = F.row_number().over(SparkWindow.partitionBy(*columns).orderBy(*order))
    return df.withColumn("__rank", rank).filter("__rank = 1").drop("__rank")
