"""Factory: a training-set spec becomes a Dagster asset downstream of the groups it reads.

The asset refuses to build (a dagster Failure naming the group and the check) while a check of one of its
input groups failed with ERROR severity on its latest evaluation of the group's latest partition.
"""

from collections.abc import Mapping, Sequence

from dagster import (
    AssetCheckKey,
    AssetExecutionContext,
    AssetKey,
    AssetsDefinition,
    DagsterInstance,
    Failure,
    MaterializeResult,
    MetadataValue,
    asset,
)

from featurestore.registry import Registry
from featurestore.training import TrainingSetResult, TrainingSetSpec
from orchestration.assets import group_key, source_key
from orchestration.checks import FailedCheck, blocking_failures, group_check_keys
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


def blocked_message(name: str, failures: Sequence[FailedCheck]) -> str:
    """Why training set `name` is not built, one line per failed check."""
    lines = [f"training set {name!r} not built: checks with ERROR severity failed on the latest partition "
             "of its input feature group(s):"]
    lines += [f"  - {f.summary()}" for f in failures]
    lines.append("Fix the data (or the check) and re-materialise those partitions; the set builds once the "
                 "checks pass.")
    return "\n".join(lines)


def ensure_inputs_pass(instance: DagsterInstance, name: str,
                       checks_by_group: Mapping[str, Sequence[AssetCheckKey]]) -> None:
    """Raise a Failure naming each group and check that blocks training set `name`."""
    failures = blocking_failures(instance, checks_by_group)
    if failures:
        raise Failure(description=blocked_message(name, failures), allow_retries=False, metadata={
            "blocking_checks": MetadataValue.json([{"group": f.group, "check": f.check, "partition": f.partition,
                                                    "run_id": f.run_id} for f in failures])})


def build_training_set_asset(spec: TrainingSetSpec, registry: Registry,
                             checks_by_group: Mapping[str, Sequence[AssetCheckKey]] | None = None
                             ) -> AssetsDefinition:
    """A point-in-time training set, rebuilt from the current group histories on each materialisation.

    `checks_by_group`: the checks gating each input group (default: those `build_group_checks` defines).
    """
    gates = dict(checks_by_group) if checks_by_group is not None else {
        g: group_check_keys(registry.group(g)) for g in spec.groups()}

    @asset(name=spec.name, key_prefix=[TRAINING_SETS_PREFIX], group_name=TRAINING_SETS_PREFIX,
           deps=[source_key(spec.entity_source)] + [group_key(g) for g in spec.groups()],
           description=spec.description, kinds={"spark", "delta"},
           metadata={"features": ", ".join(spec.features), "label": spec.label or "",
                     "entity_source": spec.entity_source})
    def _training_set(context: AssetExecutionContext, store: StoreResource) -> MaterializeResult:
        ensure_inputs_pass(context.instance, spec.name, gates)
        result = store.get_feature_store().with_registry(registry).build_training_set(spec)
        context.log.info(f"{spec.name}: {result.rows} rows from inputs {result.input_versions}")
        return MaterializeResult(metadata=training_metadata(result))

    return _training_set
