"""quality.expectations (build-time validation) and quality.gx_runner (GX 1.x on pyspark 4.1)."""

from __future__ import annotations

from datetime import datetime, timedelta, timezone

import pytest
from pyspark.sql import functions as F

from featurestore.columns import EVENT_TIME, IS_DELETED, WRITE_TIME
from featurestore.errors import SpecError
from featurestore.spec import Feature, FeatureGroupSpec, Key
from quality import Severity
from quality.expectations import (between, default_suite, expectation, in_set, not_null, row_count_between,
                                  unique_together)
from quality.gx_runner import run_suite

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
WRITTEN = T0 + timedelta(days=1)
SCHEMA = (f"customer_id string, {EVENT_TIME} timestamp, {WRITE_TIME} timestamp, {IS_DELETED} boolean, "
          "amount double, channel string, orders long")


def orders_spec(**overrides) -> FeatureGroupSpec:
    fields = dict(name="orders", description="order features", owner="data",
                  keys=(Key("customer_id"),),
                  features=(Feature("amount", "double"), Feature("channel", "string"), Feature("orders", "long")),
                  transform=lambda inputs: None, sources=("orders_raw",), grain="daily", start="2026-01-01")
    return FeatureGroupSpec(**{**fields, **overrides})


EXTRAS = (between("amount", 0, 1000), in_set("channel", ["web", "app"], severity=Severity.WARN),
          row_count_between(min_rows=20, max_rows=10_000))


def clean_rows(n: int = 40) -> list[tuple]:
    return [(f"c{i}", T0 + timedelta(minutes=i), WRITTEN, False, float(i * 10), "web" if i % 2 else "app", i)
            for i in range(n)]


# ---- build time ----------------------------------------------------------------------------------------

def test_default_suite_derives_structural_checks_from_the_spec():
    suite = default_suite(orders_spec(), EXTRAS)
    names = [c.name for c in suite]
    assert names[:1] == ["columns"]
    assert {f"type:{c}" for c in ["customer_id", EVENT_TIME, WRITE_TIME, IS_DELETED, "amount", "channel",
                                  "orders"]} <= set(names)
    assert {"not_null:customer_id", f"not_null:{EVENT_TIME}",
            f"unique:customer_id,{EVENT_TIME},{WRITE_TIME}"} <= set(names)
    assert names[-3:] == ["between:amount", "in_set:channel", "row_count"]
    severities = {c.name: c.severity for c in suite}
    assert severities["unique:customer_id,event_time,write_time"] is Severity.ERROR
    assert severities["in_set:channel"] is Severity.WARN
    type_of = {c.name: c.kwargs.get("type_") for c in suite}
    assert type_of["type:amount"] == "DoubleType" and type_of[f"type:{EVENT_TIME}"] == "TimestampType"


def test_structural_severity_and_system_columns_are_configurable():
    suite = default_suite(orders_spec(), system_columns=False, severity=Severity.WARN)
    assert all(c.severity is Severity.WARN for c in suite)
    assert f"unique:customer_id,{EVENT_TIME}" in [c.name for c in suite]
    assert not any(WRITE_TIME in c.columns for c in suite)
    assert between("amount", 0, 1).with_severity("WARN").severity is Severity.WARN


def test_unknown_column_is_a_spec_error_naming_group_and_column():
    with pytest.raises(SpecError, match=r"'orders'.*'amount_usd'"):
        default_suite(orders_spec(), [between("amount_usd", 0, 10)])
    with pytest.raises(SpecError, match=r"'orders'.*'nope'"):
        default_suite(orders_spec(), [unique_together(["customer_id", "nope"])])
    with pytest.raises(SpecError, match="stored as 'event_time'"):
        default_suite(orders_spec(event_time_column="ts"), [not_null("ts")])


def test_incompatible_declarations_and_bad_arguments_fail_at_build_time():
    with pytest.raises(SpecError, match="'channel' is string"):
        default_suite(orders_spec(), [between("channel", 0, 1)])
    with pytest.raises(SpecError, match="do not fit column 'amount'"):
        default_suite(orders_spec(), [in_set("amount", ["a"])])
    with pytest.raises(SpecError, match="named 'between:amount'"):
        default_suite(orders_spec(), [between("amount", 0, 1), between("amount", 0, 2)])
    with pytest.raises(SpecError):
        between("amount")
    with pytest.raises(SpecError):
        between("amount", 5, 1)
    with pytest.raises(SpecError):
        not_null("amount", mostly=1.5)
    with pytest.raises(SpecError):
        row_count_between(10, 1)
    with pytest.raises(SpecError):
        in_set("channel", [])


# ---- run time (GX on Spark) ----------------------------------------------------------------------------

def test_clean_data_passes_every_check_and_leaves_nothing_cached(spark):
    df = spark.createDataFrame(clean_rows(), SCHEMA)
    # same GX expectation as not_null:customer_id under another name: GX must not merge the two
    twin = expectation("ExpectColumnValuesToNotBeNull", name="customer_id_present", columns=["customer_id"],
                       column="customer_id", severity=Severity.WARN)
    suite = default_suite(orders_spec(), EXTRAS + (twin,))
    outcomes = run_suite(df, "orders", suite)
    assert [o.name for o in outcomes] == [c.name for c in suite]
    failed = [o.summary() for o in outcomes if not o.passed]
    assert failed == []
    assert all(o.error is None for o in outcomes)
    by_name = {o.name: o for o in outcomes}
    assert by_name["row_count"].observed == 40
    assert by_name["in_set:channel"].severity is Severity.WARN
    assert by_name["customer_id_present"].passed and by_name["customer_id_present"].severity is Severity.WARN
    assert not df.is_cached


def test_each_check_fails_on_its_injected_fault(spark):
    faults = [
        (None, T0, WRITTEN, False, 1.0, "web", 1),                                   # null key
        ("c1", T0 + timedelta(minutes=1), WRITTEN, False, 10.0, "web", 1),           # duplicate of c1
        ("c97", T0, WRITTEN, False, 5000.0, "app", 1),                               # out of range
        ("c98", T0, WRITTEN, False, 1.0, "fax", 1),                                  # not an allowed value
    ]
    df = spark.createDataFrame(clean_rows(6) + faults, SCHEMA)                       # 10 rows < 20
    outcomes = {o.name: o for o in run_suite(df, "orders", default_suite(orders_spec(), EXTRAS))}
    failed = {name for name, o in outcomes.items() if not o.passed}
    assert failed == {"not_null:customer_id", f"unique:customer_id,{EVENT_TIME},{WRITE_TIME}",
                      "between:amount", "in_set:channel", "row_count"}
    assert all(o.error is None for o in outcomes.values())
    assert outcomes["between:amount"].unexpected_sample == (5000.0,)
    assert outcomes["in_set:channel"].unexpected_sample == ("fax",)
    assert outcomes["in_set:channel"].severity is Severity.WARN and not outcomes["in_set:channel"].blocking
    assert outcomes["not_null:customer_id"].unexpected_count == 1 and outcomes["not_null:customer_id"].blocking
    assert {r["customer_id"] for r in outcomes[f"unique:customer_id,{EVENT_TIME},{WRITE_TIME}"].unexpected_sample} \
        == {"c1"}
    assert outcomes["row_count"].observed == 10
    assert outcomes["row_count"].expected == {"min_value": 20, "max_value": 10_000}


def test_expectations_that_error_inside_gx_are_failed_with_the_error(spark):
    # `orders` is missing and `amount` arrives as a string: the spec-derived checks meet other data.
    df = (spark.createDataFrame(clean_rows(30), SCHEMA).drop("orders")
          .withColumn("amount", F.col("amount").cast("string")))
    suite = default_suite(orders_spec(), [between("amount", 0, 1000)]) + [
        # built without a spec, so build-time checks cannot catch them:
        expectation("ExpectColumnValuesToBeInSet", name="set:orders", columns=["orders"], column="orders",
                    value_set=[1, 2]),
        expectation("ExpectColumnValuesToBeInSet", name="ansi:amount", columns=["amount"],
                    column="customer_id", value_set=[1.5, 2.5]),
        expectation("ExpectNoSuchThing", name="unknown_type"),
    ]
    outcomes = {o.name: o for o in run_suite(df, "orders", suite)}
    for name, fragment in [("type:orders", "missing from the data"), ("set:orders", "does not exist"),
                           ("between:amount", "StringType"), ("ansi:amount", "CAST_INVALID_INPUT"),
                           ("unknown_type", "no expectation 'ExpectNoSuchThing'")]:
        outcome = outcomes[name]
        assert not outcome.passed and outcome.errored, name
        assert fragment in outcome.error, (name, outcome.error)
        assert "errored" in outcome.summary()
    assert not outcomes["columns"].passed and outcomes["columns"].error is None
    assert "missing: orders" in outcomes["columns"].unexpected_sample
    assert not outcomes["type:amount"].passed and outcomes["type:amount"].observed == "StringType"
    assert outcomes["type:customer_id"].passed and outcomes["not_null:customer_id"].passed


def test_duplicate_names_are_refused_and_an_empty_suite_runs_nothing(spark):
    df = spark.createDataFrame(clean_rows(3), SCHEMA)
    with pytest.raises(SpecError, match="more than once"):
        run_suite(df, "orders", [between("amount", 0, 1), between("amount", 0, 2)])
    assert run_suite(df, "orders", []) == []
