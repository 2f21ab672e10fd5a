"""The FeatureStore facade: both engines over real Delta tables (oracle and row-for-row agreement), delta-rs
readability of everything Spark writes, the naming rule, the as-known-at warning, settings."""

from __future__ import annotations

import json
import logging
import tempfile
import warnings
from datetime import datetime, timedelta

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestore import FeatureStore
from featurestore.errors import FeatureStoreError, SpecError
from featurestore.feature_store import KnownTooEarlyWarning
from featurestore.offline.store import OfflineStore
from featurestore.registry import Registry, discover
from featurestore.settings import Settings, is_remote_root
from featurestore.spec import Feature, FeatureGroupSpec, Key
from tests.example_rows import CARD_SCHEMA, CARDS, CONSUMER_SCHEMA, T0, write_transactions
from tests.oracles.pit_reference import ReferenceGroup, pit_join_reference
from tests.test_pit_engine import (ENTITY_STRUCT, GROUP_FEATURES, PAIR, PAIR_FEATURES, SINGLE, TTLS, WRITTEN,
                                   arrow_table, as_multiset, entity_rows, histories, history_schema, normalize)



def rows_of(table) -> list[tuple]:
    """A result (pyarrow Table or Spark DataFrame) as sorted tuples with exact UTC microseconds."""
    if hasattr(table, "collect"):
        columns, records = table.columns, [tuple(r) for r in table.collect()]
    else:
        columns, records = table.column_names, [tuple(r.values()) for r in table.to_pylist()]
    return columns, sorted((tuple(normalize(v) for v in r) for r in records), key=repr)


@pytest.fixture(scope="module")
def demo_like(spark, tmp_path_factory):
    """The demo's groups and training set on a small store: corrections, a soft delete, a late backfill."""
    registry = discover("feature_groups")
    store = OfflineStore(spark, str(tmp_path_factory.mktemp("facade") / "store"))
    write_transactions(spark, store, registry, 40, minutes_apart=7)
    card, consumer = registry.group("card"), registry.group("consumer")
    written = T0 + timedelta(days=2)
    for hour in range(1, 5):
        at = T0 + timedelta(hours=hour)
        store.write_features(card, spark.createDataFrame(
            [(c, at, hour + i, 2 * hour + i, 10.0 * hour + i, None if i == 1 else 5.0 * hour) for i, c in
             enumerate(CARDS)], CARD_SCHEMA), now=written + timedelta(hours=hour))
    store.write_features(card, spark.createDataFrame(  # a correction of hour 2, written later
        [(CARDS[0], T0 + timedelta(hours=2), 99, 99, 99.0, 99.0)], CARD_SCHEMA), now=written + timedelta(days=1))
    store.soft_delete(card, [{"cc_num": CARDS[2]}], at=T0 + timedelta(hours=3, minutes=30),
                      now=written + timedelta(days=1, hours=1))
    store.write_features(consumer, spark.createDataFrame(
        [("c0", T0 + timedelta(hours=2), 3, 3, 40.0, 40.0), ("c1", T0 + timedelta(hours=1), 5, 5, 30.0, 30.0)],
        CONSUMER_SCHEMA), now=written)
    return store, registry


def both(spark, root: str, registry: Registry) -> tuple[FeatureStore, FeatureStore]:
    duck = FeatureStore(root=root, engine="duckdb", registry=registry)
    return duck, FeatureStore(root=root, engine="spark", registry=registry, spark=spark)


def test_engines_agree_row_for_row_on_the_demo_training_set(spark, demo_like):
    store, registry = demo_like
    duck, sparky = both(spark, store.root, registry)
    spec = registry.training_set("fraud_training")
    inputs = duck.current_inputs(spec)
    assert inputs == sparky.current_inputs(spec)
    from_duckdb, from_spark = duck.training_set_frame(spec, inputs), sparky.training_set_frame(spec, inputs)
    assert isinstance(from_duckdb, pa.Table) and hasattr(from_spark, "collect")
    columns, duck_rows = rows_of(from_duckdb)
    spark_columns, spark_rows = rows_of(from_spark)
    assert columns == spark_columns and duck_rows == spark_rows and len(duck_rows) == 39
    assert "card__avg_amt_last_1h" in columns and "card_max_amt_last_1d_asof" in columns
    by_tid = {r["tid"]: r for r in from_duckdb.to_pylist()}
    assert by_tid[18]["card__num_trans_last_1h"] == 99  # 02:06, card 0: the hour-2 snapshot, corrected
    assert by_tid[32]["card__num_trans_last_1h"] is None  # card 2 deleted at 03:30; tx 32 is at 03:44
    assert by_tid[3]["card_trans_last_1h_asof"] == 1 and by_tid[39]["card_trans_last_1h_asof"] == 3


def test_built_sets_are_recorded_and_rebuilt_identically_by_either_engine(spark, demo_like):
    store, registry = demo_like
    duck, sparky = both(spark, store.root, registry)
    result = duck.build_training_set("fraud_training")
    assert result.rows == 39 and result.input_versions == {"consumer": 0, "card": 5}
    assert 0 < result.null_rates["card__avg_amt_last_1d"] < 1
    # the table delta-rs wrote is a Delta table Spark reads, with the inputs Spark's rebuild expects
    from featurestore.training import sets as training
    assert training.recorded_inputs(store, "fraud_training")["input_versions"] == result.input_versions
    written = spark.read.format("delta").load(result.path)
    assert written.count() == 39
    assert rows_of(written) == rows_of(duck.rebuild_training_set("fraud_training")) == \
        rows_of(sparky.rebuild_training_set("fraud_training"))
    again = sparky.build_training_set("fraud_training")
    assert again.table_version == result.table_version + 1 and again.null_rates == pytest.approx(result.null_rates)


def test_every_table_spark_writes_reads_the_same_through_delta_rs(spark, demo_like):
    """History (corrections, deletes, change feed on), latest (MERGE), source (replaceWhere): same rows."""
    store, _ = demo_like
    from deltalake import DeltaTable

    from featurestore.storage.delta_read import DeltaReader, connect

    reader, con = DeltaReader(store.root), connect()
    for path in (store.history_path("card"), store.latest_path("card"), store.history_path("consumer"),
                 store.source_path("transactions")):
        spark_df = spark.read.format("delta").load(path)
        through_files = reader.relation(con, path, path).to_arrow_table()
        through_dataset = DeltaTable(path).to_pyarrow_dataset().to_table()
        assert rows_of(through_dataset.select(spark_df.columns)) == rows_of(spark_df), path
        data_columns = [c for c in spark_df.columns if c != "event_date"]  # the file scan leaves out partitions
        assert rows_of(through_files.select(data_columns)) == rows_of(spark_df.select(data_columns)), path
        assert reader.version(path) == store.version(path)
    with pytest.raises(FeatureStoreError, match="feature group 'nope'.*no Delta table"):
        reader.history(con, "nope")


def test_online_lookups_agree_between_delta_rs_and_spark(spark, demo_like):
    store, registry = demo_like
    duck, sparky = both(spark, store.root, registry)
    keys = [{"cc_num": c} for c in [*CARDS, "4999"]]
    values = duck.get_online_features("card", keys, include_event_time=True)
    assert values == sparky.get_online_features("card", keys, include_event_time=True)
    assert values[0]["num_trans_last_1h"] == 4 and values[0]["card__event_time"] == T0 + timedelta(hours=4)
    assert values[1]["avg_amt_last_1d"] is None and values[3]["num_trans_last_1h"] is None  # a null, unknown
    assert values[2]["num_trans_last_1h"] == 6  # deleted at 03:30, alive again with the 04:00 snapshot
    with pytest.raises(SpecError, match=r"group 'card' and feature .* of group 'consumer'|full_feature_names"):
        duck.get_online_features(["consumer", "card"], [{"cc_num": CARDS[0], "consumer_id": "c0"}])
    full = duck.get_online_features(["consumer", "card"], [{"cc_num": CARDS[0], "consumer_id": "c0"}],
                                    full_feature_names=True)
    assert full[0]["consumer__num_trans_last_1d"] == 3 and full[0]["card__num_trans_last_1d"] == 8


def test_names_are_stable_and_a_clash_names_both_groups(demo_like):
    store, registry = demo_like
    duck = FeatureStore(root=store.root, engine="duckdb", registry=registry)
    entity = pa.table({"cc_num": [CARDS[0]], "consumer_id": ["c0"],
                       "ts": pa.array([T0 + timedelta(hours=3)], pa.timestamp("us", "UTC"))})
    alone = duck.get_historical_features(entity, ["card:*"])
    more = duck.get_historical_features(entity, ["card:*", "consumer:num_trans_last_7d"])
    assert more.column_names[:len(alone.column_names)] == alone.column_names  # adding a group renames nothing
    with pytest.raises(SpecError) as raised:
        duck.get_historical_features(entity, ["consumer:*", "card:*"])
    assert all(word in str(raised.value) for word in ("'card'", "'consumer'", "num_trans_last_1d",
                                                      "full_feature_names=True"))
    full = duck.get_historical_features(entity, ["consumer:*", "card:*"], full_feature_names=True)
    assert full.column_names[3:5] == ["consumer__num_trans_last_1d", "consumer__num_trans_last_7d"]
    from featurestore.training.sets import TrainingSetSpec

    clashing = TrainingSetSpec(name="clash", description="", entity_source="transactions",
                               timestamp_column="event_time", entity_columns=("event_time", "cc_num", "consumer_id"),
                               features=("consumer:*", "card:*"))
    with pytest.raises(SpecError, match=r"training set 'clash'.*full_feature_names=True"):
        clashing.validate_against(registry)


def test_as_known_at_before_every_write_warns_naming_the_group(demo_like, caplog):
    store, registry = demo_like
    duck = FeatureStore(root=store.root, engine="duckdb", registry=registry)
    entity = pa.table({"cc_num": [CARDS[0]], "ts": pa.array([T0 + timedelta(hours=3)], pa.timestamp("us", "UTC"))})
    with pytest.warns(KnownTooEarlyWarning, match=r"feature group 'card' \(2026-10-03T01:00:00\+00:00\)"), \
            caplog.at_level(logging.WARNING, logger="featurestore"):
        early = duck.get_historical_features(entity, ["card:*"], as_known_at="2026-10-02T00:00:00Z")
    assert "first write of feature group 'card'" in caplog.text
    assert early.column("num_trans_last_1h").to_pylist() == [None]
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        later = duck.get_historical_features(entity, ["card:*"], as_known_at=datetime(2026, 10, 3, 2))  # naive=UTC
    assert later.column("num_trans_last_1h").to_pylist() == [2]  # hour 2 known; its correction not yet
    with pytest.raises(SpecError, match="as_known_at: expected a datetime .* int 12"):
        duck.get_historical_features(entity, ["card:*"], as_known_at=12)


def test_facade_reads_start_no_spark_on_the_duckdb_engine(demo_like, tmp_path):
    store, _ = demo_like
    script = (f"import sys, json\nfrom featurestore import FeatureStore\nfs = FeatureStore(root={store.root!r})\n"
              "assert fs.engine == 'duckdb'\nrows = fs.list_groups(); info = fs.describe('card')\n"
              f"values = fs.get_online_features('card', [{{'cc_num': {CARDS[0]!r}}}])\n"
              "result = fs.build_training_set('fraud_training')\n"
              "print(json.dumps([len(rows), info['history']['rows'], values[0]['num_trans_last_1h'], result.rows,"
              " 'pyspark' in sys.modules]))\n")
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300,
                          cwd=tmp_path)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout) == [2, 5 * 3 - 2 + 1, 4, 39, False]


# ------------------------------------------------------------------ the PIT property test through the facade

def _group(name: str, keys: list[str], features) -> FeatureGroupSpec:
    return FeatureGroupSpec(name=name, description="", owner="tests", keys=tuple(Key(k) for k in keys),
                            features=tuple(Feature(f, {"bigint": "long", "string": "string",
                                                       "double": "double"}[t.simpleString()]) for f, t in features),
                            transform=lambda ctx: None, sources=("events",), grain="daily", start="2024-01-01")


PROPERTY_REGISTRY = Registry(sources={}, training_sets={}, groups={
    "first": _group("first", ["k"], GROUP_FEATURES), "third": _group("third", ["k1", "k2"], PAIR_FEATURES)})


@settings(max_examples=8, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(entities=entity_rows(), first=histories(pair=False), third=histories(pair=True),
       ttls=st.tuples(TTLS, TTLS),
       cutoff=st.one_of(st.none(), st.builds(lambda i: WRITTEN + i * timedelta(seconds=1), st.integers(-1, 12))))
def test_both_engines_match_the_oracle_over_delta_tables(spark, entities, first, third, ttls, cutoff):
    """The strategies of test_pit_engine, written as real Delta histories, read through FeatureStore."""
    with tempfile.TemporaryDirectory() as root:
        for name, rows, keys, features in (("first", first, SINGLE, GROUP_FEATURES),
                                           ("third", third, PAIR, PAIR_FEATURES)):
            (spark.createDataFrame(rows, history_schema(keys, features)).write.format("delta")
             .option("delta.enableChangeDataFeed", "true").save(f"{root}/features/{name}/history"))
        duck, sparky = both(spark, root, PROPERTY_REGISTRY)
        request = dict(timestamp_column="ts", as_known_at=cutoff, ttl_overrides={"first": ttls[0], "third": ttls[1]},
                       full_feature_names=True)
        refs = ["first:*", "third:*"]
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", KnownTooEarlyWarning)
            from_duckdb = duck.get_historical_features(arrow_table(entities, ENTITY_STRUCT), refs, **request)
            from_spark = sparky.get_historical_features(spark.createDataFrame(entities, ENTITY_STRUCT), refs,
                                                        **request)
        expected = pit_join_reference(entities, [
            ReferenceGroup("first", first, ["k"], ["f1", "f2"], ttls[0]),
            ReferenceGroup("third", third, ["k1", "k2"], ["f1", "g"], ttls[1])],
            as_known_at=cutoff, full_feature_names=True)
        columns = list(expected[0])
        assert from_duckdb.column_names == from_spark.columns == columns
        assert [[normalize(v) for v in r.values()] for r in from_duckdb.to_pylist()] == \
            [[normalize(v) for v in r.values()] for r in expected]  # duckdb keeps entity order
        assert as_multiset([r.asDict() for r in from_spark.collect()], columns) == as_multiset(expected, columns)


# -------------------------------------------------------------------------------------------------- settings

def test_settings_precedence_yaml_environment_arguments_and_the_remote_rule(tmp_path):
    config = tmp_path / "featurestore.yaml"
    config.write_text("root: store\nengine: spark\nspark_conf: {spark.executor.memory: 2g}\n"
                      "storage: {endpoint: 'http://127.0.0.1:9000', secret_key: hidden}\n")
    from_file = Settings.resolve(env={}, config_file=config)
    assert (from_file.root, from_file.engine, from_file.spark_conf) == (str(tmp_path / "store"), "spark",
                                                                        {"spark.executor.memory": "2g"})
    assert "hidden" not in repr(from_file) and from_file.storage.secret_key == "hidden"
    env = {"FEATURESTORE_ENGINE": "duckdb", "FEATURESTORE_SPARK_CONF": '{"a": "1"}'}
    assert Settings.resolve(env=env, config_file=config).engine == "duckdb"
    assert Settings.resolve(env=env, config_file=config, engine="spark").engine == "spark"
    assert Settings.resolve(env={}, root="s3a://bucket/p").resolved_engine == "spark"
    assert Settings.resolve(env={}, root=str(tmp_path)).resolved_engine == "duckdb"
    assert Settings.resolve(env={}, root=str(tmp_path), spark_master="spark://h:7077").resolved_engine == "spark"
    assert [is_remote_root(r) for r in ("s3a://b", "abfss://c@a", "file:///tmp/x", "/tmp/x", "rel")] == \
        [True, True, False, False, False]
    for bad, message in (({"FEATURESTORE_ENGINE": "polars"}, "engine must be"),
                         ({"FEATURESTORE_SPARK_CONF": "[1]"}, "must be a JSON object")):
        with pytest.raises(SpecError, match=message):
            Settings.resolve(env=bad, config_file=tmp_path / "absent.yaml")


def test_check_root_says_what_is_wrong(tmp_path):
    with pytest.raises(FeatureStoreError, match="does not exist"):
        FeatureStore(root=str(tmp_path / "missing")).check_root()
    (tmp_path / "empty").mkdir()
    with pytest.raises(FeatureStoreError, match="holds no feature-store Delta tables"):
        FeatureStore(root=str(tmp_path / "empty")).check_root()
