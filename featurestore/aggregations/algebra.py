"""The aggregation algebra and the declarative `Window` spec.

Every aggregation ignores nulls except `row_count`; over an empty window `row_count`, `count` and
`approx_count_distinct` give 0 and every other aggregation gives null.

=======================  =============================================================  ============
aggregation              value                                                          structure
=======================  =============================================================  ============
row_count                rows in the window (the column may be None; nulls count)        prefix
count                    non-null values                                                prefix
sum                      sum (long for integral columns, double otherwise)               prefix
avg                      sum / count                                                    prefix
variance, stddev         *sample* variance / standard deviation: M2 / (n - 1), null     prefix
                         for n < 2 (Spark's var_samp / stddev_samp)
variance_pop,            *population* variance / standard deviation: M2 / n (0 for      prefix
stddev_pop               n = 1; Spark's var_pop / stddev_pop)
min, max                 smallest / greatest value (NaN is greater than every number)    sliding
first, last              value of the earliest / latest event; among events with equal  sliding
                         times the smallest / greatest value (so the result is
                         deterministic): min / max of (event_time, value)
approx_count_distinct    distinct non-null values, computed *exactly* (a zero-error      distinct
                         estimate; Spark's HLL++ may differ by its ~5% error)
=======================  =============================================================  ============

"prefix" aggregations are invertible: a window's value is prefix(end) - prefix(start) of running
(count, sum, sum of squares). "sliding" ones are not and use a sparse table / next-valid pointers.
Decimal columns are aggregated as double.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Literal


from featurestore.durations import format_duration, parse_duration, to_microseconds
from featurestore.errors import SpecError

if TYPE_CHECKING:
    from pyspark.sql import Column

Structure = Literal["prefix", "sliding", "distinct"]
Output = Literal["long", "double", "sum", "input"]


@dataclass(frozen=True)
class Aggregation:
    """One aggregation: how it is maintained over a window and what type it yields."""

    name: str
    structure: Structure
    output: Output           # long | double | sum (long for integral input, else double) | input type
    numeric_only: bool
    needs_column: bool = True

    @property
    def invertible(self) -> bool:
        """True when a window value is a difference of two prefix states."""
        return self.structure == "prefix"

    @property
    def tileable(self) -> bool:
        """True when partial aggregates per period merge exactly into the window value."""
        return self.structure != "distinct"


AGGREGATIONS: dict[str, Aggregation] = {a.name: a for a in (
    Aggregation("row_count", "prefix", "long", numeric_only=False, needs_column=False),
    Aggregation("count", "prefix", "long", numeric_only=False),
    Aggregation("sum", "prefix", "sum", numeric_only=True),
    Aggregation("avg", "prefix", "double", numeric_only=True),
    Aggregation("variance", "prefix", "double", numeric_only=True),
    Aggregation("stddev", "prefix", "double", numeric_only=True),
    Aggregation("variance_pop", "prefix", "double", numeric_only=True),
    Aggregation("stddev_pop", "prefix", "double", numeric_only=True),
    Aggregation("min", "sliding", "input", numeric_only=False),
    Aggregation("max", "sliding", "input", numeric_only=False),
    Aggregation("first", "sliding", "input", numeric_only=False),
    Aggregation("last", "sliding", "input", numeric_only=False),
    Aggregation("approx_count_distinct", "distinct", "long", numeric_only=False),
)}

MOMENT_AGGS = frozenset({"variance", "stddev", "variance_pop", "stddev_pop"})


def _size_label(written: str | timedelta | None, size: timedelta | None) -> str:
    """'7d' as written ('7d' stays '7d', not '1w'); a timedelta in its largest exact unit up to days."""
    if isinstance(written, str):
        return "".join(written.split())
    if size is None:
        return format_duration(None)
    micros = to_microseconds(size)
    for unit, length in (("d", 86_400_000_000), ("h", 3_600_000_000), ("m", 60_000_000),
                         ("s", 1_000_000), ("ms", 1_000)):
        if micros % length == 0:
            return f"{micros // length}{unit}"
    return f"{micros}us"


def _is_column(value: object) -> bool:
    """A pyspark Column (pyspark is imported only if the value is not a string)."""
    from pyspark.sql import Column

    return isinstance(value, Column)


def _where_text(where: Column | str | None) -> str | None:
    return None if where is None else (where if isinstance(where, str) else str(where))


@dataclass(frozen=True, eq=False)
class Window:
    """`agg` of `column` over the last `size` of events (None = unbounded), optionally filtered and bucketed.

    `where` (a Column or SQL string) keeps only matching events (others count nowhere, not even in
    row_count); `group_by` names a bucket column: the value becomes a map bucket -> aggregate over the
    buckets that have at least one (kept) event in the window (empty map for an empty window; events with
    a null bucket are ignored). The default name is f"{agg}_{column}_{size}", e.g. "avg_amount_7d"
    ("row_count_7d" without a column, "..._unlimited" when unbounded, "..._by_{group_by}" when bucketed).
    Which events a window covers depends on where it is evaluated; see featurestore.aggregations.
    """

    column: str | None
    agg: str
    size: str | timedelta | None = None
    name: str | None = None
    where: Column | str | None = None
    group_by: str | None = None

    def __post_init__(self) -> None:
        label = self.name or f"{self.agg}_{self.column}_{self.size}"
        what = f"window {label!r}"
        if self.agg not in AGGREGATIONS:
            raise SpecError(f"{what}: unknown aggregation {self.agg!r}; use one of {sorted(AGGREGATIONS)}")
        aggregation = AGGREGATIONS[self.agg]
        if self.column is None and aggregation.needs_column:
            raise SpecError(f"{what}: aggregation {self.agg!r} needs a column")
        if self.column is not None and (not isinstance(self.column, str) or not self.column):
            raise SpecError(f"{what}: column must be a non-empty string, not {self.column!r}")
        size_as_written = self.size
        object.__setattr__(self, "size", parse_duration(self.size, what=f"{what}: size"))
        if self.where is not None and not isinstance(self.where, str) and not _is_column(self.where):
            raise SpecError(f"{what}: where must be a Column or a SQL string, not {type(self.where).__name__}")
        if isinstance(self.where, str) and not self.where.strip():
            raise SpecError(f"{what}: where is an empty string")
        if self.group_by is not None and (not isinstance(self.group_by, str) or not self.group_by):
            raise SpecError(f"{what}: group_by must be a column name, not {self.group_by!r}")
        if self.name is None:
            parts = [self.agg] + ([self.column] if self.column is not None else [])
            parts.append(_size_label(size_as_written, self.size))
            if self.group_by is not None:
                parts += ["by", self.group_by]
            object.__setattr__(self, "name", "_".join(parts))
        elif not isinstance(self.name, str) or not self.name.strip():
            raise SpecError(f"{what}: name must be a non-empty string")

    @property
    def aggregation(self) -> Aggregation:
        return AGGREGATIONS[self.agg]

    @property
    def size_micros(self) -> int | None:
        """Window length in microseconds, None when unbounded."""
        return None if self.size is None else to_microseconds(self.size)

    def _identity(self) -> tuple:
        return (self.column, self.agg, self.size, self.name, _where_text(self.where), self.group_by)

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Window) and self._identity() == other._identity()

    def __hash__(self) -> int:
        return hash(self._identity())

    def __repr__(self) -> str:
        extra = "".join(f", {k}={v!r}" for k, v in (("where", _where_text(self.where)),
                                                    ("group_by", self.group_by)) if v is not None)
        return f"Window({self.column!r}, {self.agg!r}, {format_duration(self.size)!r}, name={self.name!r}{extra})"


def check_windows(windows, *, reserved: list[str]) -> tuple[Window, ...]:
    """Windows as a tuple; SpecError on a non-Window, a duplicate name or a name clashing with `reserved`."""
    windows = tuple(windows)
    if not windows:
        raise SpecError("at least one Window is needed")
    seen: set[str] = set()
    for window in windows:
        if not isinstance(window, Window):
            raise SpecError(f"{window!r} is not a Window")
        if window.name in seen:
            raise SpecError(f"window {window.name!r}: two windows have this name; give one an explicit name")
        if window.name in reserved:
            raise SpecError(f"window {window.name!r}: name clashes with an input column of the same name")
        seen.add(window.name)
    return windows
