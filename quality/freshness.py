"""Freshness of a feature group, from its grain: how long since its newest partition closed (no Dagster).

A group is judged by its newest materialised partition, not by its last write: backfilling or correcting an
old partition does not make a group fresh, and a group whose newest partition is late is stale however often
it is rewritten. The lag is now - end of the newest partition's window. An hourly group is expected to have
a new partition every hour (warn after 2 h, fail after 4 h); a nightly one every day (warn after 26 h, fail
after 36 h), so a missed run warns and two missed runs fail.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from featurestore.durations import format_duration
from quality import Level


@dataclass(frozen=True)
class FreshnessExpectation:
    """Warn when the newest partition closed more than `warn_after` ago, fail after `fail_after`."""

    warn_after: timedelta
    fail_after: timedelta

    def describe(self) -> str:
        return (f"a new partition at least every {format_duration(self.warn_after)} (warn), "
                f"{format_duration(self.fail_after)} (fail)")


FRESHNESS_BY_GRAIN = {
    "hourly": FreshnessExpectation(timedelta(hours=2), timedelta(hours=4)),
    "daily": FreshnessExpectation(timedelta(hours=26), timedelta(hours=36)),
}


def expectation_for(grain: str) -> FreshnessExpectation:
    """The freshness expectation of a group's grain ('hourly' or 'daily')."""
    try:
        return FRESHNESS_BY_GRAIN[grain]
    except KeyError:
        raise ValueError(f"no freshness expectation for grain {grain!r}; known: {sorted(FRESHNESS_BY_GRAIN)}") \
            from None


@dataclass(frozen=True)
class FreshnessOutcome:
    """How fresh a group is: OK, WARN or ERROR, from its newest partition's lag."""

    group: str
    level: Level
    newest_partition: str
    newest_partition_end: datetime
    lag: timedelta
    expectation: FreshnessExpectation

    @property
    def passed(self) -> bool:
        return self.level is Level.OK

    def description(self) -> str:
        lag = format_lag(self.lag)
        if self.level is Level.OK:
            return f"fresh: newest partition {self.newest_partition} closed {lag} ago"
        limit = self.expectation.fail_after if self.level is Level.ERROR else self.expectation.warn_after
        return (f"[{self.level.value}] {self.group} is stale: newest partition {self.newest_partition} closed "
                f"{lag} ago, more than {format_duration(limit)} without a new partition")


def format_lag(lag: timedelta) -> str:
    """'2h 05m', '1d 3h 00m', '-0h 10m' (a partition not closed yet)."""
    minutes = int(lag.total_seconds() // 60)
    sign, minutes = ("-", -minutes) if minutes < 0 else ("", minutes)
    days, rest = divmod(minutes, 1440)
    return f"{sign}{f'{days}d ' if days else ''}{rest // 60}h {rest % 60:02d}m"


def evaluate_freshness(group: str, newest_partition: str, newest_partition_end: datetime, now: datetime,
                       expectation: FreshnessExpectation) -> FreshnessOutcome:
    """The group's freshness at `now`, given its newest partition and when that partition's window ended."""
    lag = now - newest_partition_end
    level = (Level.ERROR if lag > expectation.fail_after else
             Level.WARN if lag > expectation.warn_after else Level.OK)
    return FreshnessOutcome(group, level, newest_partition, newest_partition_end, lag, expectation)


__all__ = ["FRESHNESS_BY_GRAIN", "FreshnessExpectation", "FreshnessOutcome", "evaluate_freshness",
           "expectation_for"]
