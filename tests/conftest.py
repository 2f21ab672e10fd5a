"""Shared fixtures: one local SparkSession with Delta for the whole test session.

Time-zone matrix: `FEATURESTORE_TEST_SESSION_TZ` (e.g. `Asia/Kolkata`) switches the session's SQL time zone
after it is built, as a user's notebook might; run with `TZ=America/New_York` for a machine in another zone
(`make test` runs the `tz`-marked tests that way too). Results must not change.
"""

from __future__ import annotations

import os

import pytest

from featurestore.session import SESSION_TIME_ZONE, build_spark_session

SESSION_ZONE = os.environ.get("FEATURESTORE_TEST_SESSION_TZ", "UTC")


@pytest.fixture(scope="session")
def spark():
    """The session's only SparkSession: local[2], Delta, few shuffle partitions; UTC unless the matrix says."""
    session = build_spark_session(
        "local[2]", app_name="featurestore-tests",
        conf={"spark.sql.shuffle.partitions": "4", "spark.default.parallelism": "2",
              "spark.sql.adaptive.enabled": "false", "spark.driver.memory": "2g"},
    )
    session.conf.set(SESSION_TIME_ZONE, SESSION_ZONE)
    yield session
    session.stop()


# The time-zone matrix's lean selection beyond the tests marked `tz` in place: store, PIT, aggregation, quality
# and training-set tests whose results depend on dates and times (node-id prefixes; see the Makefile's `test`).
TZ_MATRIX = (
    "tests/test_store.py::",
    "tests/test_reliability.py::test_naive_timestamps_are_utc_and_offsets_are_converted",
    "tests/test_reliability.py::test_event_time_beyond_future_tolerance_is_refused",
    "tests/test_reliability.py::test_rerun_is_idempotent_and_a_correction_adds_only_changed_rows",
    "tests/test_pit_engine.py::test_equal_time_is_visible_and_later_is_not",
    "tests/test_pit_engine.py::test_ttl_is_inclusive_and_one_microsecond_past_is_null",
    "tests/test_pit_engine.py::test_as_known_at_ignores_later_writes",
    "tests/test_pit_engine.py::test_delete_then_reinsert",
    "tests/test_aggregations.py::test_snapshot_window_boundaries_to_the_microsecond",
    "tests/test_aggregations.py::test_as_of_window_boundaries_to_the_microsecond",
    "tests/test_aggregations.py::test_as_of_delete_marker_and_late_restore",
    "tests/test_quality_expectations.py::test_clean_data_passes_every_check_and_leaves_nothing_cached",
    "tests/test_quality_expectations.py::test_each_check_fails_on_its_injected_fault",
    "tests/test_training_set.py::test_matches_reference_with_corrections_and_deletes",
)


def pytest_collection_modifyitems(config, items):
    for item in items:
        if item.nodeid.startswith(TZ_MATRIX):
            item.add_marker(pytest.mark.tz)


@pytest.fixture(scope="session")
def example_reference(spark, tmp_path_factory):
    """The example's local reference run for the remote-run tests (cluster, S3, Spark Connect), made once."""
    from tests.example_runs import LocalReference

    return LocalReference(spark, tmp_path_factory.mktemp("example_local") / "store")
