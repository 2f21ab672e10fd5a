"""The latest-values table: kept in step with the history through its change feed, rebuilt when damaged."""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from featurestore.columns import EVENT_DATE, EVENT_TIME, WRITE_TIME
from featurestore.errors import FeatureStoreError
from featurestore.offline.history_write import LOCAL_SOURCE_CONF, newest_per, recent_commits
from featurestore.session import is_connect_session
from featurestore.storage import delta_compat, delta_log
from featurestore.storage.delta_utils import commit_metadata, parse_metadata

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

    from featurestore.spec import FeatureGroupSpec

SYNCED = "synced_history_version"


@dataclass(frozen=True)
class OwnRows:
    """The rows one write committed as history `version`: the newest per key, with the latest table's columns."""

    version: int
    rows: DataFrame


@dataclass(frozen=True)
class LatestState:
    version: int | None
    synced: int | None  # history version the table was last brought up to


def probe(spark: SparkSession, path: str) -> LatestState:
    """Version and synced history version of the latest table, from its last commits (None: no table)."""
    if not delta_log.usable(spark, path) and not delta_compat.is_delta_table(spark, path):
        return LatestState(None, None)
    for limit in (5, 100):
        commits = recent_commits(spark, path, limit)
        if not commits:
            return LatestState(None, None)
        synced = [int(m[SYNCED]) for m in (parse_metadata(metadata) for _, metadata in commits) if SYNCED in m]
        if synced or len(commits) < limit:
            return LatestState(commits[0][0], max(synced, default=None))
    return LatestState(commits[0][0], None)


def history_changes(spark: SparkSession, history_path: str, synced: int | None, target: int) -> DataFrame:
    """History rows added in versions (synced, target]: the change feed, or the whole table as fallback."""
    full = spark.read.format("delta").option("versionAsOf", target).load(history_path).drop(EVENT_DATE)
    if synced is None:
        return full
    try:
        feed = (spark.read.format("delta").option("readChangeFeed", "true")
                .option("startingVersion", synced + 1).option("endingVersion", target).load(history_path))
        feed.schema  # noqa: B018 - resolves now, so a missing feed falls back below
    except Exception:  # noqa: BLE001 - no change feed for that range (e.g. an old table): read it all
        return full
    return feed.filter(F.col("_change_type") == "insert").select(*full.columns)


def merge_changes(session: SparkSession, spec: FeatureGroupSpec, latest_path: str, newest: DataFrame,
                  target: int, local: bool = False) -> None:
    """MERGE the newest changed row per key into the latest table (one commit recording `target`) on the
    operation session `session`; `local`: `newest` is a local relation, merged by delta-rs when the table is
    local (`featurestore.storage.delta_log`: no Spark job), else by Delta's MERGE."""
    on = " AND ".join(f"t.`{k}` = s.`{k}`" for k in spec.key_names)
    newer = (f"s.{EVENT_TIME} > t.{EVENT_TIME} OR "
             f"(s.{EVENT_TIME} = t.{EVENT_TIME} AND s.{WRITE_TIME} > t.{WRITE_TIME})")
    if local and delta_log.usable(session, latest_path):
        delta_log.merge(latest_path, newest.toArrow(), on, update_when=newer, metadata={SYNCED: target})
        return
    source = F.broadcast(newest) if local else newest
    with commit_metadata(session, json.dumps({SYNCED: target}), LOCAL_SOURCE_CONF if local else None):
        delta_compat.merge_into(session, latest_path, source, on, update_all_when=newer)


def create(spark: SparkSession, spec: FeatureGroupSpec, history_path: str, latest_path: str, target: int) -> None:
    """Write the latest table from the whole history at `target` (one commit)."""
    newest = newest_per(history_changes(spark, history_path, None, target), spec.key_names)
    (newest.write.format("delta").mode("append").option("userMetadata", json.dumps({SYNCED: target})).save(latest_path))


def rebuild(spark: SparkSession, spec: FeatureGroupSpec, history_path: str, latest_path: str,
            target: int) -> str:
    """Rebuild a damaged latest table from the history: written beside it first, then swapped in; the damaged
    table is kept as `<latest>.damaged-<id>` for inspection. Returns where the damaged table went."""
    tag = uuid.uuid4().hex[:8]
    fresh, aside = f"{latest_path}.rebuild-{tag}", f"{latest_path}.damaged-{tag}"
    if is_connect_session(spark):
        raise FeatureStoreError(f"rebuilding the latest table {latest_path} needs a classic Spark session "
                                "(it moves folders through Hadoop's FileSystem); run the sync from one")
    create(spark, spec, history_path, fresh, target)  # fails here, touching nothing, if the history is bad
    jvm = spark._jvm
    hadoop = spark._jsc.hadoopConfiguration()
    target_path = jvm.org.apache.hadoop.fs.Path(latest_path)
    fs = target_path.getFileSystem(hadoop)
    if fs.exists(target_path) and not fs.rename(target_path, jvm.org.apache.hadoop.fs.Path(aside)):
        raise OSError(f"cannot move the damaged latest table {latest_path} aside to {aside}")
    if not fs.rename(jvm.org.apache.hadoop.fs.Path(fresh), target_path):
        raise OSError(f"cannot move the rebuilt latest table {fresh} to {latest_path}")
    forget(spark, latest_path)
    forget(spark, aside)
    return aside


def forget(spark: SparkSession, path: str) -> None:
    """Drop Delta's cached log of `path` (after it was replaced on storage); nothing to do on Connect."""
    if is_connect_session(spark):
        return
    try:
        jvm = spark._jvm
        jvm.org.apache.spark.sql.delta.DeltaLog.invalidateCache(spark._jsparkSession,
                                                                jvm.org.apache.hadoop.fs.Path(path))
    except Exception:  # noqa: BLE001 - older Delta: clear every cached log instead
        spark._jvm.org.apache.spark.sql.delta.DeltaLog.clearCache()
