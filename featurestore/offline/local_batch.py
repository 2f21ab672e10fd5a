"""Small writes on the driver: a batch of at most `WritePolicy.local_rows` rows is collected once (Arrow).

The write's later steps use local relations built from it (`frame`), so the input is never recomputed and
Spark broadcasts it; the counts, the rows to commit and the latest-table update are computed here, without a
Spark job. Keys are compared as Spark compares them: every NaN equals every NaN and -0.0 equals 0.0.
"""

from __future__ import annotations

import math
from collections import Counter
from typing import TYPE_CHECKING

from featurestore.columns import EVENT_TIME
from featurestore.offline.conform import checked_stats, duplicate_error
from featurestore.offline.history_write import STATUS

if TYPE_CHECKING:
    import pyarrow as pa
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.types import StructType

    from featurestore.spec import FeatureGroupSpec

_NAN = ("NaN",)  # stands for every NaN in a key


def collect(df: DataFrame, limit: int) -> pa.Table | None:
    """`df` as an Arrow table when it has at most `limit` rows (one query); None for a larger batch."""
    table = df.limit(limit + 1).toArrow()
    return table if table.num_rows <= limit else None


def row_stats(spec: FeatureGroupSpec, table: pa.Table) -> dict:
    """`conform.row_stats` of a collected batch, computed on the driver (no Spark job)."""
    import pyarrow as pa
    import pyarrow.compute as pc

    micros = table.column(EVENT_TIME).cast(pa.int64())
    stats: dict = {f"null__{c}": table.column(c).null_count for c in [*spec.key_names, EVENT_TIME]}
    valid = micros.drop_null()
    stats["rows"] = table.num_rows
    stats["min_micros"] = pc.min(valid).as_py() if len(valid) else None
    stats["max_micros"] = pc.max(valid).as_py() if len(valid) else None
    # UTC dates: the instants as naive (UTC) timestamps, then their dates
    stats["dates"] = sorted(pc.unique(valid.cast(pa.timestamp("us")).cast(pa.date32())).to_pylist())
    return checked_stats(spec, stats)


def frame(session: SparkSession, table: pa.Table, schema: StructType) -> DataFrame:
    """A local relation of `table` on `session`."""
    return session.createDataFrame(table, schema=schema)


def _normal(value: object) -> object:
    if isinstance(value, float):
        if math.isnan(value):
            return _NAN
        if value == 0.0:
            return 0.0  # -0.0 too
    return value


def key_tuples(table: pa.Table, columns: list[str]) -> list[tuple]:
    """Each row's values of `columns`, normalised as Spark compares keys."""
    values = [table.column(c).to_pylist() for c in columns]
    return [tuple(_normal(v) for v in row) for row in zip(*values)]


def check_duplicates(spec: FeatureGroupSpec, table: pa.Table) -> None:
    """Raise (as `conform.check_duplicates`) if two rows share a key and event time."""
    counted = Counter(key_tuples(table, [*spec.key_names, EVENT_TIME]))
    if not counted or max(counted.values()) < 2:
        return
    for index, key in enumerate(key_tuples(table, [*spec.key_names, EVENT_TIME])):
        if counted[key] > 1:
            row = table.slice(index, 1).to_pylist()[0]
            example = {k: row[k] for k in spec.key_names}
            example[spec.event_time_column] = row[EVENT_TIME]
            raise duplicate_error(spec, example, counted[key])


def counts(classified: pa.Table) -> dict[str, int]:
    """Rows per status ('new', 'correction', 'unchanged')."""
    return dict(Counter(classified.column(STATUS).to_pylist()))


def pending(classified: pa.Table) -> pa.Table:
    """The new and corrected rows."""
    import pyarrow.compute as pc

    return classified.filter(pc.not_equal(classified.column(STATUS), "unchanged"))


def newest_per_key(table: pa.Table, keys: list[str]) -> pa.Table:
    """The row with the greatest event time of each key (rows of one commit share their write time)."""
    import pyarrow as pa

    micros = table.column(EVENT_TIME).cast(pa.int64()).to_pylist()
    best: dict[tuple, int] = {}
    for index, key in enumerate(key_tuples(table, keys)):
        if key not in best or micros[index] > micros[best[key]]:
            best[key] = index
    return table.take(pa.array(sorted(best.values()), type=pa.int64()))
