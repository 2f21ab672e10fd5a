"""Data quality for feature groups: GX expectations, drift checks, HTML drift reports and alert sinks.

Modules (import them directly; this package imports nothing heavy):
  quality.expectations  declarative checks derived from a FeatureGroupSpec, plus declared extras
  quality.gx_runner     run a suite with Great Expectations on a Spark DataFrame -> CheckOutcome
  quality.drift         current vs reference partition drift (z, std ratio, PSI, nulls, volume)
  quality.report        static HTML drift report with inline SVG histograms
  quality.alerts        Alert + JSONL / Slack-style webhook sinks (pure Python)
  quality.evaluation    the rows a check of written partitions reads, its reference window, samples
"""

from __future__ import annotations

from enum import Enum


class Severity(str, Enum):
    """How bad a failed check is: WARN reports, ERROR blocks (the caller decides what blocking means)."""

    WARN = "WARN"
    ERROR = "ERROR"


class Level(str, Enum):
    """Outcome level of a drift statistic (and of a set of outcomes: the worst one)."""

    OK = "OK"
    WARN = "WARN"
    ERROR = "ERROR"

    @property
    def rank(self) -> int:
        return _RANK[self]


_RANK = {Level.OK: 0, Level.WARN: 1, Level.ERROR: 2}


def worst(levels) -> Level:
    """The most severe of `levels` (OK for none)."""
    return max((Level(level) for level in levels), key=lambda level: level.rank, default=Level.OK)


__all__ = ["Level", "Severity", "worst"]
