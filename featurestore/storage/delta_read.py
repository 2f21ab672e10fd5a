"""Reading the store's Delta tables without Spark: delta-rs (`deltalake`) for the log, DuckDB for queries.

Spark (delta-spark) writes every table; this module only reads them, at the current or a pinned version.
Paths follow the store's layout (`featurestore.storage.layout`). Errors name the group or table and the path.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from datetime import datetime
from typing import TYPE_CHECKING, Any

from featurestore.errors import FeatureStoreError
from featurestore.storage import layout

if TYPE_CHECKING:
    import pyarrow.dataset as ds
    from deltalake import DeltaTable


class DeltaReader:
    """Delta tables under one root, read with delta-rs; `storage_options` for object storage."""

    def __init__(self, root: str, storage_options: Mapping[str, str] | None = None):
        self.root = root
        self.storage_options = dict(storage_options or {}) or None
        self._tables: dict[str, DeltaTable] = {}

    # ---- tables -------------------------------------------------------------------------------------------
    def exists(self, path: str) -> bool:
        from deltalake import DeltaTable

        try:
            return DeltaTable.is_deltatable(path, storage_options=self.storage_options)
        except Exception:  # noqa: BLE001 - unreadable location: not a table
            return False

    def table(self, path: str, what: str, version: int | None = None) -> DeltaTable:
        """The table at `path` (at `version`); FeatureStoreError naming `what` if it is absent or unreadable.

        The current version is re-read on each call (cheap: only new log entries), so lookups see new writes.
        """
        from deltalake import DeltaTable

        try:
            if version is None:
                cached = self._tables.get(path)
                if cached is not None:
                    cached.update_incremental()
                    return cached
            if not self.exists(path):
                raise FeatureStoreError(f"{what}: no Delta table at {path}; materialise it first")
            table = DeltaTable(path, version=version, storage_options=self.storage_options)
            if version is None:
                self._tables[path] = table
            return table
        except FeatureStoreError:
            raise
        except Exception as error:  # noqa: BLE001
            text = str(error).strip().splitlines()
            raise FeatureStoreError(f"{what}: cannot read the Delta table at {path} (version "
                                    f"{'latest' if version is None else version}): "
                                    f"{text[0][:300] if text else type(error).__name__}") from error

    def version(self, path: str) -> int | None:
        """Current Delta version of the table at `path`, None if there is none."""
        if not self.exists(path):
            return None
        return int(self.table(path, path).version())

    def dataset(self, path: str, what: str, version: int | None = None) -> ds.Dataset:
        """The table's rows as a pyarrow Dataset (lazy: DuckDB scans only the columns and files it needs)."""
        table = self.table(path, what, version)
        try:
            return table.to_pyarrow_dataset()
        except Exception as error:  # noqa: BLE001 - e.g. a reader feature delta-rs does not support
            raise FeatureStoreError(f"{what}: delta-rs cannot read the Delta table at {path}: {error}") from error

    def relation(self, connection: Any, path: str, what: str, version: int | None = None):
        """The table's rows as a DuckDB relation, timestamps as UTC TIMESTAMPTZ.

        A table without reader features (the store's tables: no deletion vectors, no column mapping) is read
        as the Parquet files of its snapshot (DuckDB scans only the columns it needs; no pyarrow); any other
        through delta-rs's pyarrow dataset, which applies them.
        """
        table = self.table(path, what, version)
        protocol = table.protocol()
        files = table.file_uris()
        if protocol.min_reader_version == 1 and not protocol.reader_features and files \
                and self.storage_options is None:
            relation = connection.read_parquet([_local(f) for f in files], union_by_name=True)
        else:
            relation = connection.from_arrow(self.dataset(path, what, version))
        return utc_relation(relation)

    def history(self, connection: Any, group: str, version: int | None = None):
        return self.relation(connection, layout.history_path(self.root, group), f"feature group {group!r}", version)

    def latest(self, connection: Any, group: str, version: int | None = None):
        return self.relation(connection, layout.latest_path(self.root, group), f"feature group {group!r}", version)

    def source(self, connection: Any, name: str, version: int | None = None):
        return self.relation(connection, layout.source_path(self.root, name), f"source {name!r}", version)

    def write_times(self, path: str, what: str, version: int | None = None) -> tuple[datetime | None, datetime | None]:
        """(first, last) write_time of the store's commits that added rows, up to `version`, from the Delta log
        (each write's commit records its write_time); (None, None) if no commit says."""
        from featurestore.times import to_utc

        stamps = []
        for commit in self.table(path, what).history():
            if version is not None and int(commit.get("version", -1)) > version:
                continue
            metrics = commit.get("operationMetrics") or {}
            added = int(metrics.get("numTargetRowsInserted", metrics.get("numOutputRows", 0)) or 0)
            try:
                recorded = json.loads(commit.get("userMetadata") or "{}")
            except ValueError:
                continue
            if added and isinstance(recorded, dict) and recorded.get("write_time"):
                stamps.append(to_utc(recorded["write_time"], what))
        return (min(stamps), max(stamps)) if stamps else (None, None)

    def newest_partition_files(self, path: str, what: str, column: str, version: int | None = None) -> list[str]:
        """The data files of the greatest value of partition column `column` (all files if not partitioned)."""
        table = self.table(path, what, version)
        if column not in table.metadata().partition_columns:
            return [_local(f) for f in table.file_uris()]
        values = [p[column] for p in table.partitions() if p.get(column) is not None]
        if not values:
            return []
        return [_local(f) for f in table.file_uris(partition_filters=[(column, "=", max(values))])]

    def commit_metadata(self, path: str, what: str, version: int | None = None) -> dict | None:
        """The JSON userMetadata of the commit at `version` (default: the newest commit that has one)."""
        for commit in self.table(path, what).history():
            if version is not None and int(commit.get("version", -1)) != version:
                continue
            text = commit.get("userMetadata")
            if text:
                try:
                    return json.loads(text)
                except ValueError:
                    return None
            if version is not None:
                return None
        return None


def query(connection: Any, sql: str, **relations: Any) -> list[tuple]:
    """Run `sql` in DuckDB with each keyword (a DuckDB relation) visible as a view of that name."""
    for name, relation in relations.items():
        relation.create_view(name, replace=True)
    return connection.execute(sql).fetchall()


def _local(uri: str) -> str:
    return uri[len("file://"):] if uri.startswith("file://") else uri


def utc_relation(relation: Any):
    """`relation` with every naive TIMESTAMP column (Spark's Parquet INT96 is UTC) as TIMESTAMPTZ."""
    if not any(str(t) in ("TIMESTAMP", "TIMESTAMP_NS") for t in relation.types):
        return relation
    columns = []
    for name, kind in zip(relation.columns, map(str, relation.types)):
        quoted = '"' + name.replace('"', '""') + '"'
        columns.append(f"timezone('UTC', {quoted}) AS {quoted}" if kind in ("TIMESTAMP", "TIMESTAMP_NS")
                       else quoted)
    return relation.project(", ".join(columns))


def connect():
    """A DuckDB connection whose session time zone is UTC (timestamps print and convert as UTC)."""
    import duckdb

    connection = duckdb.connect()
    connection.execute("SET TimeZone = 'UTC'").fetchall()
    return connection


def utc(moment: datetime | None) -> datetime | None:
    """A timestamp DuckDB returned (aware or naive-UTC) as an aware UTC datetime."""
    from featurestore.times import to_utc_or_none

    return to_utc_or_none(moment, "timestamp")
