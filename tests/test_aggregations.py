"""Windowed aggregations against the loop-based reference (tests/oracles/aggregation_reference.py)."""

from __future__ import annotations

import math
from datetime import datetime, timedelta, timezone

import numpy as np
import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from pyspark.sql import functions as F

from featurestore.aggregations import AGGREGATIONS, Window, aggregate_as_of, snapshot_aggregates
from featurestore.aggregations import kernels as K
from featurestore.columns import EVENT_TIME, IS_DELETED, WRITE_TIME
from featurestore.errors import SpecError
from tests.oracles.aggregation_reference import RefWindow, as_of_reference, snapshot_reference

UTC = timezone.utc
BASE = datetime(2026, 1, 1, tzinfo=UTC)
HALF_HOUR = timedelta(minutes=30)
US = timedelta(microseconds=1)
EVENTS = "k string, ts timestamp, amount double, qty long, cat string, flag boolean"
HISTORY_EVENTS = f"{EVENTS}, {WRITE_TIME} timestamp, {IS_DELETED} boolean"
SPARK_SETTINGS = settings(max_examples=8, deadline=None, derandomize=False,
                          suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


def pair(column, agg, size, *, where=None, where_py=None, group_by=None, name=None):
    """A Window for the engine and the same window for the reference."""
    window = Window(column, agg, size, name=name, where=where, group_by=group_by)
    return window, RefWindow(window.name, agg, column, window.size, where_py, group_by)


def _flag(row):
    return row["flag"]


SIZES = ("1h", "3h", "90m", None)
PAIRS = (
    [pair("amount", agg, size) for agg in ("sum", "avg", "min", "max", "first", "last", "variance",
                                           "stddev", "variance_pop", "stddev_pop", "count")
     for size in SIZES]
    + [pair(None, "row_count", size) for size in SIZES]
    + [pair("qty", agg, size) for agg in ("sum", "avg", "min", "last", "approx_count_distinct", "variance")
       for size in ("1h", "90m", None)]
    + [pair("cat", agg, size) for agg in ("min", "max", "first", "last", "approx_count_distinct", "count")
       for size in ("3h", "90m")]
    + [pair("amount", "sum", size, where="flag", where_py=_flag, name=f"flagged_sum_{i}")
       for i, size in enumerate(SIZES)]
    + [pair(None, "row_count", "3h", where="flag = true", where_py=_flag, name="flagged_rows")]
    + [pair("amount", "max", size, group_by="cat") for size in ("1h", "90m")]
    + [pair(None, "row_count", "3h", group_by="cat"), pair("qty", "first", None, group_by="cat")]
)
WINDOWS = [w for w, _ in PAIRS]
REFERENCE = [r for _, r in PAIRS]


# ---- data strategies ---------------------------------------------------------------------------

def on_grid(steps: int, offset_us: int) -> datetime:
    return BASE + steps * HALF_HOUR + offset_us * US


boundary_offsets = st.sampled_from([-1, 0, 1]) | st.integers(0, 30 * 60 * 10**6 - 1)
special_floats = st.sampled_from([math.nan, math.inf, -math.inf, -0.0])
amounts = st.integers(0, 11).flatmap(  # mostly quarters, sometimes null, rarely NaN / inf / -0.0
    lambda i: special_floats if i == 0 else st.none() if i == 1 else st.integers(-8, 8).map(lambda x: x / 4))
times = st.builds(on_grid, st.integers(-6, 14), boundary_offsets)
event_rows = st.fixed_dictionaries({
    "k": st.sampled_from(["a", "b", "c"]) | st.none(),
    "ts": times,
    "amount": amounts,
    "qty": st.none() | st.integers(-5, 5),
    "cat": st.none() | st.sampled_from("xyz"),
    "flag": st.none() | st.booleans(),
})
event_lists = st.lists(event_rows, max_size=60)


@st.composite
def snapshot_grids(draw) -> list[datetime]:
    """Regular grids (30 min or 1 h steps: the tiled path) or irregular times (the event path)."""
    if draw(st.booleans()):
        step = draw(st.sampled_from([HALF_HOUR, 2 * HALF_HOUR]))
        start = on_grid(draw(st.integers(-4, 12)), 0)
        return [start + i * step for i in range(draw(st.integers(1, 8)))]
    return draw(st.lists(st.builds(on_grid, st.integers(-4, 16), st.sampled_from([-1, 0, 1, 7])),
                         min_size=1, max_size=6))


# ---- comparison --------------------------------------------------------------------------------

def same(actual, expected) -> bool:
    if isinstance(expected, dict):
        return isinstance(actual, dict) and actual.keys() == expected.keys() and all(
            same(actual[b], expected[b]) for b in expected)
    if isinstance(expected, float) or isinstance(actual, float):
        if actual is None or expected is None:
            return actual is expected
        if math.isnan(expected):
            return math.isnan(actual)
        return math.isclose(actual, expected, rel_tol=1e-9, abs_tol=1e-9)
    return actual == expected


def micros(moment: datetime) -> int:
    return (moment - datetime(1970, 1, 1, tzinfo=UTC)) // US


def collect(df, keys) -> dict[tuple, dict]:
    rows = df.withColumn(EVENT_TIME, F.unix_micros(EVENT_TIME)).collect()
    out = {}
    for row in rows:
        record = row.asDict()
        ident = tuple(record[k] for k in keys) + (record[EVENT_TIME],)
        assert ident not in out, f"duplicate output row {ident}"
        out[ident] = record
    return out


def assert_snapshots_match(actual: dict[tuple, dict], expected: list[dict], keys, windows) -> None:
    wanted = {tuple(r[k] for k in keys) + (micros(r[EVENT_TIME]),): r for r in expected}
    assert sorted(actual, key=repr) == sorted(wanted, key=repr)
    for ident, row in wanted.items():
        for w in windows:
            assert same(actual[ident][w.name], row[w.name]), (ident, w.name, actual[ident][w.name], row[w.name])


def snapshot_check(spark, events: list[dict], grid: list[datetime], pairs=PAIRS, schema=EVENTS,
                   keys=("k",), pre_aggregate=False):
    windows, reference = [w for w, _ in pairs], [r for _, r in pairs]
    df = spark.createDataFrame(events, schema)
    result = snapshot_aggregates(df, keys=list(keys), time_column="ts", windows=windows, snapshot_times=grid,
                                 pre_aggregate=pre_aggregate)
    expected = snapshot_reference(events, list(keys), "ts", reference, grid)
    assert_snapshots_match(collect(result, keys), expected, keys, reference)


# ---- snapshot features ---------------------------------------------------------------------------

@SPARK_SETTINGS
@given(events=event_lists, grid=snapshot_grids(), pre_aggregate=st.booleans())
def test_snapshot_matches_reference(spark, events, grid, pre_aggregate):
    snapshot_check(spark, events, grid, pre_aggregate=pre_aggregate)


@settings(max_examples=4, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(event_rows, max_size=25), grid=snapshot_grids(),
       corrections=st.lists(st.tuples(st.integers(0, 24), st.integers(0, 3), st.booleans(),
                                      st.none() | st.integers(-8, 8).map(lambda x: x / 4)), max_size=12),
       pre_aggregate=st.booleans())
def test_snapshot_counts_latest_versions_only(spark, events, grid, corrections, pre_aggregate):
    history = [{**e, WRITE_TIME: BASE, IS_DELETED: False} for e in events]
    for number, (index, late_hours, deleted, amount) in enumerate(corrections, start=1):
        if history:  # a later version of an earlier row (write times are unique per version)
            original = history[index % len(history)]
            history.append({**original, "amount": amount, IS_DELETED: deleted,
                            WRITE_TIME: BASE + timedelta(hours=late_hours, minutes=number)})
    pairs = [p for p in PAIRS if p[0].column in ("amount", None) and p[0].group_by is None]
    snapshot_check(spark, history, grid, pairs, HISTORY_EVENTS,
                   pre_aggregate=pre_aggregate)


@settings(max_examples=3, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(events=st.lists(st.fixed_dictionaries({
    "k1": st.sampled_from(["a", "b"]), "k2": st.none() | st.integers(0, 1), "ts": times,
    "amount": st.none() | st.integers(-8, 8).map(lambda x: x / 4)}), max_size=30), grid=snapshot_grids())
def test_snapshot_composite_keys(spark, events, grid):
    pairs = [pair("amount", a, s) for a in ("sum", "min", "last") for s in ("1h", "90m")]
    snapshot_check(spark, events, grid, pairs, "k1 string, k2 int, ts timestamp, amount double", ("k1", "k2"))


def test_snapshot_window_boundaries_to_the_microsecond(spark):
    s = BASE + timedelta(hours=5)
    w = timedelta(hours=2)
    moments = {"before_start": s - w - US, "start": s - w, "after_start": s - w + US,
               "before_end": s - US, "end": s, "after_end": s + US}
    events = [{"k": "a", "ts": t, "amount": float(i), "qty": None, "cat": None, "flag": None}
              for i, t in enumerate(moments.values())]
    df = spark.createDataFrame(events, EVENTS)
    windows = [Window("amount", "sum", "2h"), Window("amount", "min", "2h"), Window("amount", "max", "2h")]
    for grid in ([s], [s - timedelta(hours=1), s]):          # event path, then tiled path
        out = snapshot_aggregates(df, keys=["k"], time_column="ts", windows=windows, snapshot_times=grid)
        row = {r["event_time"]: r for r in collect(out, ["k"]).values()}[micros(s)]
        # start, after_start, before_end are inside (values 1, 2, 3); before_start and end are not.
        assert (row["sum_amount_2h"], row["min_amount_2h"], row["max_amount_2h"]) == (6.0, 1.0, 3.0)


def test_snapshot_emits_rows_only_for_keys_active_in_the_largest_window(spark):
    events = [{"k": "a", "ts": BASE, "amount": 1.0, "qty": 1, "cat": "x", "flag": True}]
    df = spark.createDataFrame(events, EVENTS)
    grid = [BASE + timedelta(hours=h) for h in range(0, 6)]
    out = snapshot_aggregates(df, keys=["k"], time_column="ts", snapshot_times=grid,
                              windows=[Window("amount", "sum", "1h"), Window(None, "row_count", "3h")])
    rows = sorted((r["event_time"], r["sum_amount_1h"], r["row_count_3h"]) for r in collect(out, ["k"]).values())
    hour = 3600 * 10**6
    assert rows == [(micros(BASE) + hour, 1.0, 1), (micros(BASE) + 2 * hour, None, 1),
                    (micros(BASE) + 3 * hour, None, 1)]
    assert out.columns == ["k", EVENT_TIME, "sum_amount_1h", "row_count_3h"]


def test_snapshot_output_types_follow_the_input(spark):
    df = spark.createDataFrame([("a", BASE, 3, 2.5, True, "x")],
                               "k string, ts timestamp, n int, f float, b boolean, s string")
    windows = [Window("n", "sum", "1d"), Window("n", "max", "1d"), Window("f", "min", "1d"),
               Window("b", "last", "1d"), Window("n", "avg", "1d"), Window("s", "count", "1d"),
               Window("ts", "max", "1d", name="latest"), Window("n", "sum", "1d", group_by="s"),
               Window("n", "count", "1d", where=F.col("n") > 5, name="big_n")]
    out = snapshot_aggregates(df, keys=["k"], time_column="ts", windows=windows,
                              snapshot_times=[BASE + timedelta(days=1)])
    types = dict(out.dtypes)
    assert [types[w.name] for w in windows] == ["bigint", "int", "float", "boolean", "double", "bigint",
                                               "timestamp", "map<string,bigint>", "bigint"]
    row = out.collect()[0]
    assert (row["sum_n_1d"], row["max_n_1d"], row["last_b_1d"], row["sum_n_1d_by_s"]) == (3, 3, True, {"x": 3})
    assert (row["min_f_1d"], row["big_n"]) == (2.5, 0)


def test_snapshot_with_no_snapshot_times_is_empty(spark):
    df = spark.createDataFrame([("a", BASE, 1.0, 1, "x", True)], EVENTS)
    out = snapshot_aggregates(df, keys=["k"], time_column="ts", windows=[Window("amount", "sum", "1h")],
                              snapshot_times=[])
    assert out.count() == 0 and out.columns == ["k", EVENT_TIME, "sum_amount_1h"]


# ---- query-time aggregation ----------------------------------------------------------------------

ENTITIES = "rid int, k string, ts timestamp, label string"
entity_rows = st.lists(st.fixed_dictionaries({
    "k": st.sampled_from(["a", "b", "c"]) | st.none(),
    "ts": times | st.none(),
    "label": st.sampled_from(["p", "q"]),
}), min_size=1, max_size=30)


def with_ids_and_duplicates(rows: list[dict], duplicate: list[int]) -> list[dict]:
    rows = [dict(r, rid=i) for i, r in enumerate(rows)]
    return rows + [dict(rows[i % len(rows)]) for i in duplicate]


def as_of_check(spark, entities: list[dict], events: list[dict], pairs=PAIRS, schema=EVENTS,
                as_known_at=None) -> None:
    windows, reference = [w for w, _ in pairs], [r for _, r in pairs]
    entity_df = spark.createDataFrame(entities, ENTITIES)
    event_df = spark.createDataFrame(events, schema)
    result = aggregate_as_of(entity_df, event_df, keys=["k"], entity_time_column="ts", event_time_column="ts",
                             windows=windows, as_known_at=as_known_at)
    assert result.columns == entity_df.columns + [w.name for w in windows]
    actual = [r.asDict() for r in result.withColumn("ts", F.unix_micros("ts")).collect()]
    expected = as_of_reference(entities, events, ["k"], "ts", "ts", reference, as_known_at)
    assert len(actual) == len(expected)
    actual.sort(key=lambda r: r["rid"])
    expected.sort(key=lambda r: r["rid"])
    for got, want in zip(actual, expected):
        assert (got["rid"], got["k"], got["label"]) == (want["rid"], want["k"], want["label"])
        assert got["ts"] == (None if want["ts"] is None else micros(want["ts"]))
        for w in reference:
            assert same(got[w.name], want[w.name]), (want["rid"], w.name, got[w.name], want[w.name])


@SPARK_SETTINGS
@given(entities=entity_rows, duplicate=st.lists(st.integers(0, 29), max_size=3), events=event_lists)
def test_as_of_matches_reference(spark, entities, duplicate, events):
    as_of_check(spark, with_ids_and_duplicates(entities, duplicate), events)


@settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(entities=entity_rows, events=st.lists(event_rows, max_size=25),
       corrections=st.lists(st.tuples(st.integers(0, 24), st.integers(0, 3), st.booleans(),
                                      st.none() | st.integers(-8, 8).map(lambda x: x / 4)), max_size=12),
       known=st.none() | st.integers(0, 4))
def test_as_of_counts_latest_known_versions_only(spark, entities, events, corrections, known):
    history = [{**e, WRITE_TIME: BASE, IS_DELETED: False} for e in events]
    for number, (index, late_hours, deleted, amount) in enumerate(corrections, start=1):
        if history:
            original = history[index % len(history)]
            history.append({**original, "amount": amount, IS_DELETED: deleted,
                            WRITE_TIME: BASE + timedelta(hours=late_hours, minutes=number)})
    pairs = [p for p in PAIRS if p[0].column in ("amount", None) and p[0].group_by is None]
    as_known_at = None if known is None else BASE + timedelta(hours=known)
    as_of_check(spark, with_ids_and_duplicates(entities, []), history, pairs,
                HISTORY_EVENTS, as_known_at)


def test_as_of_window_boundaries_to_the_microsecond(spark):
    ts = BASE + timedelta(hours=5)
    w = timedelta(hours=2)
    moments = [ts - w - US, ts - w, ts - w + US, ts - US, ts, ts + US]
    events = [{"k": "a", "ts": t, "amount": float(i), "qty": None, "cat": None, "flag": None}
              for i, t in enumerate(moments)]
    entities = spark.createDataFrame([(0, "a", ts, "p")], ENTITIES)
    windows = [Window("amount", "sum", "2h"), Window("amount", "min", "2h"), Window("amount", "max", "2h"),
               Window("amount", "max", None)]
    row = aggregate_as_of(entities, spark.createDataFrame(events, EVENTS), keys=["k"], event_time_column="ts",
                          windows=windows).collect()[0]
    # ts - w + 1us, ts - 1us and ts are inside (values 2, 3, 4); ts - w and ts + 1us are not.
    assert (row["sum_amount_2h"], row["min_amount_2h"], row["max_amount_2h"]) == (9.0, 2.0, 4.0)
    assert row["max_amount_unlimited"] == 4.0


def test_as_of_delete_marker_and_late_restore(spark):
    t1, t2 = BASE, BASE + timedelta(minutes=1)
    history = [  # (time, write time, amount, deleted)
        (t1, BASE, 1.0, False), (t1, BASE + timedelta(hours=1), None, True),      # deleted at 01:00
        (t1, BASE + timedelta(hours=2), 5.0, False),                              # restored at 02:00
        (t2, BASE, 2.0, False), (t2, BASE + timedelta(hours=1), None, True),      # tie: the marker wins
        (t2, BASE + timedelta(hours=1), 7.0, False)]
    events = spark.createDataFrame([("a", t, a, d, w) for t, w, a, d in history],
                                   f"k string, {EVENT_TIME} timestamp, amount double, {IS_DELETED} boolean, "
                                   f"{WRITE_TIME} timestamp")
    entities = spark.createDataFrame([("a", BASE + timedelta(days=1))], "k string, ts timestamp")
    windows = [Window("amount", "sum", "7d"), Window(None, "row_count", "7d")]

    def known_at(hours):
        moment = None if hours is None else BASE + timedelta(hours=hours)
        row = aggregate_as_of(entities, events, keys=["k"], windows=windows, as_known_at=moment).collect()[0]
        return row["sum_amount_7d"], row["row_count_7d"]

    assert known_at(0) == (3.0, 2)
    assert known_at(1) == (None, 0)
    assert known_at(None) == known_at(2) == (5.0, 1)


def test_as_of_spec_errors(spark):
    entities = spark.createDataFrame([], ENTITIES)
    events = spark.createDataFrame([], EVENTS)
    with pytest.raises(SpecError, match="as_known_at needs"):
        aggregate_as_of(entities, events, keys=["k"], event_time_column="ts", windows=WINDOWS[:1],
                        as_known_at=BASE)
    with pytest.raises(SpecError, match="clashes"):
        aggregate_as_of(entities, events, keys=["k"], event_time_column="ts",
                        windows=[Window("amount", "sum", "1h", name="label")])
    with pytest.raises(SpecError, match="events: key column"):
        aggregate_as_of(entities, events.drop("k"), keys=["k"], event_time_column="ts", windows=WINDOWS[:1])


# ---- spec validation -----------------------------------------------------------------------------

def test_window_default_names_and_sizes():
    assert Window("amount", "avg", "7d").name == "avg_amount_7d"
    assert Window("amount", "avg", timedelta(hours=36)).name == "avg_amount_36h"
    assert Window(None, "row_count", "1h").name == "row_count_1h"
    assert Window("amount", "sum", None).name == "sum_amount_unlimited"
    assert Window("amount", "sum", "1d", group_by="cat").name == "sum_amount_1d_by_cat"
    assert Window("amount", "sum", "1d", name="spend").name == "spend"
    assert Window("amount", "sum", "1d").size == timedelta(days=1)
    assert Window("x", "sum", "1d") == Window("x", "sum", "1d") and len({Window("x", "sum", "1d")} | {
        Window("x", "sum", "24h", name="sum_x_1d")}) == 1


def test_aggregation_algebra_declares_invertibility():
    assert {n for n, a in AGGREGATIONS.items() if a.invertible} == {
        "row_count", "count", "sum", "avg", "variance", "stddev", "variance_pop", "stddev_pop"}
    assert not any(AGGREGATIONS[n].invertible for n in ("min", "max", "first", "last", "approx_count_distinct"))


@pytest.mark.parametrize("kwargs, message", [
    (dict(column="amount", agg="median", size="1d"), "unknown aggregation 'median'"),
    (dict(column="amount", agg="sum", size="7 days"), "cannot parse duration"),
    (dict(column="amount", agg="sum", size="0h"), "must be positive"),
    (dict(column="amount", agg="sum", size=3), "a duration must be"),
    (dict(column=None, agg="sum", size="1d"), "needs a column"),
    (dict(column="amount", agg="sum", size="1d", where=3), "where must be"),
    (dict(column="amount", agg="sum", size="1d", name=""), "name must be"),
])
def test_window_validation_names_the_window(kwargs, message):
    with pytest.raises(SpecError, match=message) as error:
        Window(**kwargs)
    assert "window '" in str(error.value)


@pytest.mark.parametrize("windows, message", [
    ([Window("nope", "sum", "1h")], "no column 'nope'"),
    ([Window("cat", "sum", "1h")], "needs a numeric column"),
    ([Window("amount", "sum", "1h", where="cat")], "boolean condition"),
    ([Window("amount", "sum", "1h", where="nope > 1")], "cannot be evaluated"),
    ([Window("amount", "sum", "1h"), Window("qty", "sum", "1h", name="sum_amount_1h")], "two windows"),
    ([Window("amount", "sum", "1h", name="k")], "clashes"),
    ([], "at least one Window"),
])
def test_snapshot_spec_errors(spark, windows, message):
    df = spark.createDataFrame([], EVENTS)
    with pytest.raises(SpecError, match=message):
        snapshot_aggregates(df, keys=["k"], time_column="ts", windows=windows, snapshot_times=[BASE])


def test_snapshot_rejects_bad_keys_and_time(spark):
    df = spark.createDataFrame([], EVENTS)
    with pytest.raises(SpecError, match="key column"):
        snapshot_aggregates(df, keys=["nope"], time_column="ts", windows=WINDOWS[:1], snapshot_times=[BASE])
    with pytest.raises(SpecError, match="must be a timestamp"):
        snapshot_aggregates(df, keys=["k"], time_column="amount", windows=WINDOWS[:1], snapshot_times=[BASE])


# ---- numpy kernels (no Spark: many examples) ----------------------------------------------------

segments_and_ranges = st.lists(st.tuples(st.integers(0, 3), st.integers(-5, 5)), min_size=1, max_size=60)


@settings(max_examples=150, deadline=None)
@given(items=segments_and_ranges, data=st.data())
def test_kernels_match_brute_force(items, data):
    items.sort()
    seg = np.array([s for s, _ in items], dtype=np.int64)
    values = np.array([v for _, v in items], dtype=np.int64)
    n = len(items)
    ranges = data.draw(st.lists(st.tuples(st.integers(0, n), st.integers(0, n)), min_size=1, max_size=20))
    lo = np.array([min(a, b) for a, b in ranges], dtype=np.int64)
    hi = np.array([max(a, b) for a, b in ranges], dtype=np.int64)
    table = K.SparseTable(values, np.minimum, n)
    got_min = table.query(lo, hi, K.INT_MAX)
    got_distinct = K.DistinctCounter(K.previous_occurrence(np.zeros(n, np.int64), values)).count(lo, hi)
    scan = K.segmented_cumsum(values.astype(float), K.first_index_of_run(K.run_starts(seg)))
    for i, (a, b) in enumerate(zip(lo, hi)):
        assert got_min[i] == (values[a:b].min() if b > a else K.INT_MAX)
        assert got_distinct[i] == len(set(values[a:b].tolist()))
    for i in range(n):
        assert scan[i] == values[(seg == seg[i]) & (np.arange(n) <= i)].sum()
    moments = K.MomentTree(np.ones(n), values.astype(float), np.zeros(n)).query(lo, hi)
    for i, (a, b) in enumerate(zip(lo, hi)):
        part = values[a:b].astype(float)
        assert moments[0][i] == len(part)
        if len(part):
            assert math.isclose(moments[1][i], part.mean(), abs_tol=1e-9)
            assert math.isclose(moments[2][i], ((part - part.mean()) ** 2).sum(), abs_tol=1e-9)
    q_seg = np.array(data.draw(st.lists(st.integers(-1, 4), min_size=1, max_size=10)), dtype=np.int64)
    q_t = np.array(data.draw(st.lists(st.integers(-7, 7), min_size=len(q_seg), max_size=len(q_seg))))
    for side in ("left", "right"):
        expected = [sum(1 for s, v in items if (s, v) < (qs, qt) or (side == "right" and (s, v) == (qs, qt)))
                    for qs, qt in zip(q_seg, q_t)]
        assert K.search(seg, values, q_seg, q_t, side).tolist() == expected


def test_variance_stays_exact_when_values_drift_far_from_the_key_mean():
    import pyarrow as pa

    from featurestore.aggregations.plan import SourcePlan, WindowPlan, value_col
    from featurestore.aggregations.sweep import Items, Span

    rng = np.random.default_rng(5)
    n = 5000
    for x in (np.cumsum(rng.random(n) * 1e6) + rng.normal(0, 1, n), 1e9 + rng.normal(0, 1e-3, n)):
        items = Items(pa.table({value_col(0): x}), np.zeros(n, np.int64), np.arange(n, dtype=np.int64), False)
        lo = rng.integers(0, n - 12, 500)
        hi = lo + rng.integers(2, 12, 500)
        window = WindowPlan(0, "v", "variance", 1, SourcePlan(0, "float", False), "event", False, "double")
        got, _ = items.window_moments(window, Span(lo, hi))
        want = np.array([exact_sample_variance(x[a:b]) for a, b in zip(lo, hi)])
        assert np.max(np.abs(got - want) / want) < 1e-9


def exact_sample_variance(values) -> float:
    from fractions import Fraction

    exact = [Fraction(v) for v in values]
    mean = sum(exact) / len(exact)
    return float(sum((v - mean) ** 2 for v in exact) / (len(exact) - 1))


def test_population_spread_of_one_value_is_exactly_zero():
    import pyarrow as pa

    from featurestore.aggregations.plan import SourcePlan, WindowPlan, value_col
    from featurestore.aggregations.sweep import Items, Span

    x = np.array([0.1, 0.7, 1e9 + 0.3, -2.5])
    items = Items(pa.table({value_col(0): x}), np.zeros(4, np.int64), np.arange(4, dtype=np.int64), False)
    window = WindowPlan(0, "v", "stddev_pop", 1, SourcePlan(0, "float", False), "event", False, "double")
    got, valid = items.window_moments(window, Span(np.arange(4), np.arange(1, 5)))
    assert got.tolist() == [0.0] * 4 and valid.all()


# ---- sweep partitioning --------------------------------------------------------------------------

def test_sweep_partitions_grow_with_the_input_and_never_change_results(spark, tmp_path):
    from featurestore.aggregations.sizing import PARTITION_MB_CONF, sweep_partitions

    events = [{"k": "abcdefgh"[i % 8], "ts": BASE + timedelta(minutes=37 * i), "amount": float(i % 5),
               "qty": i, "cat": "x", "flag": i % 3 == 0} for i in range(60)]
    entities = [{"rid": i, "k": "abcdefgh"[i % 8], "ts": BASE + timedelta(minutes=53 * i), "label": "p"}
                for i in range(40)]
    spark.createDataFrame(events, EVENTS).write.parquet(str(tmp_path / "events"))  # files: Spark knows the size
    spark.createDataFrame(entities, ENTITIES).write.parquet(str(tmp_path / "entities"))
    event_df, entity_df = spark.read.parquet(str(tmp_path / "events")), spark.read.parquet(str(tmp_path / "entities"))
    windows = [w for w, _ in PAIRS]
    grid = [BASE + timedelta(hours=h) for h in range(0, 40, 3)]

    def results():
        as_of = aggregate_as_of(entity_df, event_df, keys=["k"], entity_time_column="ts", event_time_column="ts",
                                windows=windows)
        snapshots = snapshot_aggregates(event_df, keys=["k"], time_column="ts", windows=windows, snapshot_times=grid)
        return (sorted(map(repr, as_of.collect())), sorted(map(repr, snapshots.collect())),
                as_of.rdd.getNumPartitions())

    configured = int(spark.conf.get("spark.sql.shuffle.partitions"))
    assert sweep_partitions(event_df) == configured        # small input: the configured partitions
    as_of_rows, snapshot_rows, partitions = results()
    assert partitions == configured and as_of_rows and snapshot_rows
    spark.conf.set(PARTITION_MB_CONF, "0.0005")            # ~500 bytes per partition: many partitions
    try:
        assert sweep_partitions(event_df) > configured
        many = results()
        assert many[2] > configured and many[:2] == (as_of_rows, snapshot_rows)  # same rows, more partitions
        assert sweep_partitions(spark.createDataFrame(events, EVENTS)) == configured  # no size known
        spark.conf.set(PARTITION_MB_CONF, "zero")
        with pytest.raises(ValueError, match=PARTITION_MB_CONF):
            sweep_partitions(event_df)
    finally:
        spark.conf.unset(PARTITION_MB_CONF)
