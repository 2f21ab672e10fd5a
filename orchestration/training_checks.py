"""Asset checks on training sets: WARN when history written since the build would change its rows.

The computation is `featurestore.training.staleness.staleness` (change data feed of each input group's history since
the pinned version, restricted to the keys and times that can reach a row through the TTL, candidates
recomputed and compared). Rebuilding the set (its asset) pins the current versions: the check passes again.
"""


import os

from dagster import (
    AssetCheckExecutionContext,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetChecksDefinition,
    Definitions,
    MetadataValue,
    asset_check,
)

from featurestore.registry import Registry
from featurestore.training.sets import training_set_path
from featurestore.training.staleness import staleness
from orchestration.resources import StoreResource
from orchestration.keys import training_set_key

THRESHOLD_ENV = "FEATURESTORE_STALE_FRACTION"
DEFAULT_THRESHOLD = 0.0  # any changed row warns


def stale_check(name: str, registry: Registry, threshold: float | None = None) -> AssetChecksDefinition:
    """`not_stale` on training set `name`: passes while at most `threshold` of its rows would change."""
    limit = float(os.environ.get(THRESHOLD_ENV, DEFAULT_THRESHOLD)) if threshold is None else threshold
    spec = registry.training_set(name)

    @asset_check(asset=training_set_key(name), name="not_stale", blocking=False,
                 description=f"rows of {name} that history written since its build would change (WARN above "
                             f"{limit:.2%})")
    def _check(context: AssetCheckExecutionContext, store: StoreResource) -> AssetCheckResult:
        offline = store.get_store()
        if not offline.exists(training_set_path(offline, name)):
            return AssetCheckResult(passed=True, severity=AssetCheckSeverity.WARN,
                                    metadata={"note": "not built yet"})
        result = staleness(offline, spec, registry)
        meta = result.metadata()
        return AssetCheckResult(
            passed=result.changed_fraction <= limit, severity=AssetCheckSeverity.WARN,
            description=f"{result.changed_rows} of {result.rows} rows would change if rebuilt now",
            metadata={"changed_rows": result.changed_rows, "rows": result.rows,
                      "changed_fraction": meta["changed_fraction"], "threshold": limit,
                      "candidate_rows": result.candidate_rows,
                      "pinned_versions": MetadataValue.json(result.pinned_versions),
                      "current_versions": MetadataValue.json(result.current_versions),
                      "history_rows_since": MetadataValue.json(result.history_rows_since)})

    return _check


def training_set_check_definitions(registry: Registry, threshold: float | None = None) -> Definitions:
    """The `not_stale` check of every training set (resources: `store`)."""
    return Definitions(asset_checks=[stale_check(n, registry, threshold) for n in registry.training_sets])
