"""Materialise the source and both example groups through Dagster and check the features against plain Python."""

from __future__ import annotations

from collections import defaultdict
from datetime import datetime, timedelta, timezone

import pytest
from dagster import DagsterInstance, materialize

from featurestore.registry import discover
from orchestration.assets import build_group_asset, build_source_asset
from orchestration.dagster_internals import partition_range_tags
from orchestration.resources import SparkResource, StoreResource


def _range(first: str, last: str) -> dict:
    return partition_range_tags(first, last)


@pytest.fixture(scope="module")
def materialised(spark, tmp_path_factory):
    """Four days of small example data; consumer for two days, card for six hours, all via Dagster."""
    patch = pytest.MonkeyPatch()
    patch.setenv("FEATURESTORE_DEMO_TX_PER_DAY", "400")
    patch.setenv("FEATURESTORE_DEMO_CARDS", "60")
    patch.setenv("FEATURESTORE_DEMO_CONSUMERS", "25")
    registry = discover("feature_groups")
    store_resource = StoreResource(spark=SparkResource(master="local[2]"), root=str(tmp_path_factory.mktemp("store")))
    resources = {"store": store_resource}
    instance = DagsterInstance.ephemeral()
    source = build_source_asset(registry.source("transactions"))
    consumer = build_group_asset(registry.group("consumer"), registry)
    card = build_group_asset(registry.group("card"), registry)
    runs = [
        materialize([source], resources=resources, instance=instance, tags=_range("2026-09-27", "2026-10-02")),
        materialize([source.to_source_asset(), consumer], selection=[consumer.key], resources=resources,
                    instance=instance, tags=_range("2026-10-01", "2026-10-02")),
        materialize([source.to_source_asset(), card], selection=[card.key], resources=resources,
                    instance=instance, tags=_range("2026-10-02-00:00", "2026-10-02-05:00")),
    ]
    yield registry, store_resource.get_store(), runs
    patch.undo()


def test_runs_succeed_with_write_metadata(materialised):
    _, store, runs = materialised
    assert all(run.success for run in runs)
    consumer_meta = runs[1].get_asset_materialization_events()[0].materialization.metadata
    assert consumer_meta["run_rows_written"].value > 0 and consumer_meta["run_rows_corrected"].value == 0
    assert consumer_meta["run_partition_range"].value == "2026-10-01..2026-10-02"  # the run's totals, labelled
    assert consumer_meta["run_partitions"].value == 2 and "rows_written" not in consumer_meta
    assert consumer_meta["delta_version"].value == 0
    assert consumer_meta["path"].value == store.history_path("consumer")
    assert len(runs[2].get_asset_materialization_events()) == 6  # one per hourly partition of the single run


def _expected(transactions, key, snapshot, windows):
    """Counts and averages per key over snapshot - w <= t < snapshot, for keys active in the largest window."""
    largest = max(windows.values())
    by_key = defaultdict(list)
    for tx in transactions:
        if snapshot - largest <= tx.event_time < snapshot:
            by_key[tx[key]].append(tx)
    expected = {}
    for k, txs in by_key.items():
        row = {}
        for suffix, size in windows.items():
            inside = [t.amount for t in txs if t.event_time >= snapshot - size]
            row[f"num_trans_last_{suffix}"] = len(inside)
            row[f"avg_amt_last_{suffix}"] = round(sum(inside) / len(inside), 6) if inside else None
        expected[k] = row
    return expected


@pytest.mark.parametrize("group, key, snapshot, windows", [
    ("consumer", "consumer_id", datetime(2026, 10, 2), {"1d": timedelta(days=1), "7d": timedelta(days=7)}),
    ("consumer", "consumer_id", datetime(2026, 10, 3), {"1d": timedelta(days=1), "7d": timedelta(days=7)}),
    ("card", "cc_num", datetime(2026, 10, 2, 3), {"1h": timedelta(hours=1), "1d": timedelta(days=1)}),
])
def test_features_match_a_plain_python_computation(materialised, group, key, snapshot, windows):
    _, store, _ = materialised
    transactions = store.read_source("transactions", "event_time").collect()
    expected = _expected(transactions, key, snapshot, windows)
    rows = store.read_history(group).filter(f"event_time = timestamp'{snapshot}'").collect()
    actual = {r[key]: {name: (round(r[name], 6) if name.startswith("avg") and r[name] is not None else r[name])
                       for name in expected[next(iter(expected))]} for r in rows}
    assert actual == expected


def test_rematerialising_writes_nothing_and_latest_has_one_row_per_key(materialised):
    registry, store, _ = materialised
    from featurestore.offline.materialize import materialize_group

    start = datetime(2026, 10, 1, tzinfo=timezone.utc)
    result = materialize_group(store, registry.group("consumer"), registry, start, start + timedelta(days=2))
    assert result.rows_written == 0 and result.rows_unchanged > 0
    latest = store.read_latest("consumer")
    assert latest.count() == latest.select("consumer_id").distinct().count() > 0
    assert latest.agg({"event_time": "min"}).first()[0] == datetime(2026, 10, 3)


def test_training_set_asset_matches_the_reference_join(materialised):
    registry, store, _ = materialised
    from dagster import materialize as run

    from orchestration.training_assets import build_training_set_asset
    from tests.oracles.aggregation_reference import RefWindow, as_of_reference
    from tests.oracles.pit_reference import ReferenceGroup, pit_join_reference

    spec = registry.training_set("fraud_training")
    asset = build_training_set_asset(spec, registry)
    resources = {"store": StoreResource(spark=SparkResource(master="local[2]"), root=store.root)}
    result = run([asset], resources=resources, instance=DagsterInstance.ephemeral())
    meta = result.get_asset_materialization_events()[0].materialization.metadata
    versions = meta["input_versions"].value
    assert versions == {"consumer": store.version(store.history_path("consumer")),
                        "card": store.version(store.history_path("card"))}

    entities = [r.asDict() for r in store.read_source("transactions", "event_time")
                .filter("event_time >= timestamp'2026-10-01'").select(*spec.entity_columns).collect()]
    groups = [ReferenceGroup(name, [r.asDict() for r in store.read_history(name).collect()],
                             registry.group(name).key_names, registry.group(name).feature_names,
                             registry.group(name).ttl) for name in ("consumer", "card")]
    expected = pit_join_reference(entities, groups, ts_column="event_time", full_feature_names=True)
    transactions = [r.asDict() for r in store.read_source("transactions", "event_time").collect()]
    windows = [RefWindow(w.name, w.agg, w.column, w.size) for q in spec.query_windows for w in q.windows]
    expected = as_of_reference(expected, transactions, ["cc_num"], "event_time", "event_time", windows)
    actual = [r.asDict() for r in store.spark.read.format("delta").load(meta["path"].value).collect()]
    key = lambda row: row["tid"]  # noqa: E731
    assert meta["rows"].value == len(entities) == len(actual)
    assert sorted(actual, key=key) == sorted(expected, key=key)
    assert 0 < meta["null_rates"].value["consumer__avg_amt_last_7d"] < 1
    assert all(row["card_trans_last_1h_asof"] >= 1 for row in actual)  # a transaction counts itself


def test_a_built_training_set_is_rebuilt_exactly_from_its_recorded_inputs(materialised):
    registry, store, _ = materialised
    from featurestore.training.sets import build_training_set, rebuild_training_set, training_set_path

    spec = registry.training_set("fraud_training")
    built = build_training_set(store, spec, registry)
    consumer = registry.group("consumer")
    later = store.read_history("consumer").filter("event_time = timestamp'2026-10-02'").limit(3)
    store.write_features(consumer, later.selectExpr("consumer_id", "event_time", "num_trans_last_1d + 100 as num_trans_last_1d",
                                                     "num_trans_last_7d", "avg_amt_last_1d", "avg_amt_last_7d"))
    stored = store.spark.read.format("delta").load(training_set_path(store, spec.name))
    rebuilt = rebuild_training_set(store, spec, registry, version=built.table_version)
    assert sorted(map(tuple, rebuilt.collect())) == sorted(map(tuple, stored.select(*rebuilt.columns).collect()))
    current = build_training_set(store, spec, registry)
    assert current.input_versions["consumer"] == built.input_versions["consumer"] + 1
