"""Event-id windows: versions of raw events resolved per event id, equal-time ties broken by id.

Both rules (per event id, and the default per (key, event_time)) are checked against the reference in
tests/oracles/aggregation_reference.py on the same generated histories, including corrections that move
an event's time or key, and deletes.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from featurestore.aggregations import Window, aggregate_as_of, snapshot_aggregates
from featurestore.columns import IS_DELETED, WRITE_TIME
from featurestore.errors import SpecError
from tests.oracles.aggregation_reference import RefWindow, as_of_reference, snapshot_reference
from tests.test_aggregations import (BASE, ENTITIES, HALF_HOUR, US, assert_snapshots_match, collect, same,
                                     snapshot_grids)

SCHEMA = (f"k string, ts timestamp, amount double, eid string, {WRITE_TIME} timestamp, "
          f"{IS_DELETED} boolean")
FEW = settings(max_examples=5, deadline=None, suppress_health_check=[HealthCheck.too_slow])
PAIRS = [(Window(c, a, s), RefWindow(Window(c, a, s).name, a, c, Window(c, a, s).size))
         for c, a in (("amount", "sum"), ("amount", "first"), ("amount", "last"), ("amount", "min"),
                      (None, "row_count")) for s in ("1h", "90m", None)]
WINDOWS, REFERENCE = [w for w, _ in PAIRS], [r for _, r in PAIRS]

# times on a coarse grid so that equal-time events (ties) are common
coarse_times = st.builds(lambda i, d: BASE + i * HALF_HOUR + d * US, st.integers(-2, 10), st.sampled_from([0, 0, 1]))
originals = st.lists(st.fixed_dictionaries({
    "k": st.sampled_from(["a", "b"]), "ts": coarse_times,
    "amount": st.none() | st.integers(-8, 8).map(lambda x: x / 4)}), max_size=14)
# (which event, new time or None, new key or None, delete?, new amount, hours late)
corrections = st.lists(st.tuples(st.integers(0, 13), st.none() | coarse_times, st.none() | st.sampled_from("ab"),
                                 st.booleans(), st.none() | st.integers(-8, 8).map(lambda x: x / 4),
                                 st.integers(0, 3)), max_size=10)


def history(events: list[dict], changes: list[tuple]) -> list[dict]:
    """Versions: each original once (write time BASE + i µs), then corrections of earlier versions by id."""
    # distinct write times (as the store stamps them): equal (key, time, write_time) would be ambiguous
    rows = [{**e, "eid": f"e{i:02d}", WRITE_TIME: BASE + i * US, IS_DELETED: False} for i, e in enumerate(events)]
    for number, (index, moved_to, new_key, deleted, amount, late) in enumerate(changes, start=1):
        if not events:
            break
        latest = [r for r in rows if r["eid"] == f"e{index % len(events):02d}"][-1]
        rows.append({**latest, "ts": moved_to or latest["ts"], "k": new_key or latest["k"], "amount": amount,
                     IS_DELETED: deleted, WRITE_TIME: BASE + timedelta(hours=late, minutes=number)})
    return rows


def snapshot_matches(spark, rows, grid, event_id, pre_aggregate=False):
    df = spark.createDataFrame(rows, SCHEMA)
    result = snapshot_aggregates(df, keys=["k"], time_column="ts", windows=WINDOWS, snapshot_times=grid,
                                 pre_aggregate=pre_aggregate, event_id_column=event_id)
    expected = snapshot_reference(rows, ["k"], "ts", REFERENCE, grid, event_id=event_id)
    assert_snapshots_match(collect(result, ["k"]), expected, ["k"], REFERENCE)


def as_of_matches(spark, entities, rows, event_id, as_known_at=None):
    entities = [dict(e, rid=i, label="p") for i, e in enumerate(entities)]
    result = aggregate_as_of(spark.createDataFrame(entities, ENTITIES), spark.createDataFrame(rows, SCHEMA),
                             keys=["k"], entity_time_column="ts", event_time_column="ts", windows=WINDOWS,
                             as_known_at=as_known_at, event_id_column=event_id)
    actual = sorted((r.asDict() for r in result.collect()), key=lambda r: r["rid"])
    expected = as_of_reference(entities, rows, ["k"], "ts", "ts", REFERENCE, as_known_at, event_id)
    assert len(actual) == len(expected)
    for got, want in zip(actual, expected):
        for w in REFERENCE:
            assert same(got[w.name], want[w.name]), (want["rid"], w.name, got[w.name], want[w.name])


@FEW
@given(events=originals, changes=corrections, grid=snapshot_grids(), pre_aggregate=st.booleans(),
       by_id=st.booleans())
def test_snapshot_versions_match_the_reference_under_both_rules(spark, events, changes, grid, pre_aggregate, by_id):
    snapshot_matches(spark, history(events, changes), grid, "eid" if by_id else None, pre_aggregate)


@FEW
@given(events=originals, changes=corrections, by_id=st.booleans(), known=st.none() | st.integers(0, 3),
       entities=st.lists(st.fixed_dictionaries({"k": st.sampled_from("ab"), "ts": coarse_times}),
                         min_size=1, max_size=12))
def test_as_of_versions_match_the_reference_under_both_rules(spark, events, changes, by_id, known, entities):
    as_known_at = None if known is None else BASE + timedelta(hours=known, minutes=30)
    as_of_matches(spark, entities, history(events, changes), "eid" if by_id else None, as_known_at)


TODAY = datetime(2026, 3, 2, tzinfo=BASE.tzinfo)


def moved_corrections() -> list[dict]:
    """Two events yesterday evening, both corrected later to another time (still within the last day)."""
    evening = TODAY - timedelta(hours=3)

    def row(eid, t, amount, written):
        return {"k": "a", "ts": t, "amount": amount, "eid": eid, WRITE_TIME: written, IS_DELETED: False}
    return [row("tx1", evening, 1.0, evening), row("tx2", evening + timedelta(minutes=5), 2.0, evening),
            row("tx1", evening - timedelta(hours=1), 1.0, TODAY - timedelta(hours=1)),
            row("tx2", evening + timedelta(minutes=30), 2.5, TODAY - timedelta(hours=1))]


def test_a_correction_that_moves_an_event_replaces_it(spark):
    rows = moved_corrections()
    df = spark.createDataFrame(rows, SCHEMA)
    windows = [Window(None, "row_count", "1d"), Window("amount", "sum", "1d")]

    def counted(event_id):
        out = snapshot_aggregates(df, keys=["k"], time_column="ts", windows=windows, snapshot_times=[TODAY],
                                  event_id_column=event_id).first()
        return out["row_count_1d"], out["sum_amount_1d"]

    assert counted(None) == (4, 6.5)       # the default rule: a moved event is a second event
    assert counted("eid") == (2, 3.5)      # per event id: the moved versions replace the originals


def test_a_delete_removes_the_event_wherever_its_latest_version_was(spark):
    rows = moved_corrections() + [{"k": "a", "ts": None, "amount": None, "eid": "tx2",
                                   WRITE_TIME: TODAY - timedelta(minutes=1), IS_DELETED: True}]
    events = spark.createDataFrame(rows, SCHEMA)
    entity = spark.createDataFrame([("a", TODAY)], "k string, ts timestamp")
    windows = [Window(None, "row_count", "1d"), Window("amount", "sum", "1d")]
    out = aggregate_as_of(entity, events, keys=["k"], event_time_column="ts", windows=windows,
                          event_id_column="eid").first()
    assert (out["row_count_1d"], out["sum_amount_1d"]) == (1, 1.0)
    before = aggregate_as_of(entity, events, keys=["k"], event_time_column="ts", windows=windows,
                             event_id_column="eid", as_known_at=TODAY - timedelta(minutes=30)).first()
    assert (before["row_count_1d"], before["sum_amount_1d"]) == (2, 3.5)


def test_equal_time_ties_are_broken_by_event_id(spark):
    t = TODAY - timedelta(hours=1)
    df = spark.createDataFrame([("a", t, 5.0, "b"), ("a", t, 9.0, "a"), ("a", t, 1.0, "c")],
                               "k string, ts timestamp, amount double, eid string")
    windows = [Window("amount", "first", "1d"), Window("amount", "last", "1d")]
    by_id = snapshot_aggregates(df, keys=["k"], time_column="ts", windows=windows, snapshot_times=[TODAY],
                                event_id_column="eid").first()
    assert (by_id["first_amount_1d"], by_id["last_amount_1d"]) == (9.0, 1.0)   # ids a .. c
    by_value = snapshot_aggregates(df, keys=["k"], time_column="ts", windows=windows,
                                   snapshot_times=[TODAY]).first()
    assert (by_value["first_amount_1d"], by_value["last_amount_1d"]) == (1.0, 9.0)  # smallest / greatest


def test_duplicate_or_null_event_ids_are_refused_naming_the_column(spark):
    t = TODAY - timedelta(hours=1)
    plain = "k string, ts timestamp, amount double, eid string"
    windows = [Window(None, "row_count", "1d")]
    duplicate = spark.createDataFrame([("a", t, 1.0, "x"), ("a", t + US, 2.0, "x")], plain)
    with pytest.raises(Exception, match="event id 'eid' = x occurs more than once"):
        snapshot_aggregates(duplicate, keys=["k"], time_column="ts", windows=windows, snapshot_times=[TODAY],
                            event_id_column="eid").collect()
    null = spark.createDataFrame([("a", t, 1.0, None)], plain)
    with pytest.raises(Exception, match="null event id"):
        snapshot_aggregates(null, keys=["k"], time_column="ts", windows=windows, snapshot_times=[TODAY],
                            event_id_column="eid").collect()
    with pytest.raises(SpecError, match="no event-id column 'tx'"):
        snapshot_aggregates(null, keys=["k"], time_column="ts", windows=windows, snapshot_times=[TODAY],
                            event_id_column="tx")
    with pytest.raises(SpecError, match="must be a string, integer"):
        snapshot_aggregates(null, keys=["k"], time_column="ts", windows=windows, snapshot_times=[TODAY],
                            event_id_column="amount")


def test_a_windowed_group_over_a_source_with_event_ids_sees_versions_moved_out_of_its_range(spark, tmp_path):
    from featurestore.offline.materialize import transform_input
    from featurestore.offline.store import OfflineStore
    from featurestore.registry import Registry
    from featurestore.spec import FeatureGroupSpec, Key, SourceSpec

    day = datetime(2026, 3, 1, tzinfo=BASE.tzinfo)

    def declared(event_id):
        source = SourceSpec(name="tx", description="card transactions", event_time_column="ts", start="2026-03-01",
                            load=lambda spark, start, end: None, event_id_column=event_id)
        group = FeatureGroupSpec(name="acct", description="", owner="o", keys=(Key("k"),), sources=("tx",),
                                 windows=(Window(None, "row_count", "1d"),), grain="daily", start="2026-03-01",
                                 source_time_column="ts")
        return source, group, Registry(sources={"tx": source}, groups={"acct": group}, training_sets={})

    def row(eid, t, written, deleted=False):
        return {"k": "a", "ts": t, "amount": 1.0, "eid": eid, WRITE_TIME: written, IS_DELETED: deleted}
    evening = day + timedelta(hours=20)
    minute = timedelta(minutes=1)
    rows = [row("tx1", evening, evening), row("tx2", evening + minute, evening),
            row("tx1", day + timedelta(days=2, hours=1), day + timedelta(days=2, hours=2)),  # moved two days on
            row("tx3", evening + 2 * minute, evening), row("tx3", None, day + timedelta(days=1), deleted=True)]
    store = OfflineStore(spark, str(tmp_path / "store"))
    source, group, registry = declared("eid")
    store.write_source(source, spark.createDataFrame(rows, SCHEMA), day, day + timedelta(days=3))
    snapshot = day + timedelta(days=1)

    def counted(registry):
        out = group.transform(transform_input(store, group, registry, day, snapshot)).collect()
        return [(r["k"], r["row_count_1d"]) for r in out]

    assert counted(registry) == [("a", 1)]           # tx2 only: tx1 moved away, tx3 deleted
    assert counted(declared(None)[2]) == [("a", 3)]  # per (key, time): the old tx1 and tx3 versions count
