"""Declarative specs: feature groups and raw sources, validated once when they are built."""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from typing import TYPE_CHECKING, Literal

from featurestore.columns import EVENT_TIME, reserved_reason
from featurestore.cron import validate_cron
from featurestore.durations import parse_duration
from featurestore.errors import SpecError
from featurestore.types import SPARK_TYPES

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession

Grain = Literal["hourly", "daily"]
GRAIN_STEP: dict[str, timedelta] = {"hourly": timedelta(hours=1), "daily": timedelta(days=1)}
DEFAULT_CRON: dict[str, str] = {"hourly": "5 * * * *", "daily": "30 1 * * *"}
_NAME = re.compile(r"[a-z][a-z0-9_]*")  # group, source and training-set names (fullmatch: no trailing newline)
_COLUMN = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")  # ASCII identifiers (so case folding is plain); a leading
# underscore passes here and is then refused as reserved, with that reason


@dataclass(frozen=True)
class Field:
    """A typed column of a group: an entity key or a feature."""

    name: str
    dtype: str
    description: str = ""


@dataclass(frozen=True)
class Key(Field):
    """An entity key column (a group may have several: a composite key)."""

    dtype: str = "string"


@dataclass(frozen=True)
class Feature(Field):
    """A feature column."""


@dataclass(frozen=True)
class TransformInput:
    """What a group's transform receives: its sources read for [start - lookback, end) and the window."""

    spark: SparkSession
    sources: Mapping[str, DataFrame]
    start: datetime
    end: datetime
    grain: Grain
    event_ids: Mapping[str, str] = field(default_factory=dict)  # source -> its declared event-id column

    def snapshot_times(self) -> list[datetime]:
        """End of every grain period in [start, end): the times this run's snapshots are taken at."""
        step = GRAIN_STEP[self.grain]
        times, t = [], self.start + step
        while t <= self.end:
            times.append(t)
            t += step
        return times


def _utc_midnight(day: str, what: str) -> datetime:
    try:
        return datetime.combine(date.fromisoformat(day), datetime.min.time(), tzinfo=timezone.utc)
    except (TypeError, ValueError):
        raise SpecError(f"{what}: start {day!r} is not an ISO date like '2026-01-01'") from None


def check_name(name: str, what: str) -> None:
    """A group, source or training-set name: lower_snake_case, nothing else (it names folders and tables)."""
    if not isinstance(name, str) or not _NAME.fullmatch(name):
        raise SpecError(f"{what}: name {name!r} must be lower_snake_case: a lowercase letter, then lowercase "
                        "letters, digits or underscores")


def check_columns(what: str, names: list[str], event_time_column: str) -> None:
    """Keys and features: ASCII identifiers, none reserved, none equal to another or to the event-time
    column ignoring case (Spark resolves column names case-insensitively)."""
    for name in names:
        if not isinstance(name, str) or not _COLUMN.fullmatch(name):
            raise SpecError(f"{what}: column name {name!r} is not a valid identifier (a letter, then ASCII "
                            "letters, digits or underscores)")
        reason = reserved_reason(name)
        if reason:
            raise SpecError(f"{what}: column {name!r} is a reserved name: it {reason}")
    folded: dict[str, list[str]] = {}
    for name in names:
        folded.setdefault(name.lower(), []).append(name)
    duplicates = sorted(n for group in folded.values() if len(group) > 1 for n in dict.fromkeys(group))
    if duplicates:
        exact = sorted({n for n in names if names.count(n) > 1})
        if exact:
            raise SpecError(f"{what}: duplicate column name(s) {exact} among keys and features")
        raise SpecError(f"{what}: column names {duplicates} differ only in case; Spark treats them as one "
                        "column, so rename one")
    if not isinstance(event_time_column, str) or not _COLUMN.fullmatch(event_time_column):
        raise SpecError(f"{what}: event-time column {event_time_column!r} is not a valid identifier")
    if event_time_column.lower() in folded:
        raise SpecError(f"{what}: event-time column {event_time_column!r} is also a key or feature"
                        + ("" if event_time_column in names else " (ignoring case)"))
    reason = reserved_reason(event_time_column)
    if reason and event_time_column.lower() != EVENT_TIME:
        raise SpecError(f"{what}: event-time column {event_time_column!r} is a reserved name: it {reason}")


@dataclass(frozen=True)
class SourceSpec:
    """A raw, time-partitioned source (daily partitions) stored as a Delta table.

    `event_id_column` names a column identifying each event across its versions: windowed aggregations
    then resolve versions per event id (a correction that moves an event's time replaces it) and order
    equal-time events by id (featurestore.aggregations.event_ids); without it, per (key, event_time).
    """

    name: str
    description: str
    event_time_column: str
    start: str
    load: Callable[[SparkSession, datetime, datetime], DataFrame]
    grain: Grain = "daily"
    event_id_column: str | None = None

    def __post_init__(self) -> None:
        what = f"source {self.name!r}"
        check_name(self.name, what)
        if self.event_id_column is not None and (not isinstance(self.event_id_column, str)
                                                 or not self.event_id_column.isidentifier()):
            raise SpecError(f"{what}: event_id_column {self.event_id_column!r} is not a column name")
        if self.event_id_column == self.event_time_column:
            raise SpecError(f"{what}: event_id_column and event_time_column are both {self.event_id_column!r}")
        if self.grain not in GRAIN_STEP:
            raise SpecError(f"{what}: grain must be 'hourly' or 'daily', not {self.grain!r}")
        _utc_midnight(self.start, what)

    @property
    def start_time(self) -> datetime:
        return _utc_midnight(self.start, f"source {self.name!r}")


@dataclass(frozen=True, kw_only=True)
class FeatureGroupSpec:
    """A feature group: keys, event time, typed features, its transform, schedule and TTL.

    A group may instead be declared by `windows` (featurestore.aggregations.Window): its features are the
    windows' (typed from the aggregation unless declared in `features`) and, without a `transform`, it is
    computed by `snapshot_aggregates` over its single source's `source_time_column` at every snapshot time
    (window s - w <= t < s); the source lookback defaults to the longest window.

    `expectations` (quality.expectations.ExpectationSpec objects) are checked on every written partition
    on top of the structural checks derived from the spec; `drift` (a quality.drift.DriftCheckConfig)
    compares each written partition with earlier ones. Both are optional and typed loosely: the core
    does not import `quality`.
    """

    name: str
    description: str
    owner: str
    keys: tuple[Key, ...]
    features: tuple[Feature, ...] = ()
    transform: Callable[[TransformInput], DataFrame] | None = None
    sources: tuple[str, ...]
    grain: Grain
    start: str
    event_time_column: str = "event_time"
    ttl: timedelta | str | None = None
    cron: str | None = None
    source_lookback: timedelta | str | None = None
    tags: Mapping[str, str] = field(default_factory=dict)
    expectations: tuple = ()
    drift: object | None = None
    windows: tuple = ()
    source_time_column: str = "event_time"

    def __post_init__(self) -> None:
        what = f"feature group {self.name!r}"
        check_name(self.name, what)
        object.__setattr__(self, "keys", tuple(self.keys))
        object.__setattr__(self, "features", tuple(self.features))
        object.__setattr__(self, "sources", tuple(self.sources))
        object.__setattr__(self, "windows", tuple(self.windows))
        if self.windows:
            self._derive_from_windows(what)
        if not self.keys:
            raise SpecError(f"{what}: needs at least one entity key")
        if not self.features:
            raise SpecError(f"{what}: needs at least one feature")
        for column in self.keys + self.features:
            if not isinstance(column, Field):
                raise SpecError(f"{what}: {column!r} is not a Key or Feature")
        check_columns(what, [c.name for c in self.keys + self.features], self.event_time_column)
        for column in self.keys + self.features:
            if column.dtype not in SPARK_TYPES:
                raise SpecError(f"{what}: column {column.name!r} has unknown type {column.dtype!r}; "
                                f"use one of {sorted(SPARK_TYPES)}")
        if self.grain not in GRAIN_STEP:
            raise SpecError(f"{what}: grain must be 'hourly' or 'daily', not {self.grain!r}")
        if not callable(self.transform):
            raise SpecError(f"{what}: transform must be callable")
        if not self.sources:
            raise SpecError(f"{what}: needs at least one source")
        object.__setattr__(self, "ttl", parse_duration(self.ttl, what=f"{what}: ttl"))
        object.__setattr__(self, "source_lookback",
                           parse_duration(self.source_lookback or None, what=f"{what}: source_lookback")
                           or timedelta(0))
        object.__setattr__(self, "cron", validate_cron(self.cron or DEFAULT_CRON[self.grain], what=what))
        self.schedule_offsets  # noqa: B018 - validates that the cron fits the grain
        object.__setattr__(self, "tags", dict(self.tags))
        object.__setattr__(self, "expectations", tuple(self.expectations))
        _utc_midnight(self.start, what)

    def _derive_from_windows(self, what: str) -> None:
        from featurestore.aggregations.algebra import check_windows
        from featurestore.aggregations.windowed import largest_window, window_features, windowed_transform

        try:
            windows = check_windows(self.windows, reserved=[k.name for k in self.keys] + [self.event_time_column])
        except SpecError as error:
            raise SpecError(f"{what}: {error}") from None
        object.__setattr__(self, "features", window_features(self.name, windows, self.features, Feature))
        if self.transform is None:
            if len(self.sources) != 1:
                raise SpecError(f"{what}: a windowed group without a transform reads exactly one source, "
                                f"not {list(self.sources)}")
            object.__setattr__(self, "transform", windowed_transform(
                self.sources[0], self.source_time_column, [k.name for k in self.keys], windows))
        if self.source_lookback is None:
            # an unbounded window reads the whole source (a century back)
            object.__setattr__(self, "source_lookback", largest_window(windows) or timedelta(days=36_500))

    @property
    def key_names(self) -> list[str]:
        return [k.name for k in self.keys]

    @property
    def feature_names(self) -> list[str]:
        return [f.name for f in self.features]

    @property
    def start_time(self) -> datetime:
        return _utc_midnight(self.start, f"feature group {self.name!r}")

    @property
    def step(self) -> timedelta:
        return GRAIN_STEP[self.grain]

    @property
    def schedule_offsets(self) -> tuple[int, int | None]:
        """(minute of hour, hour of day or None) at which the schedule fires after a period closes.

        The cron must fire once per period of the grain: 'M * * * *' for hourly, 'M H * * *' for daily.
        """
        minute, hour, *rest = self.cron.split()
        hourly, daily = self.grain == "hourly", self.grain == "daily"
        if rest != ["*", "*", "*"] or not minute.isdigit() or (hourly and hour != "*") or (daily and not hour.isdigit()):
            shape = "'M * * * *'" if hourly else "'M H * * *'"
            raise SpecError(f"feature group {self.name!r}: cron {self.cron!r} does not fit the {self.grain} grain; "
                            f"write it as {shape} (the minute/hour after each period closes)")
        return int(minute), (int(hour) if daily else None)

    def feature(self, name: str) -> Feature:
        """The feature called `name`; SpecError naming the group if there is none."""
        for f in self.features:
            if f.name == name:
                return f
        raise SpecError(f"feature group {self.name!r} has no feature {name!r}; it has {self.feature_names}")

    def __hash__(self) -> int:
        return hash(self.name)
