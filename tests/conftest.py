"""Shared fixtures: one local SparkSession with Delta for the whole test session."""

from __future__ import annotations

import pytest

from featurestore.session import build_spark_session


@pytest.fixture(scope="session")
def spark():
    """The session's only SparkSession: local[2], Delta, UTC, few shuffle partitions."""
    session = build_spark_session(
        "local[2]", app_name="featurestore-tests",
        conf={"spark.sql.shuffle.partitions": "4", "spark.default.parallelism": "2",
              "spark.sql.adaptive.enabled": "false", "spark.driver.memory": "2g"},
    )
    yield session
    session.stop()
