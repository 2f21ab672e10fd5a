"""The few Delta table operations the store needs, on a classic session and through Spark Connect.

Classic sessions use the `delta.tables.DeltaTable` API. A Spark Connect client has no JVM, and `DeltaTable` on
Connect needs Delta's Connect server plugin (`delta-connect-server`), which Maven Central does not serve for
Delta 4.3 on Spark 4.1; so on Connect the same operations are Delta SQL statements (`DESCRIBE HISTORY`,
`DESCRIBE DETAIL`, `MERGE WITH SCHEMA EVOLUTION INTO delta.\\`path\\``), which any Connect server with the Delta
session extension runs.
"""

from __future__ import annotations

import uuid
from typing import TYPE_CHECKING

from featurestore.session import is_connect_session

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

_NOT_A_TABLE = ("DELTA_MISSING_DELTA_TABLE", "DELTA_PATH_DOES_NOT_EXIST", "PATH_NOT_FOUND", "is not a Delta table")


def _table(path: str) -> str:
    return "delta.`" + path.replace("`", "``") + "`"


def is_delta_table(spark: SparkSession, path: str) -> bool:
    """True if `path` holds a Delta table (False for a missing folder or one without a Delta log)."""
    if not is_connect_session(spark):
        from delta.tables import DeltaTable

        return DeltaTable.isDeltaTable(spark, path)
    from pyspark.errors import AnalysisException

    try:
        spark.sql(f"DESCRIBE DETAIL {_table(path)}").select("format").collect()
    except AnalysisException as error:
        if any(marker in str(error) for marker in _NOT_A_TABLE):
            return False
        raise
    return True


def history(spark: SparkSession, path: str, limit: int | None = None) -> DataFrame:
    """The table's commit history, newest first (`DeltaTable.history` columns)."""
    if not is_connect_session(spark):
        from delta.tables import DeltaTable

        table = DeltaTable.forPath(spark, path)
        return table.history(limit) if limit is not None else table.history()
    return spark.sql(f"DESCRIBE HISTORY {_table(path)}" + (f" LIMIT {int(limit)}" if limit is not None else ""))


def merge_into(spark: SparkSession, path: str, source: DataFrame, on: str, *, update_all_when: str | None = None,
               insert_all: bool = True, insert_columns: list[str] | None = None,
               schema_evolution: bool = True):
    """MERGE `source` (alias `s`) into the table at `path` (alias `t`) on `on`.

    `update_all_when`: when matched and this condition holds, update every column (None: matched rows stay);
    `insert_all`: insert every unmatched source row (only `insert_columns` of it, when given).
    Returns the MERGE's metrics row (`num_inserted_rows`, ...), or None.
    """
    if not is_connect_session(spark):
        from delta.tables import DeltaTable

        builder = DeltaTable.forPath(spark, path).alias("t").merge(source.alias("s"), on)
        if schema_evolution:
            builder = builder.withSchemaEvolution()
        if update_all_when is not None:
            builder = builder.whenMatchedUpdateAll(condition=update_all_when)
        if insert_all and insert_columns:
            builder = builder.whenNotMatchedInsert(values={c: f"s.`{c}`" for c in insert_columns})
        elif insert_all:
            builder = builder.whenNotMatchedInsertAll()
        return builder.execute().first()
    view = f"featurestore_merge_source_{uuid.uuid4().hex}"
    source.createOrReplaceTempView(view)
    clauses = []
    if update_all_when is not None:
        clauses.append(f"WHEN MATCHED AND ({update_all_when}) THEN UPDATE SET *")
    if insert_all and insert_columns:
        names = ", ".join(f"`{c}`" for c in insert_columns)
        clauses.append(f"WHEN NOT MATCHED THEN INSERT ({names}) VALUES ({', '.join(f's.`{c}`' for c in insert_columns)})")
    elif insert_all:
        clauses.append("WHEN NOT MATCHED THEN INSERT *")
    evolution = " WITH SCHEMA EVOLUTION" if schema_evolution else ""
    try:
        rows = spark.sql(f"MERGE{evolution} INTO {_table(path)} AS t USING {view} AS s ON {on} "
                         f"{' '.join(clauses)}").collect()
        return rows[0] if rows else None
    finally:
        spark.catalog.dropTempView(view)
