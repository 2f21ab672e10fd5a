"""Table maintenance: compaction, Z-order by the entity keys, log checkpoints and a pin-aware VACUUM.

Per group (history and latest tables) and per training set. Dagster-free: `orchestration/maintenance.py`
schedules it.

Retention rule. VACUUM deletes data files that left the table more than `retention` ago. A training set
records the Delta version of every input it read (`featurestore.training.sets.recorded_inputs`); each recorded
version is a **pin** on that input table, lasting `MaintenancePolicy.pin_ttl` from the training set's
commit unless renewed (`renew_pins`). A file of pinned version V can only have left the table in a commit
after V, so VACUUM of a pinned table retains at least `now - time(commit V + 1)` (+ a margin) for the
oldest live pin V: every file of every live pinned version survives and `rebuild_training_set` still
works. The Delta log of pinned tables keeps at least `pin_ttl` (`delta.logRetentionDuration`) so that
time travel to a pinned version stays possible. Expired pins no longer hold anything back.

Clustering: Delta liquid clustering needs the table created `CLUSTER BY` and excludes `partitionBy`,
while histories are partitioned by event_date so that an hourly write reads only its own days; Z-order
(`OPTIMIZE ... ZORDER BY (keys)`) works on the existing tables (within each event_date partition), so that is
what is used. Measured side by side in BENCHMARKS.md "Clustering: Z-order vs liquid": an unpartitioned
liquid table joins faster (fewer, larger files), but every hourly write would then read every file.
"""

from __future__ import annotations

import json
import time
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import datetime, timedelta, timezone
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from featurestore.errors import FeatureStoreError

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

    from featurestore.offline.store import OfflineStore
    from featurestore.registry import Registry

RETENTION_CHECK = "spark.databricks.delta.retentionDurationCheck.enabled"
LISTING_PARALLELISM = "spark.sql.sources.parallelPartitionDiscovery.parallelism"
DEFAULT_LISTING_PARALLELISM = "10000"
DELTA_DEFAULT_LOG_RETENTION = timedelta(days=30)
PIN_MARGIN = timedelta(hours=1)


@dataclass(frozen=True)
class MaintenancePolicy:
    """How tables are maintained.

    `retention`: VACUUM retention of files no live pin needs (Delta's default is 7 days).
    `pin_ttl`: how long a training set's recorded input versions stay pinned after its build.
    `zorder`: Z-order data files by the entity keys during compaction (else bin-packing only).
    `checkpoint_interval`: commits between Delta log checkpoints (`delta.checkpointInterval`).
    """

    retention: timedelta = timedelta(days=7)
    pin_ttl: timedelta = timedelta(days=90)
    zorder: bool = True
    checkpoint_interval: int = 10


@dataclass(frozen=True)
class Pin:
    """A table version a training set needs to stay readable, until `expires_at`."""

    table: str
    version: int
    training_set: str
    training_set_version: int
    built_at: datetime
    expires_at: datetime

    def live(self, now: datetime) -> bool:
        return self.expires_at > now

    def describe(self) -> dict:
        return {"table": self.table, "version": self.version, "training_set": self.training_set,
                "training_set_version": self.training_set_version, "built_at": self.built_at.isoformat(),
                "expires_at": self.expires_at.isoformat()}


@dataclass(frozen=True)
class TableStats:
    """Files and bytes of a table: live (current snapshot) and stored (data files incl. removed ones), log."""

    live_files: int
    live_bytes: int
    stored_files: int
    stored_bytes: int
    log_files: int
    log_bytes: int
    version: int


@dataclass(frozen=True)
class MaintenanceResult:
    """What maintaining one table did."""

    table: str
    path: str
    before: TableStats
    after: TableStats
    duration_s: float
    zorder_by: tuple[str, ...]
    retention_hours: float
    pins_applied: tuple[dict, ...]
    checkpointed_version: int | None
    steps: dict = field(default_factory=dict)

    def metadata(self) -> dict:
        out = asdict(self)
        out["before"], out["after"] = asdict(self.before), asdict(self.after)
        return out


def utc_now() -> datetime:
    return datetime.now(timezone.utc)


# ---- statistics -------------------------------------------------------------------------------------------
def _summary(spark: SparkSession, path: str) -> tuple[int, int]:
    """(files, bytes) under `path` on its file system (0, 0 if absent)."""
    jvm = spark.sparkContext._jvm
    hadoop_path = jvm.org.apache.hadoop.fs.Path(path)
    fs = hadoop_path.getFileSystem(spark.sparkContext._jsc.hadoopConfiguration())
    if not fs.exists(hadoop_path):
        return 0, 0
    summary = fs.getContentSummary(hadoop_path)
    return int(summary.getFileCount()), int(summary.getLength())


def table_stats(spark: SparkSession, path: str) -> TableStats:
    """Files and bytes of the Delta table at `path`."""
    from delta.tables import DeltaTable

    table = DeltaTable.forPath(spark, path)
    detail = table.detail().select("numFiles", "sizeInBytes").first()
    version = int(table.history(1).select("version").first()[0])
    all_files, all_bytes = _summary(spark, path)
    log_files, log_bytes = _summary(spark, path.rstrip("/") + "/_delta_log")
    return TableStats(int(detail[0]), int(detail[1]), all_files - log_files, all_bytes - log_bytes,
                      log_files, log_bytes, version)


# ---- pins -------------------------------------------------------------------------------------------------
def renewals_path(store: OfflineStore) -> str:
    return store.table_path("_maintenance", "pin_renewals")


def renew_pins(store: OfflineStore, training_set: str, *, until: datetime | None = None,
               training_set_version: int | None = None, policy: MaintenancePolicy | None = None) -> datetime:
    """Extend the pins of a training set's build (the current one by default) to `until` (default: now +
    pin_ttl); recorded in a small Delta table so the expiry is visible and survives restarts."""
    from featurestore.training.sets import training_set_path

    policy = policy or MaintenancePolicy()
    version = training_set_version if training_set_version is not None else \
        store.version(training_set_path(store, training_set))
    if version is None:
        raise FeatureStoreError(f"training set {training_set!r}: not built, nothing to pin")
    until = (until or utc_now() + policy.pin_ttl).astimezone(timezone.utc)
    rows = store.spark.createDataFrame([(training_set, int(version), until, utc_now())],
                                       "training_set string, training_set_version long, expires_at timestamp, "
                                       "renewed_at timestamp")
    rows.write.format("delta").mode("append").save(renewals_path(store))
    return until


def _renewed(store: OfflineStore) -> dict[tuple[str, int], datetime]:
    path = renewals_path(store)
    if not store.exists(path):
        return {}
    rows = (store.spark.read.format("delta").load(path).groupBy("training_set", "training_set_version")
            .agg(F.max("expires_at").alias("expires_at")).collect())
    return {(r[0], int(r[1])): r[2].replace(tzinfo=timezone.utc) if r[2].tzinfo is None else r[2] for r in rows}


def _utc(moment: datetime) -> datetime:
    return moment.replace(tzinfo=timezone.utc) if moment.tzinfo is None else moment.astimezone(timezone.utc)


def training_set_pins(store: OfflineStore, entity_sources: Mapping[str, str | None],
                      policy: MaintenancePolicy | None = None) -> list[Pin]:
    """Every input version recorded by every build of the given training sets (name -> entity source),
    with its expiry: the build's commit time + pin_ttl, or a later renewal."""
    from delta.tables import DeltaTable

    from featurestore.training.sets import training_set_path

    policy = policy or MaintenancePolicy()
    renewed = _renewed(store)
    pins = []
    for name, entity_source in entity_sources.items():
        path = training_set_path(store, name)
        if not store.exists(path):
            continue
        for version, built, metadata in (DeltaTable.forPath(store.spark, path).history()
                                         .select("version", "timestamp", "userMetadata").collect()):
            inputs = _json(metadata)
            if inputs is None or "input_versions" not in inputs or inputs.get("maintenance"):
                continue
            built = _utc(built)
            expires = max(built + policy.pin_ttl, renewed.get((name, int(version)), built))
            tables = {store.history_path(g): v for g, v in inputs["input_versions"].items()}
            if entity_source and inputs.get("entity_source_version") is not None:
                tables[store.source_path(entity_source)] = inputs["entity_source_version"]
            for source, v in (inputs.get("query_window_source_versions") or {}).items():
                tables[store.source_path(source)] = v
            pins += [Pin(t, int(v), name, int(version), built, expires) for t, v in tables.items() if v is not None]
    return pins


def registry_pins(store: OfflineStore, registry: Registry, policy: MaintenancePolicy | None = None) -> list[Pin]:
    """Pins of every training set of the registry."""
    return training_set_pins(store, {n: s.entity_source for n, s in registry.training_sets.items()}, policy)


def _json(text: str | None) -> dict | None:
    try:
        parsed = json.loads(text) if text else None
    except ValueError:
        return None
    return parsed if isinstance(parsed, dict) else None


def pinned_retention(spark: SparkSession, path: str, pins: Sequence[Pin], policy: MaintenancePolicy,
                     now: datetime) -> tuple[timedelta, list[Pin]]:
    """The VACUUM retention for `path` that keeps every file of every live pinned version, and those pins."""
    from delta.tables import DeltaTable

    live = [p for p in pins if p.table.rstrip("/") == path.rstrip("/") and p.live(now)]
    if not live:
        return policy.retention, []
    oldest = min(p.version for p in live)
    after = (DeltaTable.forPath(spark, path).history().filter(F.col("version") > oldest)
             .agg(F.min("timestamp")).first()[0])
    if after is None:  # nothing committed after the pinned version: no file of it was removed
        return policy.retention, live
    return max(policy.retention, now - _utc(after) + PIN_MARGIN), live


# ---- maintenance ------------------------------------------------------------------------------------------
def _checkpoint(spark: SparkSession, path: str) -> int | None:
    """Write a Delta log checkpoint of the current version now (JVM DeltaLog API); None if unavailable."""
    try:
        jvm = spark.sparkContext._jvm
        log = jvm.org.apache.spark.sql.delta.DeltaLog.forTable(spark._jsparkSession, path)
        snapshot = log.update(False, jvm.scala.Option.empty(), jvm.scala.Option.empty())
        log.checkpoint(snapshot, jvm.scala.Option.empty())
        return int(snapshot.version())
    except Exception:  # noqa: BLE001 - checkpoints also happen every checkpointInterval commits
        return None


def maintain_table(spark: SparkSession, path: str, *, name: str, keys: Sequence[str],
                   policy: MaintenancePolicy | None = None, pins: Sequence[Pin] = (),
                   now: datetime | None = None, vacuum: bool = True, keep_log: timedelta | None = None,
                   commit_info: str | None = None) -> MaintenanceResult:
    """Compact (Z-ordered by `keys`), set checkpoint/log-retention properties, checkpoint, VACUUM.

    `keep_log`: minimum Delta log retention; `commit_info`: userMetadata of the maintenance commits.
    """
    from delta.tables import DeltaTable

    from featurestore.storage.delta_utils import operation_session

    policy = policy or MaintenancePolicy()
    now = now or utc_now()
    if not DeltaTable.isDeltaTable(spark, path):
        raise FeatureStoreError(f"{name}: no Delta table at {path}; materialise it first")
    started = time.perf_counter()
    before = table_stats(spark, path)
    steps: dict[str, float] = {}
    table = DeltaTable.forPath(spark, path)
    columns = set(table.toDF().columns)
    zorder = tuple(k for k in keys if k in columns) if policy.zorder else ()
    info = commit_info or json.dumps({"maintenance": True})
    session = operation_session(spark, info)  # every maintenance commit (VACUUM START / END too) carries `info`
    t = time.perf_counter()
    builder = DeltaTable.forPath(session, path).optimize()
    (builder.executeZOrderBy(*zorder) if zorder else builder.executeCompaction()).collect()
    steps["optimize_s"] = round(time.perf_counter() - t, 3)
    retention, applied = pinned_retention(spark, path, pins, policy, now)
    properties = {"delta.checkpointInterval": str(policy.checkpoint_interval)}
    if applied:  # time travel to a pinned version needs its log entries until the pin expires
        keep_log = max(keep_log or timedelta(0), max(p.expires_at for p in applied) - now)
    if keep_log is not None and keep_log > DELTA_DEFAULT_LOG_RETENTION:
        properties["delta.logRetentionDuration"] = f"interval {int(keep_log.total_seconds() // 86400) + 1} days"
    current = {r[0]: r[1] for r in spark.sql(f"SHOW TBLPROPERTIES delta.`{path}`").collect()}
    changed = {k: v for k, v in properties.items() if current.get(k) != v}
    if changed:
        settings = ", ".join(f"'{k}' = '{v}'" for k, v in changed.items())
        session.sql(f"ALTER TABLE delta.`{path}` SET TBLPROPERTIES ({settings})")
    t = time.perf_counter()
    checkpointed = _checkpoint(session, path)
    steps["checkpoint_s"] = round(time.perf_counter() - t, 3)
    hours = retention.total_seconds() / 3600
    if vacuum:
        t = time.perf_counter()
        _vacuum(spark, path, hours, info)
        steps["vacuum_s"] = round(time.perf_counter() - t, 3)
    after = table_stats(spark, path)
    return MaintenanceResult(name, path, before, after, round(time.perf_counter() - started, 3), zorder,
                             round(hours, 3), tuple(p.describe() for p in applied), checkpointed, steps)


def listing_parallelism(spark: SparkSession) -> str | None:
    """A listing parallelism for VACUUM sized to the cluster, or None when the user set one.

    Delta's VACUUM lists the table with `spark.sql.sources.parallelPartitionDiscovery.parallelism` tasks
    (default 10,000): on `local[2]` that is 10,000 empty tasks and ~50 s per table; two per core is enough.
    """
    if spark.conf.get(LISTING_PARALLELISM, DEFAULT_LISTING_PARALLELISM) != DEFAULT_LISTING_PARALLELISM:
        return None
    return str(max(8, 2 * spark.sparkContext.defaultParallelism))


def vacuum_settings(spark: SparkSession, hours: float) -> dict[str, str]:
    """The session confs one VACUUM needs: the retention check lifted below 7 days, a sized listing."""
    settings = {RETENTION_CHECK: "false"} if hours < 168 else {}
    parallelism = listing_parallelism(spark)
    if parallelism is not None:
        settings[LISTING_PARALLELISM] = parallelism
    return settings


def _vacuum(spark: SparkSession, path: str, hours: float, metadata: str) -> None:
    """VACUUM with `hours` retention on an operation session: the confs of `vacuum_settings` hold only there."""
    from delta.tables import DeltaTable

    from featurestore.storage.delta_utils import operation_session

    session = operation_session(spark, metadata, vacuum_settings(spark, hours))
    DeltaTable.forPath(session, path).vacuum(hours)


def maintain_group(store: OfflineStore, group: str, registry: Registry, *, policy: MaintenancePolicy | None = None,
                   now: datetime | None = None, pins: Sequence[Pin] | None = None) -> list[MaintenanceResult]:
    """Maintain a group's history and latest tables, honouring every training set's pins."""
    spec = registry.group(group)
    policy = policy or MaintenancePolicy()
    pins = registry_pins(store, registry, policy) if pins is None else pins
    results = []
    for kind, path in (("history", store.history_path(group)), ("latest", store.latest_path(group))):
        if store.exists(path):
            results.append(maintain_table(store.spark, path, name=f"feature group {group!r} {kind}",
                                          keys=spec.key_names, policy=policy, pins=pins, now=now))
    return results


def training_set_keys(spec, registry: Registry) -> list[str]:
    """The entity keys of a training set's groups that are among its entity columns (Z-order columns)."""
    keys: list[str] = []
    for group in spec.groups():
        keys += [k for k in registry.group(group).key_names if k in spec.entity_columns and k not in keys]
    return keys


def maintain_training_set(store: OfflineStore, name: str, registry: Registry, *,
                          policy: MaintenancePolicy | None = None, now: datetime | None = None) -> MaintenanceResult:
    """Maintain a training set's table. Its maintenance commits carry the current build's recorded inputs
    (marked `maintenance`), so `recorded_inputs` / `rebuild_training_set` see the same build, and its log
    (holding every build's inputs, i.e. its pins) is kept for at least `pin_ttl`."""
    from featurestore.training.sets import recorded_inputs, training_set_path

    spec = registry.training_set(name)
    policy = policy or MaintenancePolicy()
    path = training_set_path(store, name)
    if not store.exists(path):
        raise FeatureStoreError(f"training set {name!r}: no Delta table at {path}; build it first")
    info = json.dumps({**recorded_inputs(store, name), "maintenance": True})
    return maintain_table(store.spark, path, name=f"training set {name!r}", keys=training_set_keys(spec, registry),
                          policy=policy, now=now, keep_log=policy.pin_ttl + timedelta(days=1), commit_info=info)


def pins_summary(pins: Sequence[Pin], now: datetime | None = None) -> list[dict]:
    """Pins as plain dicts with whether each is still live (for metadata and the CLI)."""
    now = now or utc_now()
    return [{**p.describe(), "live": p.live(now)} for p in pins]


def describe_results(results: Sequence[MaintenanceResult]) -> Mapping:
    """Metadata of several maintained tables, keyed by table name."""
    return {r.table: r.metadata() for r in results}
