"""Feature groups: one module per group (a spec + pure transforms), discovered by `featurestore.registry`."""

from __future__ import annotations

import os
from datetime import date, timedelta

from featurestore.errors import SpecError

EXAMPLE_START_ENV = "FEATURESTORE_EXAMPLE_START"


def example_start(default: str, *, lead_days: int = 0) -> str:
    """The first partition day of the example's specs: `default`, or, when FEATURESTORE_EXAMPLE_START is set
    (an ISO date; `make demo` sets it to the first day it generates, so few partitions show as missing), that
    day minus `lead_days` (a source starts earlier than the groups by their longest window)."""
    value = os.environ.get(EXAMPLE_START_ENV, "").strip()
    if not value:
        return default
    try:
        day = date.fromisoformat(value)
    except ValueError:
        raise SpecError(f"{EXAMPLE_START_ENV}={value!r} is not an ISO date like '2026-11-28'") from None
    return (day - timedelta(days=lead_days)).isoformat()
