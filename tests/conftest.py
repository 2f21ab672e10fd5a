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
