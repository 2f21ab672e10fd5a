"""Factory: a training-set spec becomes a Dagster asset downstream of the groups it reads.

The asset is materialised by declarative automation (orchestration.automation.inputs_ready) and refuses to
build (a dagster Failure naming the group, check, partitions and run) while the gate (orchestration.gate)
finds a failed ERROR check on any partition of an input group the set reads.
"""

from collections.abc import Mapping, Sequence

from dagster import (
    AssetCheckKey,
    AssetExecutionContext,
    AssetsDefinition,
    DagsterInstance,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from featurestore.registry import Registry
from featurestore.training.sets import TrainingSetResult, TrainingSetSpec
from orchestration.automation import inputs_ready
from orchestration.gate import GateResult, training_set_gate
from orchestration.keys import TRAINING_SETS_PREFIX, group_key, source_key
from orchestration.resources import StoreResource


def training_metadata(result: TrainingSetResult, gate: GateResult | None = None) -> dict:
    """Rows, per-feature null rate, pinned input versions, the as-known-at time and the partitions gated."""
    metadata = {
        "rows": result.rows,
        "path": MetadataValue.path(result.path),
        "delta_version": result.table_version,
        "input_versions": MetadataValue.json(result.input_versions),
        "entity_source_version": result.entity_source_version,
        "as_known_at": MetadataValue.text(result.as_known_at or "latest (no cutoff)"),
        "null_rates": MetadataValue.json({k: round(v, 4) for k, v in result.null_rates.items()}),
    }
    if gate is not None:
        metadata["gated_partitions"] = MetadataValue.json(dict(gate.partitions_checked))
    return metadata


def ensure_inputs_pass(instance: DagsterInstance, spec: TrainingSetSpec, registry: Registry,
                       checks_by_group: Mapping[str, Sequence[AssetCheckKey]] | None = None) -> GateResult:
    """The gate's result; raise a Failure naming each group, check and partition that blocks the set."""
    gate = training_set_gate(instance, spec, registry, checks_by_group)
    if gate.blocked:
        raise Failure(description=gate.message(), allow_retries=False, metadata={
            "blocking_checks": MetadataValue.json([f.to_dict() for f in gate.failures])})
    return gate


def build_training_set_asset(spec: TrainingSetSpec, registry: Registry,
                             checks_by_group: Mapping[str, Sequence[AssetCheckKey]] | None = None
                             ) -> AssetsDefinition:
    """A point-in-time training set, rebuilt from the current group histories on each materialisation.

    `checks_by_group`: the checks gating each input group (default: the group's quality and drift checks).
    """
    gates = dict(checks_by_group) if checks_by_group is not None else None

    @asset(name=spec.name, key_prefix=[TRAINING_SETS_PREFIX], group_name=TRAINING_SETS_PREFIX,
           deps=[source_key(spec.entity_source)] + [group_key(g) for g in spec.groups()],
           description=spec.description, kinds={"spark", "delta"}, automation_condition=inputs_ready(),
           metadata={"features": ", ".join(spec.features), "label": spec.label or "",
                     "entity_source": spec.entity_source})
    def _training_set(context: AssetExecutionContext, store: StoreResource) -> MaterializeResult:
        gate = ensure_inputs_pass(context.instance, spec, registry, gates)
        result = store.get_feature_store().with_registry(registry).build_training_set(spec)
        context.log.info(f"{spec.name}: {result.rows} rows from inputs {result.input_versions}; gate checked "
                         f"{dict(gate.partitions_checked)} partitions")
        return MaterializeResult(metadata=training_metadata(result, gate))

    return _training_set
