"""Parsing of durations written as '90s', '15m', '1h', '7d', '2w' (or given as timedelta)."""

from __future__ import annotations

import re
from datetime import timedelta

from featurestore.errors import SpecError

_UNITS = {"us": "microseconds", "ms": "milliseconds", "s": "seconds", "m": "minutes",
          "h": "hours", "d": "days", "w": "weeks"}
_PATTERN = re.compile(r"^\s*(\d+)\s*(us|ms|s|m|h|d|w)\s*$")



def parse_duration(value: timedelta | str | None, *, what: str = "duration") -> timedelta | None:
    """Return a positive timedelta for `value`, None for None; raise SpecError naming `what` otherwise."""
    if value is None:
        return None
    if isinstance(value, timedelta):
        delta = value
    elif isinstance(value, str):
        match = _PATTERN.match(value)
        if not match:
            raise SpecError(f"{what}: cannot parse duration {value!r}; write e.g. '90s', '15m', '1h', '7d', '2w'")
        delta = timedelta(**{_UNITS[match.group(2)]: int(match.group(1))})
    else:
        raise SpecError(f"{what}: a duration must be a string like '7d' or a timedelta, not {type(value).__name__}")
    if delta <= timedelta(0):
        raise SpecError(f"{what}: duration must be positive, got {value!r}")
    return delta


def to_microseconds(delta: timedelta) -> int:
    """Exact microseconds of a timedelta (no float rounding)."""
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds


def format_duration(delta: timedelta | None) -> str:
    """Shortest exact rendering of a duration ('7d', '1h', '90s'); 'unlimited' for None."""
    if delta is None:
        return "unlimited"
    micros = to_microseconds(delta)
    for unit, size in (("w", 604_800_000_000), ("d", 86_400_000_000), ("h", 3_600_000_000),
                       ("m", 60_000_000), ("s", 1_000_000), ("ms", 1_000)):
        if micros % size == 0:
            return f"{micros // size}{unit}"
    return f"{micros}us"
