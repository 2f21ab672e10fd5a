"""Streaming ingestion: files -> availableNow runs -> Delta history, exactly once across restarts and replays."""

from __future__ import annotations

import json
from datetime import datetime
from pathlib import Path

import pytest

from featurestore.columns import IS_DELETED
from featurestore.errors import DataValidationError, SchemaMismatchError
from featurestore.offline.store import OfflineStore
from featurestore.registry import Registry
from featurestore.spec import Feature, FeatureGroupSpec, Key
from featurestore.streaming.ingest import (KAFKA_OFFSET, SOURCE_FILE, read_file_stream, read_kafka_stream,
                                           run_available_now)
from tests.kafka_server import kafka_broker

SPEC = FeatureGroupSpec(
    name="clicks", description="streamed test group", owner="tests", keys=(Key("user_id"),),
    features=(Feature("clicks", "long"), Feature("score", "double")), transform=lambda ctx: None,
    sources=("events",), grain="hourly", start="2026-01-01", event_time_column="ts")


def _land(directory: Path, name: str, rows: list[dict]) -> None:
    """Write a json-lines file atomically (temp name outside the stream's view, then rename)."""
    directory.mkdir(parents=True, exist_ok=True)
    temp = directory.parent / f".{name}.tmp"
    temp.write_text("".join(json.dumps(r) + "\n" for r in rows))
    temp.rename(directory / name)


def _row(user: str, hour: int, clicks, score=1.0) -> dict:
    return {"user_id": user, "ts": f"2026-01-01T{hour:02d}:00:00Z", "clicks": clicks, "score": score}


def _history(store: OfflineStore) -> list[tuple]:
    return sorted((r["user_id"], r["event_time"].hour, r["clicks"], r["score"], r[IS_DELETED])
                  for r in store.read_history(SPEC.name).collect())


@pytest.fixture
def setup(spark, tmp_path):
    store = OfflineStore(spark, str(tmp_path / "store"))
    landing = tmp_path / "landing"
    checkpoint = str(tmp_path / "checkpoint")

    def run(**kwargs):
        return run_available_now(store, SPEC, read_file_stream(spark, SPEC, str(landing)), checkpoint,
                                 timeout_seconds=300, **kwargs)

    return store, landing, Path(checkpoint), run


def test_restarts_lose_nothing_and_duplicate_nothing(setup):
    store, landing, checkpoint, run = setup
    _land(landing, "a.json", [_row("u1", 0, 1), _row("u2", 0, 2), _row("u3", 0, 3)])
    _land(landing, "b.json", [_row("u1", 1, 4), _row("u2", 1, None, None)])
    first = run()
    assert (first.batches, first.rows_written) == ([0], 5)
    expected = [("u1", 0, 1, 1.0, False), ("u1", 1, 4, 1.0, False), ("u2", 0, 2, 1.0, False),
                ("u2", 1, None, None, False), ("u3", 0, 3, 1.0, False)]
    assert _history(store) == expected

    # New file: two new rows, one correction, one row identical to what is stored (not appended again).
    _land(landing, "c.json", [_row("u4", 0, 7), _row("u1", 2, 5), _row("u3", 0, 30), _row("u2", 0, 2)])
    second = run()
    assert (second.batches, second.rows_written, second.rows_corrected, second.rows_unchanged) == ([1], 3, 1, 1)
    expected += [("u1", 2, 5, 1.0, False), ("u3", 0, 30, 1.0, False), ("u4", 0, 7, 1.0, False)]
    assert _history(store) == sorted(expected)
    latest = {r["user_id"]: r["clicks"] for r in store.read_latest(SPEC.name).collect()}
    assert latest == {"u1": 5, "u2": None, "u3": 30, "u4": 7}

    # Restart with no new files: no batch, no commit.
    version = store.version(store.history_path(SPEC.name))
    idle = run()
    assert (idle.batches, idle.rows_written, idle.history_version) == ([], 0, version)

    # A crash after the write but before the checkpoint commit: Spark re-runs batch 1 with the same files;
    # write_features finds every row unchanged, so the replay appends nothing.
    for name in ("1", ".1.crc"):
        (checkpoint / "commits" / name).unlink(missing_ok=True)
    replay = run()
    assert (replay.batches, replay.rows_written, replay.rows_unchanged) == ([1], 0, 4)
    assert replay.history_version == version and _history(store) == sorted(expected)


def test_wrong_typed_file_fails_its_batch_with_group_and_column_then_recovers(setup):
    store, landing, _, run = setup
    _land(landing, "a.json", [_row("u1", 0, 1)])
    run()
    version = store.version(store.history_path(SPEC.name))
    _land(landing, "b.json", [_row("u2", 0, 2)])
    _land(landing, "c.json", [_row("u3", 0, "many")])
    with pytest.raises(SchemaMismatchError) as error:
        run()
    message = str(error.value)
    assert "'clicks'" in message and "column 'clicks' (declared long)" in message and "c.json" in message
    assert "nothing was written" in message
    assert store.version(store.history_path(SPEC.name)) == version  # b.json (same batch) not written either

    # Fix the file in place: the failed batch (same files) is retried and written once.
    (landing / "c.json").write_text(json.dumps(_row("u3", 0, 3)) + "\n")
    fixed = run()
    assert (fixed.batches, fixed.rows_written) == ([1], 2)
    assert _history(store) == [("u1", 0, 1, 1.0, False), ("u2", 0, 2, 1.0, False), ("u3", 0, 3, 1.0, False)]


def test_duplicate_key_and_time_in_a_batch_fails_or_keeps_last(setup, spark, tmp_path):
    store, landing, _, run = setup
    _land(landing, "2026-01-01T00.json", [_row("u1", 0, 1)])
    _land(landing, "2026-01-01T01.json", [_row("u1", 0, 9)])
    with pytest.raises(DataValidationError, match="several rows for the same key"):
        run()
    assert not store.exists(store.history_path(SPEC.name))
    # Later file wins: order duplicates by the file name (files named by landing time).
    result = run_available_now(store, SPEC, read_file_stream(spark, SPEC, str(landing)),
                               str(tmp_path / "checkpoint2"), keep_last_by=SOURCE_FILE)
    assert result.rows_written == 1 and _history(store) == [("u1", 0, 9, 1.0, False)]


def test_stream_job_through_dagster(spark, tmp_path):
    from dagster import DagsterInstance

    from orchestration.resources import SparkResource, StoreResource
    from orchestration.streaming import StreamSource, stream_definitions

    landing = tmp_path / "landing"
    _land(landing, "a.json", [_row("u1", 0, 1), _row("u2", 3, 2)])
    registry = Registry(sources={}, groups={SPEC.name: SPEC}, training_sets={})
    definitions = stream_definitions(registry, [StreamSource(group=SPEC.name, path=str(landing))])
    job, = definitions["jobs"]
    assert [s.name for s in definitions["schedules"]] == ["clicks_stream_schedule"]
    store = StoreResource(spark=SparkResource(master="local[2]"), root=str(tmp_path / "store"))
    result = job.execute_in_process(resources={"store": store}, instance=DagsterInstance.ephemeral())
    assert result.success
    observation = [e for e in result.all_events if e.event_type_value == "ASSET_OBSERVATION"][0]
    metadata = observation.event_specific_data.asset_observation.metadata
    assert metadata["rows_written"].value == 2 and metadata["batches"].value == "[0]"
    assert store.get_store().read_history(SPEC.name).count() == 2
    assert datetime(2026, 1, 1, 3) in {r["event_time"] for r in store.get_store().read_latest(SPEC.name).collect()}


def test_stream_schedule_skips_while_a_run_is_in_progress(tmp_path):
    from dagster import DagsterRunStatus, build_schedule_context, instance_for_test

    from orchestration.streaming import StreamSource, stream_definitions

    registry = Registry(sources={}, groups={SPEC.name: SPEC}, training_sets={})
    definitions = stream_definitions(registry, [StreamSource(group=SPEC.name, path=str(tmp_path))])
    (job,), (schedule,) = definitions["jobs"], definitions["schedules"]
    with instance_for_test() as instance:
        assert len(schedule.evaluate_tick(build_schedule_context(instance=instance)).run_requests) == 1
        run = instance.create_run_for_job(job, run_config={}, status=DagsterRunStatus.STARTED)
        skipped = schedule.evaluate_tick(build_schedule_context(instance=instance))
        assert not skipped.run_requests and run.run_id in skipped.skip_message


@pytest.fixture(scope="module")
def broker(tmp_path_factory):
    """A real Kafka broker (KRaft, one node) on 127.0.0.1 for this module."""
    with kafka_broker(tmp_path_factory.mktemp("kafka")) as bootstrap:
        yield bootstrap


def _produce(spark, bootstrap: str, topic: str, rows: list[dict]) -> None:
    """Send rows as JSON values, in order, to the topic's single partition (Spark's Kafka sink)."""
    values = spark.createDataFrame([(json.dumps(r),) for r in rows], "value string").coalesce(1)
    values.write.format("kafka").option("kafka.bootstrap.servers", bootstrap).option("topic", topic).save()


def test_kafka_topic_to_history_exactly_once_through_a_real_broker(spark, tmp_path, broker):
    store = OfflineStore(spark, str(tmp_path / "store"))
    options = {"kafka.bootstrap.servers": broker, "subscribe": "clicks", "startingOffsets": "earliest"}

    def run():
        return run_available_now(store, SPEC, read_kafka_stream(spark, SPEC, options), str(tmp_path / "checkpoint"),
                                 keep_last_by=KAFKA_OFFSET, timeout_seconds=300)

    _produce(spark, broker, "clicks", [_row("u1", 0, 1), _row("u2", 0, 2), _row("u1", 0, 3)])
    first = run()  # u1 at hour 0 twice in one batch: the later offset wins
    assert first.rows_written == 2
    assert _history(store) == [("u1", 0, 3, 1.0, False), ("u2", 0, 2, 1.0, False)]
    assert run().rows_written == 0  # a restart with nothing new writes nothing

    # A correction, a new key and a row identical to the stored one (not appended again).
    _produce(spark, broker, "clicks", [_row("u2", 0, 20), _row("u3", 1, 5), _row("u1", 0, 3)])
    assert run().rows_written == 2
    assert _history(store) == [("u1", 0, 3, 1.0, False), ("u2", 0, 2, 1.0, False), ("u2", 0, 20, 1.0, False),
                               ("u3", 1, 5, 1.0, False)]
    assert [r["clicks"] for r in store.lookup(SPEC, [{"user_id": "u2"}]).collect()] == [20]

    version = store.version(store.history_path(SPEC.name))
    _produce(spark, broker, "clicks", [_row("u4", 2, 4), _row("u5", 2, "many")])
    with pytest.raises(SchemaMismatchError) as error:  # a wrong-typed record fails its whole batch
        run()
    assert "'clicks'" in str(error.value) and "topic/partition clicks/0, offset 7" in str(error.value)
    assert store.version(store.history_path(SPEC.name)) == version
