"""Dagster around streaming ingestion: one job per stream that runs it with the availableNow trigger.

Why a scheduled job and not a sensor or a long-running query: availableNow processes everything that has
arrived since the checkpoint and then stops, so each run is an ordinary bounded Dagster run (logs, retries,
run history, alerts on failure, concurrency limits) and the checkpoint carries exactly-once across runs.
A sensor must return within seconds, so it cannot host the query; a never-ending run would make Dagster a
process supervisor it is not good at. The latency is the schedule's interval (default 5 minutes); for
seconds-level latency run `featurestore.streaming.ingest.start_stream` with a processingTime trigger in a service.
The schedule skips a tick while a run of the same stream is still going (one writer per checkpoint).
"""

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from dagster import (
    AssetKey,
    AssetObservation,
    Config,
    DagsterRunStatus,
    DefaultScheduleStatus,
    JobDefinition,
    OpExecutionContext,
    RunRequest,
    RunsFilter,
    ScheduleDefinition,
    ScheduleEvaluationContext,
    SkipReason,
    in_process_executor,
    job,
    op,
    schedule,
)

from featurestore.offline.store import OfflineStore
from featurestore.registry import Registry
from featurestore.spec import FeatureGroupSpec
from featurestore.streaming.ingest import read_file_stream, read_kafka_stream, run_available_now
from orchestration.resources import StoreResource

IN_PROGRESS = [DagsterRunStatus.QUEUED, DagsterRunStatus.NOT_STARTED, DagsterRunStatus.STARTING,
               DagsterRunStatus.STARTED]


@dataclass(frozen=True)
class StreamSource:
    """Where a group's stream comes from: a directory of json/csv/parquet files, or Kafka (options)."""

    group: str
    path: str = ""
    format: str = "json"
    options: Mapping[str, str] = field(default_factory=dict)
    keep_last_by: str | None = None
    cron: str = "*/5 * * * *"
    name: str = ""

    @property
    def stream_name(self) -> str:
        return self.name or f"{self.group}_stream"


def checkpoint_path(store: OfflineStore, stream_name: str) -> str:
    """The stream's checkpoint, next to the tables it writes: <root>/_checkpoints/streams/<name>."""
    return store.table_path("_checkpoints", "streams", stream_name)


class StreamRunConfig(Config):
    """Run-time override of the landing path (empty: the configured one)."""

    path: str = ""
    timeout_seconds: float = 0.0


def _read(store: OfflineStore, spec: FeatureGroupSpec, source: StreamSource, path: str):
    if source.format == "kafka":
        return read_kafka_stream(store.spark, spec, source.options)
    return read_file_stream(store.spark, spec, path, fmt=source.format, options=source.options)


def build_stream_job(source: StreamSource, spec: FeatureGroupSpec) -> JobDefinition:
    """A job with one op: run the stream (availableNow) into the group's history, observe the group asset."""

    @op(name=f"{source.stream_name}_available_now", tags={"kind": "spark"},
        description=f"Write what arrived on stream {source.stream_name} into feature group {spec.name}")
    def _run(context: OpExecutionContext, config: StreamRunConfig, store: StoreResource) -> None:
        offline = store.get_store()
        stream = _read(offline, spec, source, config.path or source.path)
        result = run_available_now(offline, spec, stream, checkpoint_path(offline, source.stream_name),
                                   keep_last_by=source.keep_last_by, query_name=source.stream_name,
                                   timeout_seconds=config.timeout_seconds or None)
        context.log.info(f"{source.stream_name}: batches {result.batches}, {result.rows_written} rows written "
                         f"({result.rows_corrected} corrections, {result.rows_unchanged} unchanged)")
        # An observation, not a materialisation: the group asset is time-partitioned and a stream batch
        # does not complete any partition.
        context.log_event(AssetObservation(asset_key=AssetKey(["features", spec.name]), metadata={
            "stream": source.stream_name, "batches": str(result.batches), "rows_written": result.rows_written,
            "rows_corrected": result.rows_corrected, "rows_unchanged": result.rows_unchanged,
            "delta_version": result.history_version if result.history_version is not None else -1}))

    @job(name=f"{source.stream_name}_job", executor_def=in_process_executor,
         description=f"Stream {source.stream_name} -> feature group {spec.name} (availableNow)")
    def _job() -> None:
        _run()

    return _job


def build_stream_schedule(source: StreamSource, stream_job: JobDefinition,
                          default_status: DefaultScheduleStatus = DefaultScheduleStatus.STOPPED) -> ScheduleDefinition:
    """Every `source.cron`, unless a run of this stream is still in progress."""

    @schedule(name=f"{source.stream_name}_schedule", cron_schedule=source.cron, job=stream_job,
              default_status=default_status, execution_timezone="UTC")
    def _schedule(context: ScheduleEvaluationContext):
        running = context.instance.get_run_records(
            RunsFilter(job_name=stream_job.name, statuses=IN_PROGRESS), limit=1)
        if running:
            return SkipReason(f"run {running[0].dagster_run.run_id} of {stream_job.name} is still in progress")
        return RunRequest()

    return _schedule


def stream_definitions(registry: Registry, streams: Sequence[StreamSource]) -> dict:
    """Jobs and schedules for `streams`: Definitions(**stream_definitions(...)) or merge them in."""
    jobs, schedules = [], []
    for source in streams:
        stream_job = build_stream_job(source, registry.group(source.group))
        jobs.append(stream_job)
        schedules.append(build_stream_schedule(source, stream_job))
    return {"jobs": jobs, "schedules": schedules}
