"""The one UTC rule of every public entry point.

A time given to the store is an instant: an aware `datetime` (converted to UTC), a naive `datetime` (read as
UTC, never as the machine's zone), a pandas `Timestamp` (same rules) or an ISO-8601 string (`Z` or an offset,
or none meaning UTC). Anything else is refused with a `SpecError` naming what it was for. Times read back from
Spark are taken as epoch microseconds (`F.unix_micros`) so that neither the machine's nor the session's zone
can shift them.
"""

from __future__ import annotations

from datetime import datetime, timedelta, timezone
from typing import Any

from featurestore.errors import SpecError

EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)


def to_utc(value: Any, what: str) -> datetime:
    """`value` as an aware UTC datetime (see the module's rule); SpecError naming `what` otherwise."""
    if isinstance(value, str):
        text = value.strip()
        try:
            value = datetime.fromisoformat(text[:-1] + "+00:00" if text.endswith(("Z", "z")) else text)
        except ValueError:
            raise SpecError(f"{what}: {text!r} is not an ISO-8601 timestamp "
                            "(e.g. '2026-10-09T00:00:00+00:00')") from None
    elif hasattr(value, "to_pydatetime") and not isinstance(value, datetime):  # numpy datetime64 wrappers
        value = value.to_pydatetime()
    if not isinstance(value, datetime):
        raise SpecError(f"{what}: expected a datetime or an ISO-8601 string, got {type(value).__name__} "
                        f"{value!r}")
    if hasattr(value, "to_pydatetime"):  # pandas Timestamp: a datetime subclass with nanoseconds
        value = value.to_pydatetime()
    if value.tzinfo is None or value.tzinfo.utcoffset(value) is None:
        return value.replace(tzinfo=timezone.utc)
    return value.astimezone(timezone.utc)


def to_utc_or_none(value: Any, what: str) -> datetime | None:
    """`to_utc`, with None passed through."""
    return None if value is None else to_utc(value, what)


def from_micros(micros: int | None) -> datetime | None:
    """Epoch microseconds (as `F.unix_micros` returns them) as an aware UTC datetime."""
    return None if micros is None else EPOCH + timedelta(microseconds=int(micros))


def to_micros(moment: datetime) -> int:
    """An instant as epoch microseconds (naive means UTC)."""
    moment = to_utc(moment, "timestamp")
    delta = moment - EPOCH
    return (delta.days * 86_400 + delta.seconds) * 1_000_000 + delta.microseconds
