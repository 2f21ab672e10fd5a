"""Versions of raw events resolved per event id (sources that declare an `event_id_column`).

Without an event id an event is identified by (key, event_time): a correction that moves an event's time
is a new event beside the old one. With one, every version of an event shares its id, and the latest
version (greatest write_time, after the optional as-known-at filter; a delete marker wins a tie) decides
the event's key, time and values; a latest version that is a delete marker removes the event. Resolution
is global per id (a correction may move an event to another key) and runs in Spark before the key shuffle
(one extra shuffle by id). Without a write_time column the rows are not versions: each id must be unique.
Equal-time events of one key are then ordered by event id (first / last take the smallest / greatest id).
"""

from __future__ import annotations

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
from pyspark.sql import Column, DataFrame
from pyspark.sql import functions as F
from pyspark.sql import types as T

from featurestore.aggregations.plan import DEL, EID, WT
from featurestore.errors import SpecError

ID_TYPES = (T.StringType, T.ByteType, T.ShortType, T.IntegerType, T.LongType, T.DateType, T.TimestampType)


def event_id_columns(events: DataFrame, name: str | None, what: str) -> list[Column]:
    """[the event id aliased to the engine's column], or [] without one; SpecError if unusable."""
    if name is None:
        return []
    if name not in events.columns:
        raise SpecError(f"{what}: no event-id column {name!r}; columns are {events.columns}")
    data_type = events.schema[name].dataType
    if not isinstance(data_type, ID_TYPES):
        raise SpecError(f"{what}: event-id column {name!r} must be a string, integer, date or timestamp, "
                        f"not {data_type.simpleString()}")
    return [F.col(name).alias(EID)]


def _refuse_when(condition: Column, message: Column) -> Column:
    """A filter that keeps every row and fails the query (with `message`) on a row meeting `condition`."""
    return F.when(condition, F.raise_error(message)).otherwise(F.lit(True))


def resolve_event_ids(rows: DataFrame, *, name: str, what: str) -> DataFrame:
    """One row per event id: the surviving latest version (history rows) or the row itself (plain rows).

    Null ids and, for plain rows (no write time), duplicate ids fail the query with a message naming the
    column: nothing is silently dropped or deduplicated.
    """
    rows = rows.where(_refuse_when(F.col(EID).isNull(),
                                   F.lit(f"{what}: an event has a null event id ({name!r})")))
    payload = [c for c in rows.columns if c != EID]
    if WT not in rows.columns:
        grouped = rows.groupBy(EID).agg(F.count(F.lit(1)).alias("__fs_n"), F.first(F.struct(*payload)).alias("__v"))
        message = F.concat(F.lit(f"{what}: event id {name!r} = "), F.col(EID).cast("string"),
                           F.lit(" occurs more than once and the events have no write_time to order its versions"))
        return grouped.where(_refuse_when(F.col("__fs_n") > 1, message)).select(EID, "__v.*")
    rank = F.struct(F.coalesce(F.col(WT), F.lit(np.iinfo(np.int64).min)), F.col(DEL))
    latest = rows.groupBy(EID).agg(F.max_by(F.struct(*payload), rank).alias("__v")).select(EID, "__v.*")
    return latest.where(~F.col(DEL)).drop(WT, DEL)


def tie_ranks(table: pa.Table) -> np.ndarray | None:
    """Per row, the rank of its event id (ascending, nulls last), or None when the table has no ids."""
    if EID not in table.column_names:
        return None
    ids = table.column(EID).combine_chunks()
    order = pc.array_sort_indices(ids, order="ascending", null_placement="at_end").to_numpy()
    ranks = np.empty(len(order), dtype=np.int64)
    ranks[order] = np.arange(len(order), dtype=np.int64)
    return ranks
