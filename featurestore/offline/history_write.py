"""The history table's write path: one probe of the table, partition-pruned classification, one commit.

A write reads only what it needs:
- `probe`: the table's version and newest write_time from the Delta log (the last commits' metadata), no scan;
- `classify`: the stored versions of the incoming (key, event_time) pairs, from the incoming rows' UTC
  `event_date` partitions and time range only (a small batch is broadcast and semi-joined first);
- `commit`: one Delta commit, an append for a new table, else an insert-only MERGE whose per-row condition
  inserts a row only if the newest stored version of its (key, event_time) is still the one it was compared
  with (concurrent writers never store the same row twice), reading only the files of those partitions and
  times, with its commit metadata carried by an operation session (no session-wide state, safe from threads).
"""

from __future__ import annotations

import json
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING

from pyspark.sql import functions as F
from pyspark.sql.window import Window as SparkWindow

from featurestore.columns import EVENT_DATE, EVENT_TIME, IS_DELETED, WRITE_TIME
from featurestore.errors import SchemaMismatchError
from featurestore.offline.spark_times import date_literal, sql_timestamp, timestamp_literal, utc_date
from featurestore.storage import delta_compat, delta_log
from featurestore.storage.delta_utils import commit_metadata, parse_metadata
from featurestore.times import from_micros, to_utc
from featurestore.types import dtype_name, spark_type

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

    from featurestore.spec import FeatureGroupSpec

STATUS = "__write_status"
BASE = "__base_write_time"  # write_time of the stored version a row was compared with (null: none)
_RANK = "__fs_rank"  # reserved: internal to the store
_PROBE_COMMITS = 20  # recent commits read for the watermark before falling back to a scan
# a MERGE whose source is a local relation (rows collected to the driver) need not materialise it first: it is
# immutable and deterministic, which is what Delta's source materialisation guards against
LOCAL_SOURCE_CONF = {"spark.databricks.delta.merge.materializeSource": "none"}


@dataclass(frozen=True)
class HistoryState:
    """The history table as one write saw it: Delta version (None: no table) and newest write_time."""

    version: int | None
    watermark: datetime | None
    columns: dict[str, str] | None = None  # stored column -> type name
    schema: StructType | None = None  # the stored schema


def probe(spark: SparkSession, path: str) -> HistoryState:
    """Version, newest recorded write_time and schema of the table at `path`, from its log (no data scan).

    Every commit the store makes records its `write_time` in the commit metadata; the newest of the last
    commits is the watermark. When none of them carries one (e.g. after many maintenance commits) the whole
    log's commit history is read; only a table no store write ever committed to (written by other tools) has
    max(write_time) computed from the data. A local table's log is read by delta-rs (no Spark job,
    `featurestore.storage.delta_log`), others' by Delta's history.
    """
    if delta_log.usable(spark, path):
        view = delta_log.read(path, _PROBE_COMMITS)
        if view is None:
            return HistoryState(None, None)
        version, commits, schema = view.version, view.commits, view.schema()
    else:
        if not delta_compat.is_delta_table(spark, path):
            return HistoryState(None, None)
        commits = recent_commits(spark, path, _PROBE_COMMITS)
        version = commits[0][0]
        schema = spark.read.format("delta").option("versionAsOf", version).load(path).schema
    stamps = _stamps(commits)
    if not stamps and len(commits) == _PROBE_COMMITS:
        stamps = _stamps(recent_commits(spark, path, None))
    columns = {f.name: dtype_name(f.dataType) for f in schema.fields}
    if stamps:
        return HistoryState(version, max(stamps), columns, schema)
    scanned = (spark.read.format("delta").option("versionAsOf", version).load(path)
               .agg(F.max(F.unix_micros(WRITE_TIME))).first()[0])
    return HistoryState(version, from_micros(scanned), columns, schema)


def _stamps(commits: list[tuple[int, str | None]]) -> list[datetime]:
    """The write_times recorded in (version, userMetadata) commits."""
    stamps = [parse_metadata(metadata).get("write_time") for _, metadata in commits]
    return [to_utc(s, "recorded write_time") for s in stamps if s]


def check_table_schema(spec: FeatureGroupSpec, state: HistoryState) -> None:
    """Refuse a type change of an existing column (new columns are added by schema evolution)."""
    table = state.columns or {}
    for column in spec.keys + spec.features:
        if column.name in table and table[column.name] != column.dtype:
            raise SchemaMismatchError(
                f"feature group {spec.name!r}: column {column.name!r} is {table[column.name]} in the stored "
                f"history but {column.dtype} in the spec. Delta cannot change a column's type in place: add "
                f"a new feature (e.g. {column.name}_v2) and stop writing the old one, or start a new group "
                "version; adding features is allowed and needs nothing.")


def classify(spark: SparkSession, spec: FeatureGroupSpec, incoming: DataFrame, path: str, state: HistoryState,
             stats: dict, deleted: bool, small: bool = False) -> DataFrame:
    """Incoming rows with a status — 'new' (no stored version of its key and event_time), 'correction'
    (differs from the newest stored version) or 'unchanged' — and that version's write_time (BASE).

    Reads the history at the probed version, only the UTC event dates and the time range of the incoming rows.
    `small`: `incoming` is a small local relation; it is broadcast, first to keep only the stored rows of its
    keys and times (a semi-join), then to join them back (no shuffle of the incoming rows).
    """
    keys = spec.key_names
    if state.version is None or stats["min_time"] is None:
        return incoming.withColumn(STATUS, F.lit("new")).withColumn(BASE, F.lit(None).cast("timestamp"))
    history = spark.read.format("delta").option("versionAsOf", state.version).load(path)
    pruned = history.filter(pruning_filter(stats))
    if small:
        pruned = pruned.join(F.broadcast(incoming.select(*keys, EVENT_TIME)), on=keys + [EVENT_TIME],
                             how="left_semi")
    current = newest_per(pruned, keys + [EVENT_TIME])
    stored = set(current.columns)  # a feature added to the spec has no stored value yet: null
    current = current.select(*keys, EVENT_TIME, F.col(IS_DELETED).alias("__cur_deleted"),
                             F.col(WRITE_TIME).alias(BASE), *[
        (F.col(f.name) if f.name in stored else F.lit(None).cast(spark_type(f.dtype))).alias(f"__cur_{f.name}")
        for f in spec.features])
    if small:
        joined = current.join(F.broadcast(incoming), on=keys + [EVENT_TIME], how="right")
    else:
        joined = incoming.join(current, on=keys + [EVENT_TIME], how="left")
    present = F.col("__cur_deleted").isNotNull()
    if deleted:
        differs = ~F.col("__cur_deleted")
    else:
        differs = F.col("__cur_deleted")
        for f in spec.feature_names:
            differs = differs | ~F.col(f).eqNullSafe(F.col(f"__cur_{f}"))
    status = F.when(~present, "new").when(differs, "correction").otherwise("unchanged")
    return joined.select(*incoming.columns, status.alias(STATUS), BASE)


def pruning_filter(stats: dict):
    """The stored rows a batch can match: its UTC event dates (partitions) and time range (file statistics)."""
    dates: list[date] = stats["dates"]
    return (F.col(EVENT_DATE).isin([date_literal(d) for d in dates])
            & F.col(EVENT_TIME).between(timestamp_literal(stats["min_time"]), timestamp_literal(stats["max_time"])))


def pruning_condition(stats: dict, alias: str = "t") -> str:
    """`pruning_filter` as SQL on the table alias `alias` (a MERGE condition on the target only)."""
    dates = ", ".join(f"DATE'{d.isoformat()}'" for d in stats["dates"])
    return (f"{alias}.{EVENT_DATE} IN ({dates}) AND {alias}.{EVENT_TIME} >= {sql_timestamp(stats['min_time'])} "
            f"AND {alias}.{EVENT_TIME} <= {sql_timestamp(stats['max_time'])}")


def newest_per(df: DataFrame, columns: list[str]) -> DataFrame:
    """The newest row per `columns` by (event_time, write_time)."""
    order = [F.col(EVENT_TIME).desc(), F.col(WRITE_TIME).desc()] if EVENT_TIME not in columns \
        else [F.col(WRITE_TIME).desc()]
    rank = F.row_number().over(SparkWindow.partitionBy(*columns).orderBy(*order))
    return df.withColumn(_RANK, rank).filter(F.col(_RANK) == 1).drop(_RANK)


def next_write_time(last: datetime | None, now: datetime | None) -> datetime:
    """Now (UTC), or 1 µs after the table's newest write_time if the clock is behind: monotonic per table."""
    stamp = to_utc(now, "now") if now is not None else datetime.now(timezone.utc)
    return stamp if last is None else max(stamp, last + timedelta(microseconds=1))


def rows_to_commit(spec: FeatureGroupSpec, classified: DataFrame, write_time: datetime,
                   deleted: bool) -> DataFrame:
    """The new and changed rows with the system columns, in the history's column order (+ BASE)."""
    return classified.filter(F.col(STATUS) != "unchanged").select(
        *spec.key_names, EVENT_TIME, timestamp_literal(write_time).alias(WRITE_TIME),
        F.lit(deleted).alias(IS_DELETED), *spec.feature_names, utc_date(EVENT_TIME).alias(EVENT_DATE), BASE)


def history_columns(spec: FeatureGroupSpec) -> list[str]:
    return [*spec.key_names, EVENT_TIME, WRITE_TIME, IS_DELETED, *spec.feature_names, EVENT_DATE]


def commit(session: SparkSession, spec: FeatureGroupSpec, rows: DataFrame, path: str, state: HistoryState,
           info: dict, stats: dict, local: bool = False) -> tuple[int, int | None]:
    """One Delta commit of `rows` on the operation session `session`; returns (rows inserted, version committed
    or None if nothing was).

    Fewer rows than given are inserted when another writer stored a newer version of some (key, event_time)
    after this writer read the history. The MERGE condition names the batch's partitions and time range on
    the target alone, so Delta reads (and checks for conflicts) only those files, never the whole history.
    `local`: `rows` is a local relation (not materialised again by the MERGE).
    """
    metadata = json.dumps(info, default=str)
    columns = history_columns(spec)
    if state.version is None:
        (rows.select(*columns).write.format("delta").mode("append").partitionBy(EVENT_DATE)
         .option("delta.enableChangeDataFeed", "true").option("userMetadata", metadata).save(path))
        return int(info["rows_written"]), committed_version(session, path, info["write_id"])
    keys = " AND ".join(f"t.`{k}` = s.`{k}`" for k in spec.key_names)
    on = (f"{pruning_condition(stats)} AND t.{EVENT_DATE} = s.{EVENT_DATE} AND {keys} "
          f"AND t.{EVENT_TIME} = s.{EVENT_TIME} AND (s.{BASE} IS NULL OR t.{WRITE_TIME} > s.{BASE})")
    with commit_metadata(session, metadata, LOCAL_SOURCE_CONF if local else None):
        metrics = delta_compat.merge_into(session, path, rows, on, insert_columns=list(columns))
    inserted = int(metrics["num_inserted_rows"]) if metrics is not None else 0
    return inserted, committed_version(session, path, info["write_id"]) if inserted else None


def recent_commits(spark: SparkSession, path: str, limit: int | None) -> list[tuple[int, str | None]]:
    """(version, userMetadata) of the table's last `limit` commits (None: all), newest first: delta-rs for a
    local table ([] if there is none), else Delta's history (which needs the table)."""
    if delta_log.usable(spark, path):
        view = delta_log.read(path, limit)
        return view.commits if view is not None else []
    return [(int(r["version"]), r["userMetadata"])
            for r in delta_compat.history(spark, path, limit).select("version", "userMetadata").collect()]


def committed_version(spark: SparkSession, path: str, write_id: str) -> int | None:
    """The version of the commit carrying `write_id` among the table's last commits."""
    for version, metadata in recent_commits(spark, path, _PROBE_COMMITS):
        if parse_metadata(metadata).get("write_id") == write_id:
            return version
    return None
