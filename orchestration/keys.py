"""Asset keys of sources, feature groups and training sets (no Spark import: the CLI's check gate uses them)."""

from __future__ import annotations

from typing import TYPE_CHECKING

from dagster import AssetCheckKey, AssetKey

from quality.check_names import drift_check_names, suite_check_names, suite_for

if TYPE_CHECKING:
    from featurestore.spec import FeatureGroupSpec

SOURCES_PREFIX = "sources"
FEATURES_PREFIX = "features"
TRAINING_SETS_PREFIX = "training_sets"


def source_key(name: str) -> AssetKey:
    return AssetKey([SOURCES_PREFIX, name])


def group_key(name: str) -> AssetKey:
    return AssetKey([FEATURES_PREFIX, name])


def training_set_key(name: str) -> AssetKey:
    return AssetKey([TRAINING_SETS_PREFIX, name])


def group_check_keys(spec: FeatureGroupSpec) -> list[AssetCheckKey]:
    """Keys of every quality and drift check `orchestration.checks.build_group_checks(spec)` defines."""
    key = group_key(spec.name)
    names = [*suite_check_names(suite_for(spec)).values(), *drift_check_names(spec).values()]
    return [AssetCheckKey(key, name) for name in names]
