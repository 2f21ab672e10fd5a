"""Small Delta Lake helpers: commit metadata, conflict detection, recorded commit info."""

from __future__ import annotations

import json
from collections.abc import Iterator
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

_USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"
_CONFLICTS = ("ConcurrentAppendException", "ConcurrentDeleteReadException", "ConcurrentDeleteDeleteException",
              "ConcurrentTransactionException", "ConcurrentWriteException", "MetadataChangedException",
              "ProtocolChangedException", "DELTA_CONCURRENT_", "DELTA_METADATA_CHANGED", "DELTA_PROTOCOL_CHANGED",
              "FileAlreadyExistsException")


@contextmanager
def commit_metadata(spark: SparkSession, metadata: str) -> Iterator[None]:
    """Attach `metadata` to the Delta commits made inside the block (for APIs without a userMetadata option)."""
    previous = spark.conf.get(_USER_METADATA, None)
    spark.conf.set(_USER_METADATA, metadata)
    try:
        yield
    finally:
        if previous is None:
            spark.conf.unset(_USER_METADATA)
        else:
            spark.conf.set(_USER_METADATA, previous)


def is_concurrent_modification(error: BaseException) -> bool:
    """True for Delta's optimistic-concurrency conflicts, which a writer may retry."""
    text = f"{type(error).__name__}: {error}"
    return any(marker in text for marker in _CONFLICTS)


def recorded_json(spark: SparkSession, path: str, field: str, limit: int = 100) -> list[dict]:
    """The JSON userMetadata of the table's recent commits that carry `field`, newest first."""
    from featurestore.delta_compat import history

    found = []
    for (metadata,) in history(spark, path, limit).select("userMetadata").collect():
        if metadata:
            try:
                parsed = json.loads(metadata)
            except ValueError:
                continue
            if isinstance(parsed, dict) and field in parsed:
                found.append(parsed)
    return found
