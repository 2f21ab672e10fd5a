"""The Spark point-in-time join against the pure-Python oracle: explicit rules, then random histories."""

from __future__ import annotations

from collections import Counter
from datetime import datetime, timedelta, timezone

import pyarrow as pa
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import types as T

from featurestore.columns import EVENT_TIME, IS_DELETED, WRITE_TIME
from featurestore.engines.pit import FeatureQuery, point_in_time_join
from featurestore.engines.pit_duckdb import point_in_time_join_duckdb
from featurestore.errors import SpecError
from tests.oracles.pit_reference import ReferenceGroup, pit_join_reference

BASE = datetime(2024, 1, 1, tzinfo=timezone.utc)
WRITTEN = BASE + timedelta(days=1)
SEC = timedelta(seconds=1)
US = timedelta(microseconds=1)
EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def at(seconds: float, micros: int = 0) -> datetime:
    return BASE + timedelta(seconds=seconds, microseconds=micros)


def history_schema(keys: list[tuple[str, T.DataType]], features: list[tuple[str, T.DataType]]) -> T.StructType:
    return T.StructType([*(T.StructField(k, t) for k, t in keys),
                         T.StructField(EVENT_TIME, T.TimestampType()), T.StructField(WRITE_TIME, T.TimestampType()),
                         T.StructField(IS_DELETED, T.BooleanType()),
                         *(T.StructField(f, t) for f, t in features)])


def entity_schema(keys: list[tuple[str, T.DataType]], ts: str = "ts") -> T.StructType:
    return T.StructType([*(T.StructField(k, t) for k, t in keys), T.StructField(ts, T.TimestampType()),
                         T.StructField("label", T.IntegerType())])


def hist(key: str, event: datetime, value, *, written: datetime | None = None, deleted: bool = False) -> dict:
    return {"k": key, EVENT_TIME: event, WRITE_TIME: written or event, IS_DELETED: deleted, "v": value}


STRING_KEY = [("k", T.StringType())]
VALUE = [("v", T.LongType())]


def normalize(value):
    """Datetimes as exact epoch microseconds (collect gives naive local times), so rows compare exactly."""
    if isinstance(value, datetime):
        aware = value if value.tzinfo else value.astimezone(timezone.utc)
        return ("ts", (aware - EPOCH) // US)
    return value


def as_multiset(rows: list[dict], columns: list[str]) -> Counter:
    return Counter(tuple(normalize(row[c]) for c in columns) for row in rows)


ARROW_TYPES = {T.StringType(): pa.string(), T.LongType(): pa.int64(), T.IntegerType(): pa.int32(),
               T.DoubleType(): pa.float64(), T.BooleanType(): pa.bool_(), T.TimestampType(): pa.timestamp("us", "UTC")}


def arrow_table(rows: list[dict], schema: T.StructType) -> pa.Table:
    arrow_schema = pa.schema([(f.name, ARROW_TYPES[f.dataType]) for f in schema.fields])
    return pa.Table.from_pylist([{f.name: row.get(f.name) for f in schema.fields} for row in rows], arrow_schema)


def duckdb_compare(entities, entity_struct, groups: list[tuple[ReferenceGroup, T.StructType]], as_known_at=None,
                   expected: list[dict] | None = None) -> list[dict]:
    """Run the DuckDB engine on arrow copies; assert it equals the oracle row by row, in entity order."""
    queries = [FeatureQuery(g.name, arrow_table(g.rows, schema), g.keys, g.features, g.ttl, g.output_names)
               for g, schema in groups]
    result = point_in_time_join_duckdb(arrow_table(entities, entity_struct), queries, as_known_at=as_known_at)
    if expected is None:
        expected = pit_join_reference(entities, [g for g, _ in groups], as_known_at=as_known_at)
    actual = result.to_pylist()
    assert result.column_names == list(expected[0])
    assert [[normalize(v) for v in r.values()] for r in actual] == [[normalize(v) for v in r.values()]
                                                                    for r in expected]
    return actual


def run_and_compare(spark, entities, entity_struct, groups: list[tuple[ReferenceGroup, T.StructType]],
                    as_known_at=None) -> list[dict]:
    """Run both engines and the oracle on the same input; assert equal rows; return the Spark output."""
    duckdb_compare(entities, entity_struct, groups, as_known_at)
    entity_df = spark.createDataFrame(entities, entity_struct)
    queries = [FeatureQuery(g.name, spark.createDataFrame(g.rows, schema), g.keys, g.features, g.ttl,
                            g.output_names) for g, schema in groups]
    result = point_in_time_join(entity_df, queries, as_known_at=as_known_at)
    expected = pit_join_reference(entities, [g for g, _ in groups], as_known_at=as_known_at)
    columns = result.columns
    assert columns == list(expected[0]) if expected else True
    actual = [row.asDict() for row in result.collect()]
    assert len(actual) == len(entities)
    assert as_multiset(actual, columns) == as_multiset(expected, columns)
    return actual


def one_group(spark, history_rows, entity_rows, ttl=None, as_known_at=None) -> list:
    """Values of `v` for each entity row (ordered by label), checked against the oracle too."""
    group = ReferenceGroup("g", history_rows, ["k"], ["v"], ttl)
    out = run_and_compare(spark, entity_rows, entity_schema(STRING_KEY),
                          [(group, history_schema(STRING_KEY, VALUE))], as_known_at)
    return [row["v"] for row in sorted(out, key=lambda r: r["label"])]


def ent(key, ts, label) -> dict:
    return {"k": key, "ts": ts, "label": label}


# ----------------------------------------------------------------------------------------------- the rules

def test_equal_time_is_visible_and_later_is_not(spark):
    history = [hist("a", at(10), 1), hist("a", at(20), 2)]
    entities = [ent("a", at(10), 0), ent("a", at(20, -1), 1), ent("a", at(20), 2), ent("a", at(9), 3)]
    assert one_group(spark, history, entities) == [1, 1, 2, None]


def test_ttl_is_inclusive_and_one_microsecond_past_is_null(spark):
    history = [hist("a", at(0), 7)]
    entities = [ent("a", at(5), 0), ent("a", at(5, 1), 1)]
    assert one_group(spark, history, entities, ttl=5 * SEC) == [7, None]


def test_ttl_applies_to_the_newest_row_only(spark):
    history = [hist("a", at(0), 1), hist("a", at(1), None, deleted=True)]
    entities = [ent("a", at(3), 0), ent("a", at(4), 1)]
    # the newest row (a delete) hides the older value; past its TTL there is still nothing
    assert one_group(spark, history, entities, ttl=3 * SEC) == [None, None]


def test_newest_null_feature_stays_null(spark):
    history = [hist("a", at(0), 1), hist("a", at(1), None)]
    assert one_group(spark, history, [ent("a", at(2), 0), ent("a", at(0), 1)]) == [None, 1]


@pytest.mark.parametrize("order", ["correction_first", "correction_last"])
def test_latest_correction_wins_whatever_the_input_order(spark, order):
    original = hist("a", at(0), 10, written=WRITTEN)
    correction = hist("a", at(0), 3, written=WRITTEN + SEC)  # later write, lower value
    history = [correction, original] if order == "correction_first" else [original, correction]
    assert one_group(spark, history, [ent("a", at(0), 0)]) == [3]


def test_delete_then_reinsert(spark):
    history = [hist("a", at(0), 1), hist("a", at(2), None, deleted=True), hist("a", at(4), 5)]
    entities = [ent("a", at(1), 0), ent("a", at(2), 1), ent("a", at(3), 2), ent("a", at(4), 3)]
    assert one_group(spark, history, entities) == [1, None, None, 5]


def test_correction_that_deletes_and_delete_that_is_corrected(spark):
    history = [hist("a", at(0), 1, written=WRITTEN), hist("a", at(0), None, written=WRITTEN + SEC, deleted=True),
               hist("b", at(0), None, written=WRITTEN, deleted=True), hist("b", at(0), 2, written=WRITTEN + SEC)]
    assert one_group(spark, history, [ent("a", at(1), 0), ent("b", at(1), 1)]) == [None, 2]


def test_as_known_at_ignores_later_writes(spark):
    history = [hist("a", at(0), 1, written=WRITTEN), hist("a", at(0), 2, written=WRITTEN + 2 * SEC),
               hist("a", at(1), 9, written=WRITTEN + 3 * SEC)]
    entities = [ent("a", at(5), 0)]
    assert one_group(spark, history, entities, as_known_at=WRITTEN + SEC) == [1]
    assert one_group(spark, history, entities, as_known_at=WRITTEN + 2 * SEC) == [2]
    assert one_group(spark, history, entities, as_known_at=WRITTEN - US) == [None]
    naive = (WRITTEN + 2 * SEC).replace(tzinfo=None)  # naive means UTC
    assert one_group(spark, history, entities, as_known_at=naive) == [2]


def test_duplicates_null_keys_and_null_times_are_all_kept(spark):
    history = [hist("a", at(0), 1), {**hist("a", at(0), 99), "k": None}]
    entities = [ent("a", at(1), 0), ent("a", at(1), 0), ent(None, at(1), 1), ent("a", None, 2), ent("z", at(1), 3)]
    out = one_group(spark, history, entities)
    assert out == [1, 1, None, None, None]


def test_composite_keys_are_compared_column_by_column(spark):
    keys = [("k1", T.StringType()), ("k2", T.StringType())]
    rows = [{"k1": "a_b", "k2": "c", EVENT_TIME: at(0), WRITE_TIME: at(0), IS_DELETED: False, "v": 1},
            {"k1": "a", "k2": "b_c", EVENT_TIME: at(0), WRITE_TIME: at(0), IS_DELETED: False, "v": 2}]
    entities = [{"k1": "a", "k2": "b_c", "ts": at(1), "label": 0}, {"k1": "a_b", "k2": "c", "ts": at(1), "label": 1},
                {"k1": "a_", "k2": "bc", "ts": at(1), "label": 2}, {"k1": "a", "k2": None, "ts": at(1), "label": 3}]
    group = ReferenceGroup("g", rows, ["k1", "k2"], ["v"])
    out = run_and_compare(spark, entities, entity_schema(keys), [(group, history_schema(keys, VALUE))])
    assert [r["v"] for r in sorted(out, key=lambda r: r["label"])] == [2, 1, None, None]


def test_groups_with_other_keys_ttls_and_renamed_feature_names(spark):
    keys = [("k", T.StringType()), ("k2", T.StringType())]
    entities = [{"k": "a", "k2": "x", "ts": at(10), "label": 0}, {"k": "a", "k2": "y", "ts": at(3), "label": 1}]
    by_k = ReferenceGroup("by_k", [hist("a", at(0), 1)], ["k"], ["v"], ttl=5 * SEC, output_names={"v": "by_k__v"})
    also_k = ReferenceGroup("also_k", [hist("a", at(0), 2)], ["k"], ["v"], ttl=20 * SEC, output_names={"v": "w"})
    by_both = ReferenceGroup("by_both", [{**hist("a", at(1), 3), "k2": "x"}], ["k", "k2"], ["v"],
                             output_names={"v": "by_both__v"})
    groups = [(by_k, history_schema(STRING_KEY, VALUE)), (also_k, history_schema(STRING_KEY, VALUE)),
              (by_both, history_schema(keys, VALUE))]
    out = run_and_compare(spark, entities, entity_schema(keys), groups)
    assert list(out[0]) == ["k", "k2", "ts", "label", "by_k__v", "w", "by_both__v"]
    assert sorted(((r["label"], r["by_k__v"], r["w"], r["by_both__v"]) for r in out)) == [
        (0, None, 2, 3), (1, 1, 2, None)]


def test_integer_keys_of_different_widths_join_and_keep_the_entity_type(spark):
    entity_df = spark.createDataFrame([(1, at(1))], "id int, ts timestamp")
    history = spark.createDataFrame([(1, at(0), at(0), False, 5.0)],
                                    f"id long, {EVENT_TIME} timestamp, {WRITE_TIME} timestamp, "
                                    f"{IS_DELETED} boolean, x double")
    result = point_in_time_join(entity_df, [FeatureQuery("g", history, ["id"], ["x"])])
    assert result.schema["id"].dataType == T.IntegerType()
    assert [tuple(normalize(v) for v in r) for r in result.collect()] == [(1, normalize(at(1)), 5.0)]


# ----------------------------------------------------------------------------------------------- validation

@pytest.fixture(scope="module")
def small(spark):
    entity_df = spark.createDataFrame([("a", at(1), 1)], entity_schema(STRING_KEY))
    history = spark.createDataFrame([hist("a", at(0), 1)], history_schema(STRING_KEY, VALUE))
    return entity_df, history


@pytest.mark.parametrize("change, message", [
    (lambda e, h: (e.drop("ts"), h), "timestamp column 'ts' not found"),
    (lambda e, h: (e.withColumn("ts", e["ts"].cast("string")), h), "must be a timestamp"),
    (lambda e, h: (e.drop("k"), h), "group 'g': key column 'k' not found in the entity"),
    (lambda e, h: (e, h.drop("k")), "group 'g': column 'k' not found in its history"),
    (lambda e, h: (e, h.drop("v")), "group 'g': column 'v' not found"),
    (lambda e, h: (e, h.drop(WRITE_TIME)), f"column '{WRITE_TIME}' not found"),
    (lambda e, h: (e, h.withColumn(EVENT_TIME, h[EVENT_TIME].cast("string"))), f"'{EVENT_TIME}' must be"),
    (lambda e, h: (e.withColumn("k", e["label"]), h), "key column 'k' is int in the entity"),
    (lambda e, h: (e.withColumn("v", e["label"]), h), "which is an entity column"),
])
def test_clear_errors(small, change, message):
    entity_df, history = change(*small)
    with pytest.raises(SpecError, match=message):
        point_in_time_join(entity_df, [FeatureQuery("g", history, ["k"], ["v"])])


def test_query_spec_errors(small):
    _, history = small
    with pytest.raises(SpecError, match="no features"):
        FeatureQuery("g", history, ["k"], [])
    with pytest.raises(SpecError, match="ttl"):
        FeatureQuery("g", history, ["k"], ["v"], ttl="soon")
    with pytest.raises(SpecError, match="not requested"):
        FeatureQuery("g", history, ["k"], ["v"], output_names={"x": "y"})
    assert FeatureQuery("g", history, ["k"], ["v"], ttl="14d").ttl == timedelta(days=14)


def test_same_group_twice_needs_output_names(small):
    entity_df, history = small
    with pytest.raises(SpecError, match="output_names"):
        point_in_time_join(entity_df, [FeatureQuery("g", history, ["k"], ["v"]),
                                       FeatureQuery("g", history, ["k"], ["v"], ttl="1d")])


def test_a_feature_name_of_two_groups_is_refused_naming_both_unless_full_feature_names(small):
    """The naming rule: plain names; a clash names both groups and the option that resolves it."""
    entity_df, history = small
    queries = [FeatureQuery("g", history, ["k"], ["v"]), FeatureQuery("h", history, ["k"], ["v"])]
    with pytest.raises(SpecError, match=r"'v' of group 'h' and feature 'v' of group 'g'.*full_feature_names=True"):
        point_in_time_join(entity_df, queries)
    with pytest.raises(SpecError, match="full_feature_names=True"):
        point_in_time_join_duckdb(entity_df.toPandas(), [
            FeatureQuery(q.group, history.toPandas(), q.keys, q.features) for q in queries])
    full = point_in_time_join(entity_df, queries, full_feature_names=True)
    assert full.columns == ["k", "ts", "label", "g__v", "h__v"]
    assert [tuple(r)[3:] for r in full.collect()] == [(1, 1)]


# ------------------------------------------------------------------------------------- random histories

TIMES = st.builds(at, st.integers(0, 6), st.sampled_from([0, 0, 1, -1]))
SHORT_KEYS = st.sampled_from(["a", "b", "c"])
PAIR_KEYS = st.sampled_from([("a_b", "c"), ("a", "b_c"), ("a", "c"), ("a_b", "b_c")])
TTLS = st.one_of(st.none(), st.builds(lambda s: s * SEC, st.integers(1, 4)))
MAYBE_INT = st.one_of(st.none(), st.integers(-5, 5))
MAYBE_TEXT = st.one_of(st.none(), st.sampled_from(["x", "y", ""]))

SINGLE = [("k", T.StringType())]
PAIR = [("k1", T.StringType()), ("k2", T.StringType())]
GROUP_FEATURES = [("f1", T.LongType()), ("f2", T.StringType())]
PAIR_FEATURES = [("f1", T.LongType()), ("g", T.DoubleType())]


@st.composite
def histories(draw, pair: bool) -> list[dict]:
    """Rows with random keys, times, values and deletes; write times unique but in random order."""
    n = draw(st.integers(0, 12))
    order = draw(st.permutations(range(n)))
    rows = []
    for i in range(n):
        event = draw(TIMES)
        row = {EVENT_TIME: event, WRITE_TIME: WRITTEN + order[i] * SEC, IS_DELETED: draw(st.booleans()),
               "f1": draw(MAYBE_INT)}
        if pair:
            row["k1"], row["k2"] = draw(PAIR_KEYS)
            row["g"] = draw(st.one_of(st.none(), st.floats(-2, 2, allow_nan=False, width=32)))
        else:
            row["k"] = draw(SHORT_KEYS)
            row["f2"] = draw(MAYBE_TEXT)
        rows.append(row)
    if rows and draw(st.booleans()):  # a correction: same key and event time, written later
        copy = dict(draw(st.sampled_from(rows)), f1=draw(MAYBE_INT), **{WRITE_TIME: WRITTEN + n * SEC})
        rows.append(copy)
    return rows


@st.composite
def entity_rows(draw) -> list[dict]:
    rows = []
    for label in range(draw(st.integers(1, 10))):
        k1, k2 = draw(PAIR_KEYS)
        rows.append({"k": draw(st.one_of(SHORT_KEYS, st.none())), "k1": k1, "k2": k2,
                     "ts": draw(st.one_of(TIMES, TIMES, TIMES, st.none())), "label": label})
    if draw(st.booleans()):
        rows.append(dict(draw(st.sampled_from(rows))))  # an exact duplicate
    return rows


ENTITY_STRUCT = T.StructType([T.StructField("k", T.StringType()), T.StructField("k1", T.StringType()),
                              T.StructField("k2", T.StringType()), T.StructField("ts", T.TimestampType()),
                              T.StructField("label", T.IntegerType())])


@settings(max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture,
                                                                  HealthCheck.too_slow])
@given(entities=entity_rows(), first=histories(pair=False), second=histories(pair=False),
       third=histories(pair=True), ttls=st.tuples(TTLS, TTLS, TTLS),
       cutoff=st.one_of(st.none(), st.builds(lambda i: WRITTEN + i * SEC, st.integers(-1, 12))))
def test_engine_matches_oracle(spark, entities, first, second, third, ttls, cutoff):
    groups = [
        (ReferenceGroup("first", first, ["k"], ["f1", "f2"], ttls[0]), history_schema(SINGLE, GROUP_FEATURES)),
        (ReferenceGroup("second", second, ["k"], ["f2"], ttls[1], output_names={"f2": "second_text"}),
         history_schema(SINGLE, GROUP_FEATURES)),
        (ReferenceGroup("third", third, ["k1", "k2"], ["f1", "g"], ttls[2], output_names={"f1": "third_f1"}),
         history_schema(PAIR, PAIR_FEATURES)),
    ]
    run_and_compare(spark, entities, ENTITY_STRUCT, groups, as_known_at=cutoff)


@settings(max_examples=150, deadline=None)
@given(entities=entity_rows(), first=histories(pair=False), third=histories(pair=True), ttls=st.tuples(TTLS, TTLS),
       cutoff=st.one_of(st.none(), st.builds(lambda i: WRITTEN + i * SEC, st.integers(-1, 12))))
def test_duckdb_engine_matches_oracle(entities, first, third, ttls, cutoff):
    groups = [
        (ReferenceGroup("first", first, ["k"], ["f1", "f2"], ttls[0]), history_schema(SINGLE, GROUP_FEATURES)),
        (ReferenceGroup("third", third, ["k1", "k2"], ["f1", "g"], ttls[1], output_names={"f1": "third_f1"}),
         history_schema(PAIR, PAIR_FEATURES)),
    ]
    duckdb_compare(entities, ENTITY_STRUCT, groups, as_known_at=cutoff)


def test_duckdb_engine_reads_parquet_and_pandas_and_checks_columns(tmp_path):
    import pyarrow.parquet as pq

    history = arrow_table([hist("a", at(0), 1), hist("a", at(1), 2)], history_schema(STRING_KEY, VALUE))
    pq.write_table(history, tmp_path / "history.parquet")
    entities = arrow_table([ent("a", at(0), 0), ent("a", at(5), 1)], entity_schema(STRING_KEY))
    result = point_in_time_join_duckdb(entities.to_pandas(), [FeatureQuery("g", tmp_path / "history.parquet",
                                                                           ["k"], ["v"], "4s")])
    assert result.column("v").to_pylist() == [1, 2]
    assert point_in_time_join_duckdb(entities, [FeatureQuery("g", history, ["k"], ["v"], "3s")],
                                     threads=1).column("v").to_pylist() == [1, None]
    with pytest.raises(SpecError, match="group 'g': column 'v' not found"):
        point_in_time_join_duckdb(entities, [FeatureQuery("g", history.drop(["v"]), ["k"], ["v"])])
    with pytest.raises(SpecError, match="key column 'k' is INTEGER in the entity"):
        point_in_time_join_duckdb(entities.drop(["k"]).append_column("k", pa.array([1, 2], pa.int32())),
                                  [FeatureQuery("g", history, ["k"], ["v"])])
    with pytest.raises(SpecError, match="must be a timestamp"):
        point_in_time_join_duckdb(entities.drop(["ts"]).append_column("ts", pa.array(["x", "y"])),
                                  [FeatureQuery("g", history, ["k"], ["v"])])
