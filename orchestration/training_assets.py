"""Factory: a training-set spec becomes a Dagster asset downstream of the groups it reads."""

from dagster import AssetExecutionContext, AssetKey, AssetsDefinition, MaterializeResult, MetadataValue, asset

from featurestore.registry import Registry
from featurestore.training import TrainingSetResult, TrainingSetSpec, build_training_set
from orchestration.assets import group_key, source_key
from orchestration.resources import StoreResource

TRAINING_SETS_PREFIX = "training_sets"


def training_set_key(name: str) -> AssetKey:
    return AssetKey([TRAINING_SETS_PREFIX, name])


def training_metadata(result: TrainingSetResult) -> dict:
    """Rows, per-feature null rate, pinned input versions and the as-known-at time of a built set."""
    return {
        "rows": result.rows,
        "path": MetadataValue.path(result.path),
        "delta_version": result.table_version,
        "input_versions": MetadataValue.json(result.input_versions),
        "entity_source_version": result.entity_source_version,
        "as_known_at": MetadataValue.text(result.as_known_at or "latest (no cutoff)"),
        "null_rates": MetadataValue.json({k: round(v, 4) for k, v in result.null_rates.items()}),
    }


def build_training_set_asset(spec: TrainingSetSpec, registry: Registry) -> AssetsDefinition:
    """A point-in-time training set, rebuilt from the current group histories on each materialisation."""

    @asset(name=spec.name, key_prefix=[TRAINING_SETS_PREFIX], group_name=TRAINING_SETS_PREFIX,
           deps=[source_key(spec.entity_source)] + [group_key(g) for g in spec.groups()],
           description=spec.description, kinds={"spark", "delta"},
           metadata={"features": ", ".join(spec.features), "label": spec.label or "",
                     "entity_source": spec.entity_source})
    def _training_set(context: AssetExecutionContext, store: StoreResource) -> MaterializeResult:
        result = build_training_set(store.get_store(), spec, registry)
        context.log.info(f"{spec.name}: {result.rows} rows from inputs {result.input_versions}")
        return MaterializeResult(metadata=training_metadata(result))

    return _training_set
