"""Dagster around the online store: an `online/<group>` asset per group that syncs SQLite from the group's
latest-values table, and an asset check comparing the two. The sync runs by declarative automation
(orchestration.automation.inputs_ready): after the group has new data whose blocking checks passed.

Wire into the project's Definitions with `Definitions(**online_definitions(registry))` (the project merges
it with the other areas' Definitions in orchestration/definitions.py).
"""

import os

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetChecksDefinition,
    AssetKey,
    AssetsDefinition,
    AssetSelection,
    ConfigurableResource,
    EnvVar,
    MaterializeResult,
    MetadataValue,
    asset,
    asset_check,
    define_asset_job,
    in_process_executor,
)

from featurestore.offline.store import OfflineStore
from featurestore.online.store import ONLINE_PATH_ENV, OnlineStore, check_consistency
from featurestore.registry import Registry
from featurestore.spec import FeatureGroupSpec
from orchestration.automation import inputs_ready
from orchestration.resources import StoreResource

ONLINE_PREFIX = "online"
CHECK_NAME = "online_offline_consistency"


def online_key(group: str) -> AssetKey:
    return AssetKey([ONLINE_PREFIX, group])


class OnlineStoreResource(ConfigurableResource):
    """The SQLite online store: `path`, or <store root>/online.sqlite when empty."""

    path: str = ""
    sample_size: int = 200

    def get_online(self, store: OfflineStore) -> OnlineStore:
        return OnlineStore.for_store(store, self.path or None)


def build_online_asset(spec: FeatureGroupSpec) -> AssetsDefinition:
    """`online/<group>`: copy what changed in the group's latest-values table into SQLite."""

    @asset(key=online_key(spec.name), deps=[AssetKey(["features", spec.name])], group_name=ONLINE_PREFIX,
           kinds={"sqlite"}, automation_condition=inputs_ready(), owners=[spec.owner] if "@" in spec.owner or spec.owner.startswith("team:") else [],
           description=f"Current values of {spec.name} in the SQLite online store (incremental by write_time)")
    def _online(store: StoreResource, online: OnlineStoreResource) -> MaterializeResult:
        offline = store.get_store()
        result = online.get_online(offline).sync(offline, spec)
        return MaterializeResult(metadata={
            "upserted": result.upserted, "deleted": result.deleted, "full_sync": result.full,
            "skipped": result.skipped,  # rows with a key that cannot be served (e.g. NaN), logged by the sync
            "skipped_examples": MetadataValue.json([{"key": k, "reason": r} for k, r in result.skipped_examples]),
            "synced_delta_version": result.delta_version if result.delta_version is not None else -1,
            "watermark": MetadataValue.text(result.watermark.isoformat() if result.watermark else "none"),
            "seconds": round(result.seconds, 3), "path": MetadataValue.path(online.get_online(offline).path)})

    return _online


def build_consistency_check(spec: FeatureGroupSpec) -> AssetChecksDefinition:
    """Sampled keys agree between SQLite and the Delta latest table at the synced version; counts agree."""

    @asset_check(asset=online_key(spec.name), name=CHECK_NAME,
                 description="SQLite online values equal the Delta latest-values table on sampled keys")
    def _check(store: StoreResource, online: OnlineStoreResource) -> AssetCheckResult:
        offline = store.get_store()
        report = check_consistency(offline, online.get_online(offline), spec, sample_size=online.sample_size)
        return AssetCheckResult(passed=report.ok, severity=AssetCheckSeverity.ERROR, metadata={
            "sampled_keys": report.sampled, "mismatches": len(report.mismatches),
            "online_rows": report.online_rows, "offline_rows": report.offline_rows,
            "synced_version": report.synced_version if report.synced_version is not None else -1,
            "lag_versions": report.lag_versions if report.lag_versions is not None else -1,
            "examples": MetadataValue.json([{k: str(v) for k, v in m.items()} for m in report.mismatches[:5]])})

    return _check


def online_definitions(registry: Registry, *, online_path: str | None = None) -> dict:
    """Assets, checks and one job for the online store, plus its resource."""
    specs = list(registry.groups.values())
    job = define_asset_job("online_sync_job", selection=AssetSelection.groups(ONLINE_PREFIX),
                           executor_def=in_process_executor)
    path = online_path if online_path is not None else (EnvVar(ONLINE_PATH_ENV)
                                                         if os.environ.get(ONLINE_PATH_ENV) else "")
    return {"assets": [build_online_asset(s) for s in specs],
            "asset_checks": [build_consistency_check(s) for s in specs],
            "jobs": [job],
            "resources": {"online": OnlineStoreResource(path=path)}}
