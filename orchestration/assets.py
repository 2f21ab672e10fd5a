"""Factories: a source spec or a feature-group spec becomes a partitioned Dagster asset."""


from dagster import (
    AssetExecutionContext,
    AssetsDefinition,
    MaterializeResult,
    MetadataValue,
    TableColumn,
    TableSchema,
    asset,
)

from featurestore.durations import format_duration
from featurestore.offline.materialize import materialize_group, materialize_source
from featurestore.offline.store import WriteResult
from featurestore.registry import Registry
from featurestore.spec import FeatureGroupSpec, SourceSpec
from orchestration.keys import FEATURES_PREFIX, SOURCES_PREFIX, source_key
from orchestration.partitions import SINGLE_RUN_BACKFILL, partitions_for
from orchestration.resources import StoreResource


def write_metadata(result: WriteResult, context: AssetExecutionContext | None = None) -> dict:
    """Materialisation metadata of one run's write, labelled as the run's totals: a run over a partition range
    records one materialisation per partition, each carrying these same figures, so they are named run_* and
    come with the range (`run_partition_range`, `run_partitions`) instead of claiming to be the partition's."""
    metadata = {
        "run_rows_written": result.rows_written,
        "run_rows_corrected": result.rows_corrected,
        "run_rows_unchanged": result.rows_unchanged,
        "delta_version": result.table_version if result.table_version is not None else -1,
        "path": MetadataValue.path(result.path),
        "write_time": MetadataValue.text(result.write_time.isoformat() if result.write_time else "nothing written"),
    }
    if context is not None and (context.has_partition_key or context.has_partition_key_range):
        keys = context.partition_keys
        first, last = keys[0], keys[-1]
        metadata["run_partition_range"] = MetadataValue.text(first if first == last else f"{first}..{last}")
        metadata["run_partitions"] = len(keys)
    return metadata


def _column_schema(spec: FeatureGroupSpec) -> TableSchema:
    columns = [TableColumn(k.name, k.dtype, description=f"entity key. {k.description}".strip()) for k in spec.keys]
    columns.append(TableColumn("event_time", "timestamp", description="snapshot time (UTC)"))
    columns += [TableColumn(f.name, f.dtype, description=f.description) for f in spec.features]
    return TableSchema(columns=columns)


def build_source_asset(source: SourceSpec) -> AssetsDefinition:
    """A daily-partitioned asset that (re)loads the source's rows for its partitions into Delta."""

    @asset(name=source.name, key_prefix=[SOURCES_PREFIX], group_name=SOURCES_PREFIX,
           partitions_def=partitions_for(source.grain, source.start), backfill_policy=SINGLE_RUN_BACKFILL,
           description=source.description, kinds={"spark", "delta"})
    def _source(context: AssetExecutionContext, store: StoreResource) -> MaterializeResult:
        window = context.partition_time_window
        result = materialize_source(store.get_store(), source, window.start, window.end)
        return MaterializeResult(metadata=write_metadata(result, context))

    return _source


def build_group_asset(spec: FeatureGroupSpec, registry: Registry) -> AssetsDefinition:
    """The group's asset: partitioned by its grain, one Spark job per run whatever the partition range."""

    @asset(name=spec.name, key_prefix=[FEATURES_PREFIX], group_name="feature_groups",
           deps=[source_key(s) for s in spec.sources], partitions_def=partitions_for(spec.grain, spec.start),
           backfill_policy=SINGLE_RUN_BACKFILL, description=spec.description, owners=[spec.owner],
           kinds={"spark", "delta"}, tags={k: v for k, v in spec.tags.items()},
           metadata={"keys": ", ".join(spec.key_names), "ttl": format_duration(spec.ttl),
                     "grain": spec.grain, "cron": spec.cron, "dagster/column_schema": _column_schema(spec)})
    def _group(context: AssetExecutionContext, store: StoreResource) -> MaterializeResult:
        window = context.partition_time_window
        result = materialize_group(store.get_store(), spec, registry, window.start, window.end)
        context.log.info(f"{spec.name}: {result.rows_written} rows written "
                         f"({result.rows_corrected} corrections) for [{window.start}, {window.end})")
        return MaterializeResult(metadata=write_metadata(result, context))

    return _group
