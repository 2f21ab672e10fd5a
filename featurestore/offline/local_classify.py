"""`history_write.classify` for a small batch of a local table, on the driver: delta-rs reads the stored rows of
the batch's UTC event dates and time range at the probed version, DuckDB compares them (no Spark job).

Same rule as the Spark classification: a row is 'new' when its (key, event_time) has no stored version,
'correction' when it differs from the newest stored version (by write_time; a delete marker differs from a
live row, a soft delete from anything not already deleted), else 'unchanged'; BASE is that version's
write_time. DuckDB compares keys and values as Spark does (NaN equals NaN, -0.0 equals 0.0, nulls equal in
`IS NOT DISTINCT FROM`); event times are compared as UTC microseconds.
"""

from __future__ import annotations

from typing import TYPE_CHECKING

from featurestore.columns import EVENT_DATE, EVENT_TIME, IS_DELETED, WRITE_TIME
from featurestore.offline.history_write import BASE, STATUS, HistoryState
from featurestore.settings import local_path
from featurestore.times import to_micros

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql.types import StructType

    from featurestore.spec import FeatureGroupSpec

_ROW = "__fs_row"


def classified_schema(incoming: StructType) -> StructType:
    """The Spark schema of a classified batch: the incoming columns, STATUS and BASE."""
    from pyspark.sql.types import StringType, StructField, StructType, TimestampType

    return StructType([*incoming.fields, StructField(STATUS, StringType()), StructField(BASE, TimestampType())])


def stored_rows(path: str, version: int, stats: dict, columns: list[str]) -> pa.Table:
    """The history rows at `version` in the batch's UTC event dates and time range (only `columns` that exist)."""
    import pyarrow.dataset as ds
    from deltalake import DeltaTable

    table = DeltaTable(str(local_path(path)), version=version)
    stored = {field.name for field in table.schema().fields}
    files = [(EVENT_DATE, "in", [d.isoformat() for d in stats["dates"]]),  # partitions, then file statistics
             (EVENT_TIME, ">=", stats["min_time"]), (EVENT_TIME, "<=", stats["max_time"])]
    dataset = table.to_pyarrow_dataset(file_pruning_predicate=files)
    micros = ds.field(EVENT_TIME).cast("int64")
    low, high = to_micros(stats["min_time"]), to_micros(stats["max_time"])
    return dataset.to_table(columns=[c for c in columns if c in stored],
                            filter=(micros >= low) & (micros <= high))


def classify(spec: FeatureGroupSpec, incoming: pa.Table, path: str, state: HistoryState, stats: dict,
             deleted: bool) -> pa.Table:
    """`incoming` (Arrow, the conformed batch) with STATUS and BASE columns, in its row order."""
    import pyarrow as pa

    from featurestore.storage.delta_read import connect

    keys, features = spec.key_names, spec.feature_names
    rows = incoming.num_rows
    if state.version is None or stats["min_time"] is None:
        return _with_status(incoming, pa.array(["new"] * rows, pa.string()), pa.nulls(rows, pa.int64()))
    stored = stored_rows(path, state.version, stats, [*keys, EVENT_TIME, WRITE_TIME, IS_DELETED, *features])
    present = set(stored.column_names)
    on = " AND ".join([f"i.{_q(k)} = s.{_q(k)}" for k in keys]
                      + [f"epoch_us(i.{_q(EVENT_TIME)}) = epoch_us(s.{_q(EVENT_TIME)})"])
    newest = (f"SELECT s.* FROM stored s SEMI JOIN incoming i ON {on} QUALIFY row_number() OVER ("
              f"PARTITION BY {', '.join(f's.{_q(k)}' for k in keys)}, epoch_us(s.{_q(EVENT_TIME)}) "
              f"ORDER BY s.{_q(WRITE_TIME)} DESC) = 1")
    if deleted:
        differs = f"s.{_q(IS_DELETED)} IS NOT TRUE"
    else:
        differs = " OR ".join([f"s.{_q(IS_DELETED)}",
                               *[f"i.{_q(f)} IS DISTINCT FROM {_stored(f, present)}" for f in features]])
    status = (f"CASE WHEN s.{_q(IS_DELETED)} IS NULL THEN 'new' WHEN {differs} THEN 'correction' "
              "ELSE 'unchanged' END")
    connection = connect()
    try:
        connection.register("incoming", incoming.append_column(_ROW, pa.array(range(rows), pa.int64())))
        connection.register("stored", stored)
        result = connection.sql(
            f"WITH s AS ({newest}) SELECT {status} AS status, epoch_us(s.{_q(WRITE_TIME)}) AS base "
            f"FROM incoming i LEFT JOIN s ON {on} ORDER BY i.{_ROW}").to_arrow_table()
    finally:
        connection.close()
    return _with_status(incoming, result.column("status").combine_chunks(),
                        result.column("base").combine_chunks())


def _q(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


def _stored(feature: str, present: set[str]) -> str:
    """The stored value of `feature`; NULL for a feature the history has no column for yet."""
    return f"s.{_q(feature)}" if feature in present else "NULL"


def _with_status(incoming: pa.Table, status: pa.Array, base_micros: pa.Array) -> pa.Table:
    import pyarrow as pa

    base = base_micros.cast(pa.int64()).cast(incoming.schema.field(EVENT_TIME).type)
    return incoming.append_column(STATUS, status.cast(pa.string())).append_column(BASE, base)
