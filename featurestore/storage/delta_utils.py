"""Small Delta Lake helpers: per-operation commit metadata, conflict detection, recorded commit info, and
failures described by their root cause."""

from __future__ import annotations

import json
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import SparkSession

USER_METADATA = "spark.databricks.delta.commitInfo.userMetadata"
_CONFLICTS = ("ConcurrentAppendException", "ConcurrentDeleteReadException", "ConcurrentDeleteDeleteException",
              "ConcurrentTransactionException", "ConcurrentWriteException", "MetadataChangedException",
              "ProtocolChangedException", "DELTA_CONCURRENT_", "DELTA_METADATA_CHANGED", "DELTA_PROTOCOL_CHANGED",
              "FileAlreadyExistsException",
              "CommitFailedError")  # delta-rs (featurestore.storage.delta_log): a lost commit race


def operation_session(spark: SparkSession, metadata: str | None = None,
                      conf: Mapping[str, str] | None = None) -> SparkSession:
    """A child session (same SparkContext, caches and Delta extension; its own SQL conf) whose Delta commits
    carry `metadata`, with the SQL settings `conf` for this operation only.

    Delta's MERGE has no per-operation userMetadata option; setting the session-wide conf would leak the
    metadata into commits made by other threads at the same time. A child session's conf is private to the
    operation, so concurrent writes from threads of one process never see each other's metadata. A Spark
    Connect client has no child sessions: there the metadata is set on the session for the operation and
    `conf` is not applied (it would change the shared session).
    """
    from featurestore.session import is_connect_session

    if is_connect_session(spark):
        if metadata is not None:
            spark.conf.set(USER_METADATA, metadata)
        return spark
    child = spark.newSession()
    for key, value in (conf or {}).items():
        child.conf.set(key, value)
    if metadata is not None:
        child.conf.set(USER_METADATA, metadata)
    return child


@contextmanager
def commit_metadata(session: SparkSession, metadata: str,
                    conf: Mapping[str, str] | None = None) -> Iterator[SparkSession]:
    """Delta commits made on `session` (an operation session) inside the block carry `metadata`; `conf`:
    SQL settings for the block only (not applied on Spark Connect, whose session is shared)."""
    from featurestore.session import is_connect_session

    extra = {} if is_connect_session(session) else dict(conf or {})
    for key, value in {**extra, USER_METADATA: metadata}.items():
        session.conf.set(key, value)
    try:
        yield session
    finally:
        for key in [*extra, USER_METADATA]:
            session.conf.unset(key)


def is_concurrent_modification(error: BaseException) -> bool:
    """True for Delta's optimistic-concurrency conflicts, which a writer may retry."""
    text = f"{type(error).__name__}: {error}"
    return any(marker in text for marker in _CONFLICTS)


def root_cause(error: BaseException) -> str:
    """The innermost cause of a (possibly Java) failure, as 'ExceptionClass: message', one line, bounded."""
    java = getattr(error, "java_exception", None) or getattr(error, "_origin", None)
    text = ""
    if java is not None:
        try:
            cause, seen = java, 0
            while cause.getCause() is not None and seen < 20:
                cause, seen = cause.getCause(), seen + 1
            text = f"{cause.getClass().getName()}: {cause.getMessage()}"
        except Exception:  # noqa: BLE001 - a dead gateway: fall back to the Python text
            text = ""
    if not text:
        inner: BaseException = error
        while inner.__cause__ is not None and inner.__cause__ is not inner:
            inner = inner.__cause__
        message = str(inner).strip()
        text = f"{type(inner).__name__}: {message}" if message else type(inner).__name__
    first = " ".join(text.split())
    return first[:500]


def recorded_json(spark: SparkSession, path: str, field: str, limit: int = 100) -> list[dict]:
    """The JSON userMetadata of the table's recent commits that carry `field`, newest first."""
    from featurestore.storage.delta_compat import history

    rows = history(spark, path, limit).select("userMetadata").collect()
    return [parsed for parsed in (parse_metadata(m) for (m,) in rows) if field in parsed]


def parse_metadata(metadata: str | None) -> dict:
    """A commit's userMetadata as a dict ({} if absent or not a JSON object)."""
    if not metadata:
        return {}
    try:
        parsed = json.loads(metadata)
    except ValueError:
        return {}
    return parsed if isinstance(parsed, dict) else {}
