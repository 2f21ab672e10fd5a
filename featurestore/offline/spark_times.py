"""Zone-independent time expressions for Spark: UTC dates, exact timestamp literals, times collected as micros.

Nothing here depends on `spark.sql.session.timeZone` or on the machine's zone: a timestamp is an instant
(epoch microseconds), its date is the UTC calendar day of that instant.
"""

from __future__ import annotations

from datetime import date, datetime
from typing import TYPE_CHECKING

from pyspark.sql import functions as F

from featurestore.times import to_micros

if TYPE_CHECKING:
    from pyspark.sql import Column

MICROS_PER_DAY = 86_400_000_000


def utc_date(column: str | Column) -> Column:
    """The UTC calendar date of a timestamp column, whatever the session's time zone."""
    micros = F.unix_micros(F.col(column) if isinstance(column, str) else column)
    return F.date_from_unix_date(F.floor(micros / F.lit(MICROS_PER_DAY)).cast("int"))


def timestamp_literal(moment: datetime) -> Column:
    """An exact timestamp literal for an instant (naive means UTC), independent of every zone."""
    return F.timestamp_micros(F.lit(to_micros(moment)))


def date_literal(day: date) -> Column:
    """A date literal built from its ISO text (no zone conversion on the way)."""
    return F.lit(day.isoformat()).cast("date")


def sql_timestamp(moment: datetime) -> str:
    """An instant as a SQL expression that every session zone reads the same way."""
    return f"timestamp_micros({to_micros(moment)}L)"
