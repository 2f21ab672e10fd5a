"""The Delta log of a table on this machine's filesystem, read with delta-rs: what a small write asks of the log
(version, last commits' metadata, schema) and the latest table's small MERGE, without a Spark job.

Spark answers the same questions with a job each (`DESCRIBE HISTORY` replays the commits as a Dataset, a MERGE
rebuilds the snapshot and scans for matches), 0.3-0.5 s apiece on a warm `local[2]` session. Both engines
follow the Delta protocol on the same log: a commit is an atomic create of the next `_delta_log/N.json` (a
rename that never replaces, in delta-spark's HDFSLogStore and in delta-rs alike), so their commits interleave
safely and a lost race is a retryable conflict on either side.

Used only where delta-rs sees the same files as Spark: a classic session (a Spark Connect server may resolve a
path on another machine) and a table on the local filesystem (on object storage delta-rs would need its own
commit lock for S3; Spark's path stays there). `usable` says which; everything else keeps delta-spark.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING

from featurestore.session import is_connect_session
from featurestore.settings import is_remote_root, local_path

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import SparkSession
    from pyspark.sql.types import StructType


def usable(spark: SparkSession, path: str) -> bool:
    """True when delta-rs reads the files Spark reads for `path`: a classic session and a local table (the
    settings' rule for local roots)."""
    return not is_remote_root(path) and not is_connect_session(spark)


def _local(path: str) -> str:
    return str(local_path(path))


@dataclass(frozen=True)
class LogView:
    """A table's version, its last commits (version, userMetadata; newest first) and its schema."""

    version: int
    commits: list[tuple[int, str | None]]
    schema_json: str

    def schema(self) -> StructType:
        """The table's schema as Spark's StructType (Delta's schema JSON is Spark's)."""
        from pyspark.sql.types import StructType

        return StructType.fromJson(json.loads(self.schema_json))


def read(path: str, limit: int | None) -> LogView | None:
    """The log of the table at `path` (its last `limit` commits; None: all), None if there is no table.

    Only the log is read: a checkpoint and the commits after it.
    """
    from deltalake import DeltaTable

    location = _local(path)
    if not DeltaTable.is_deltatable(location):
        return None
    table = DeltaTable(location)
    commits = sorted(((int(c["version"]), c.get("userMetadata")) for c in table.history(limit)), reverse=True)
    return LogView(int(table.version()), commits, table.schema().to_json())


def merge(path: str, source: pa.Table, on: str, *, update_when: str, metadata: Mapping[str, object]) -> None:
    """MERGE `source` (alias `s`) into the table at `path` (alias `t`): matched rows for which `update_when`
    holds are replaced, unmatched ones inserted; new columns are added; one commit carrying `metadata` as its
    userMetadata (as delta-spark records it), an empty one when no row changed (delta-rs commits nothing for a
    MERGE that changes no file; the metadata must still be recorded). A lost race raises deltalake's
    CommitFailedError (retryable)."""
    from deltalake import CommitProperties, DeltaTable

    table = DeltaTable(_local(path))
    properties = CommitProperties(custom_metadata={"userMetadata": json.dumps(dict(metadata))})
    metrics = (table.merge(source, predicate=on, source_alias="s", target_alias="t", merge_schema=True,
                           commit_properties=properties)
               .when_matched_update_all(predicate=update_when).when_not_matched_insert_all().execute())
    if not metrics.get("num_target_files_added") and not metrics.get("num_target_files_removed"):
        table.create_write_transaction([], mode="append", schema=table.schema(),
                                       partition_by=table.metadata().partition_columns,
                                       commit_properties=properties)
