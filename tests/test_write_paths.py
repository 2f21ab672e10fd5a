"""Both write paths — small batches on the driver (local relations) and large ones distributed — keep the write
contract: checked against the reference model (tests/oracles/store_reference.py), and neither reads a
partition the batch does not touch."""

from __future__ import annotations

import math
import tempfile
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from featurestore.columns import EVENT_TIME, IS_DELETED, WRITE_TIME
from featurestore.errors import DataValidationError
from featurestore.offline.store import OfflineStore, WritePolicy
from featurestore.spec import Feature, FeatureGroupSpec, Key
from tests.oracles.store_reference import ReferenceStore, normal

T0 = datetime(2026, 3, 1, 22, tzinfo=timezone.utc)
TIMES = (T0, T0 + timedelta(hours=1), T0 + timedelta(hours=3))  # two UTC days
SPEC = FeatureGroupSpec(name="paths", description="test group", owner="tests", keys=(Key("k"), Key("x", "double")),
                        features=(Feature("f", "double"), Feature("g", "string")), transform=lambda ctx: None,
                        sources=("events",), grain="hourly", start="2026-03-01", event_time_column="ts")
SCHEMA = "k string, x double, ts timestamp, f double, g string"
PATHS = {"local": WritePolicy(), "distributed": WritePolicy(local_rows=0)}

KEYS = st.tuples(st.sampled_from(["a", "b"]), st.sampled_from([0.0, -0.0, math.nan, 1.5]))
ROWS = st.lists(st.tuples(KEYS, st.sampled_from(TIMES), st.sampled_from([None, math.nan, 1.0, 2.0]),
                          st.sampled_from([None, "u"])), max_size=8)
OPERATIONS = st.lists(st.one_of(st.tuples(st.just("write"), ROWS),
                                st.tuples(st.just("delete"), st.lists(KEYS, min_size=1, max_size=2),
                                          st.sampled_from(TIMES))), min_size=2, max_size=3)


def _unique(rows):
    """One row per key and time, keys compared as Spark compares them (0.0 is -0.0, NaN is NaN)."""
    seen = {}
    for (k, x), ts, f, g in rows:
        seen.setdefault((k, normal(x), ts), ((k, x), ts, (f, g)))
    return list(seen.values())


def _rows_of(df, rank):
    columns = df.select("k", "x", F.unix_micros(EVENT_TIME).alias("ts"), F.unix_micros(WRITE_TIME).alias("w"),
                        F.col(IS_DELETED).alias("d"), "f", "g")
    return sorted(((r.k, normal(r.x), r.ts, rank[r.w], r.d, normal(r.f), r.g) for r in columns.collect()), key=repr)


def _stored(spark, store):
    """History and latest table (delete markers included) as sortable rows; write times as write ordinals."""
    history = store.read_history(SPEC.name)
    writes = sorted({r[0] for r in history.select(F.unix_micros(WRITE_TIME)).collect()})
    rank = {w: n + 1 for n, w in enumerate(writes)}
    return _rows_of(history, rank), _rows_of(spark.read.format("delta").load(store.latest_path(SPEC.name)), rank)


def _expected(reference):
    def micros(moment):
        return int(moment.timestamp() * 1_000_000)

    def row(v):
        return (v.key[0], normal(v.key[1]), micros(v.event_time), v.write, v.is_deleted, *map(normal, v.features))

    return (sorted((row(v) for v in reference.history), key=repr),
            sorted((row(v) for v in reference.latest().values()), key=repr))


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                 HealthCheck.too_slow])
@given(operations=OPERATIONS)
def test_both_write_paths_match_the_reference_model(spark, operations):
    with tempfile.TemporaryDirectory() as root:
        stores = {name: OfflineStore(spark, f"{root}/{name}", policy) for name, policy in PATHS.items()}
        reference = ReferenceStore()
        for step, operation in enumerate(operations):
            now = T0 + timedelta(hours=4, minutes=step)
            if operation[0] == "write":
                rows = _unique(operation[1])
                expected = reference.write(rows)
                data = [(k, x, ts, *features) for (k, x), ts, features in rows]
                results = {name: store.write_features(SPEC, spark.createDataFrame(data, SCHEMA), now=now)
                           for name, store in stores.items()}
            else:
                keys = list({(k, normal(x)): (k, x) for k, x in operation[1]}.values())
                expected = reference.soft_delete(keys, operation[2], len(SPEC.features))
                results = {name: store.soft_delete(SPEC, spark.createDataFrame(keys, "k string, x double"),
                                                   at=operation[2], now=now) for name, store in stores.items()}
            for name, result in results.items():
                assert (result.rows_written, result.rows_corrected, result.rows_unchanged) == \
                    (expected["new"] + expected["correction"], expected["correction"], expected["unchanged"]), name
        for name, store in stores.items():
            assert _stored(spark, store) == _expected(reference), name


@pytest.mark.parametrize("path", sorted(PATHS))
def test_a_write_reads_only_the_partitions_of_its_rows(spark, tmp_path, path):
    """The data files of the days a batch does not touch are deleted: the write, a correction and a delete
    still succeed, so neither the classification, the commit nor the latest sync read them."""
    store = OfflineStore(spark, str(tmp_path / "store"), PATHS[path])
    days = [("a", 1.0, T0 - timedelta(days=d), 1.0, "u") for d in (1, 2)] + [("a", 1.0, TIMES[2], 1.0, "u")]
    store.write_features(SPEC, spark.createDataFrame(days, SCHEMA), now=T0 + timedelta(hours=4))
    for day in ("2026-02-27", "2026-02-28"):
        for file in (Path(store.history_path(SPEC.name)) / f"event_date={day}").glob("*.parquet"):
            file.unlink()
    rows = [("a", 1.0, TIMES[2], 2.0, "u"), ("b", 1.0, TIMES[2], 1.0, None)]
    result = store.write_features(SPEC, spark.createDataFrame(rows, SCHEMA), now=T0 + timedelta(hours=5))
    assert (result.rows_written, result.rows_corrected) == (2, 1)
    deleted = store.soft_delete(SPEC, spark.createDataFrame([("b", 1.0)], "k string, x double"),
                                at=TIMES[2] + timedelta(minutes=1), now=T0 + timedelta(hours=6))
    assert deleted.rows_written == 1
    assert sorted((r.k, r.f) for r in store.read_latest(SPEC.name).collect()) == [("a", 2.0)]


@pytest.mark.parametrize("path", sorted(PATHS))
def test_keys_equal_to_spark_are_duplicates_on_both_paths(spark, tmp_path, path):
    store = OfflineStore(spark, str(tmp_path / "store"), PATHS[path])
    for x, y in ((0.0, -0.0), (math.nan, math.nan)):
        rows = spark.createDataFrame([("a", x, T0, 1.0, None), ("a", y, T0, 2.0, None)], SCHEMA)
        with pytest.raises(DataValidationError, match=r"'paths': several rows for the same key and 'ts'.*2 rows"):
            store.write_features(SPEC, rows, now=T0 + timedelta(hours=1))
    assert not store.exists(store.history_path(SPEC.name))
