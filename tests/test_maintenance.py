"""Maintenance: compaction + Z-order, checkpoints, and a VACUUM that keeps every pinned version readable."""

from __future__ import annotations

from datetime import timedelta

import pytest

from featurestore.offline.maintenance import (LISTING_PARALLELISM, RETENTION_CHECK, MaintenancePolicy, maintain_group,
                                              maintain_training_set, registry_pins, renew_pins,
                                              table_stats, utc_now, vacuum_settings)
from featurestore.training.sets import build_training_set, rebuild_training_set, recorded_inputs
from tests.training_fixture import ACCT, REGISTRY, TRAINING, day, loaded_store

NO_GRACE = MaintenancePolicy(retention=timedelta(0), pin_ttl=timedelta(days=30))


def _rows(df):
    return sorted((tuple(r) for r in df.collect()), key=repr)


@pytest.fixture(scope="module")
def built(spark, tmp_path_factory):
    loaded = loaded_store(spark, tmp_path_factory.mktemp("maintenance"))
    result = build_training_set(loaded.store, TRAINING, REGISTRY)
    original = _rows(spark.read.format("delta").load(result.path))
    loaded.write([("a", day(1), 30.0, 3), ("b", day(1.6), 5.0, 5)], 7)  # a correction and late data
    return loaded, result, original


def test_vacuum_keeps_pinned_versions_and_rebuild_equals_the_original(built):
    loaded, result, original = built
    store = loaded.store
    pins = registry_pins(store, REGISTRY, NO_GRACE)
    assert {(p.table, p.version) for p in pins} >= {(store.history_path("acct"), result.input_versions["acct"])}
    assert all(p.expires_at == p.built_at + NO_GRACE.pin_ttl for p in pins)
    history_before = table_stats(store.spark, store.history_path("acct"))
    shared = {key: store.spark.conf.get(key, None) for key in (RETENTION_CHECK, LISTING_PARALLELISM)}
    results = {r.table.split()[-1]: r for r in maintain_group(store, "acct", REGISTRY, policy=NO_GRACE, pins=pins)}
    assert {key: store.spark.conf.get(key, None) for key in shared} == shared  # VACUUM's confs stayed private
    history, latest = results["history"], results["latest"]
    assert history.before == history_before and history.zorder_by == ("account_id",)
    assert history.checkpointed_version is not None and history.checkpointed_version >= history.before.version
    assert history.after.live_files < history.before.live_files      # compacted (3 writes -> 1 file per day)
    assert history.after.live_bytes > 0 and history.duration_s > 0
    assert history.pins_applied and history.retention_hours > 0      # the pin held the retention back
    assert history.after.stored_files > history.after.live_files     # ... so the pinned files are still there
    assert latest.retention_hours == 0 and not latest.pins_applied   # nothing pins the latest table
    assert latest.after.stored_files == latest.after.live_files      # unpinned: vacuumed to the live files
    assert _rows(rebuild_training_set(store, TRAINING, REGISTRY)) == original


def test_training_set_maintenance_keeps_its_recorded_inputs(built):
    loaded, result, original = built
    store = loaded.store
    before = recorded_inputs(store, TRAINING.name)
    outcome = maintain_training_set(store, TRAINING.name, REGISTRY, policy=NO_GRACE)
    assert outcome.after.version > outcome.before.version                # maintenance committed
    assert {k: v for k, v in recorded_inputs(store, TRAINING.name).items() if k != "maintenance"} == before
    assert _rows(rebuild_training_set(store, TRAINING, REGISTRY)) == original
    pins = registry_pins(store, REGISTRY, NO_GRACE)  # maintenance commits are not new builds
    assert pins and {p.training_set_version for p in pins} == {result.table_version}


def test_renewed_pins_last_longer_and_expired_pins_release_the_files(built):
    loaded, result, _ = built
    store = loaded.store
    later = utc_now() + timedelta(days=60)  # past the 30-day pin_ttl
    renewed_until = renew_pins(store, TRAINING.name, until=later + timedelta(days=1),
                               training_set_version=result.table_version)
    pins = registry_pins(store, REGISTRY, NO_GRACE)
    assert {p.expires_at for p in pins} == {renewed_until} and all(p.live(later) for p in pins)
    expired_at = later + timedelta(days=2)
    assert not any(p.live(expired_at) for p in pins)
    results = maintain_group(store, ACCT.name, REGISTRY, policy=NO_GRACE, pins=pins, now=expired_at)
    history = results[0]
    assert history.pins_applied == () and history.retention_hours == 0
    assert history.after.stored_files == history.after.live_files    # the files only the pin needed are gone
    with pytest.raises(Exception):                                    # ... and the pinned version is unreadable
        rebuild_training_set(store, TRAINING, REGISTRY).collect()


def test_maintenance_job_reports_an_observation_on_the_group_asset(built):
    from dagster import DagsterEventType, Definitions

    from orchestration.keys import group_key
    from orchestration.maintenance import DEFAULT_GROUP_CRON, maintenance_definitions
    from orchestration.resources import SparkResource, StoreResource

    loaded, _, _ = built
    defs = maintenance_definitions(REGISTRY)
    assert {s.cron_schedule for s in defs.schedules} >= {DEFAULT_GROUP_CRON}
    store = StoreResource(spark=SparkResource(), root=loaded.store.root)
    job = Definitions.merge(defs, Definitions(resources={"store": store})).get_job_def("maintenance_acct_job")
    result = job.execute_in_process()
    assert result.success
    observed = [e for e in result.all_events if e.event_type == DagsterEventType.ASSET_OBSERVATION]
    assert {e.asset_key for e in observed} == {group_key("acct")} and len(observed) == 2  # history + latest
    metadata = observed[0].event_specific_data.asset_observation.metadata
    assert {"files_before", "files_after", "bytes_before", "bytes_after", "duration_s", "retention_hours",
            "pins_applied"} <= set(metadata)


def test_vacuum_sizes_its_listing_and_keeps_a_users_value(spark):
    settings = vacuum_settings(spark, hours=0)
    assert settings[RETENTION_CHECK] == "false"
    assert 8 <= int(settings[LISTING_PARALLELISM]) <= 64          # not Spark's 10,000 listing tasks
    assert RETENTION_CHECK not in vacuum_settings(spark, hours=168)  # a 7-day VACUUM keeps Delta's check
    spark.conf.set(LISTING_PARALLELISM, "200")                     # a user's own value is kept
    try:
        assert LISTING_PARALLELISM not in vacuum_settings(spark, hours=0)
    finally:
        spark.conf.unset(LISTING_PARALLELISM)
