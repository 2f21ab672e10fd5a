"""A small validator for five-field cron expressions (no Dagster, no third-party parser)."""

from __future__ import annotations

import re

from featurestore.errors import SpecError

_FIELDS = (("minute", 0, 59), ("hour", 0, 23), ("day of month", 1, 31), ("month", 1, 12), ("day of week", 0, 7))
_ATOM = re.compile(r"^(\*|\d+(-\d+)?)(/\d+)?$")


def validate_cron(expression: str, *, what: str) -> str:
    """Return `expression` if it is a valid five-field cron, else raise SpecError naming `what`."""
    parts = expression.split() if isinstance(expression, str) else []
    if len(parts) != 5:
        raise SpecError(f"{what}: cron {expression!r} must have 5 fields (minute hour day month weekday)")
    for part, (field, low, high) in zip(parts, _FIELDS):
        for atom in part.split(","):
            if not _ATOM.match(atom):
                raise SpecError(f"{what}: cron {expression!r}: bad {field} field {part!r}")
            numbers = [int(n) for n in re.findall(r"\d+", atom.split("/")[0])]
            step = atom.split("/")[1] if "/" in atom else None
            if any(n < low or n > high for n in numbers) or (len(numbers) == 2 and numbers[0] > numbers[1]):
                raise SpecError(f"{what}: cron {expression!r}: {field} {atom!r} outside {low}-{high}")
            if step is not None and int(step) == 0:
                raise SpecError(f"{what}: cron {expression!r}: step of zero in {field}")
    return expression
