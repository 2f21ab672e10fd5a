"""System column names and the names the store reserves: the one place that spells them."""

from __future__ import annotations

EVENT_TIME = "event_time"
WRITE_TIME = "write_time"
IS_DELETED = "is_deleted"
EVENT_DATE = "event_date"  # partition column of history tables, derived from event_time (UTC)

SYSTEM_COLUMNS = (EVENT_TIME, WRITE_TIME, IS_DELETED, EVENT_DATE)

INTERNAL_PREFIX = "_"
"""Every column the store, Spark or Delta adds on its own starts with an underscore: the write path's
`__write_status`, `__rank`, `__cur_<feature>`; the PIT engines' `__pit_*`; aggregations' `__fs_*`; streaming's
`_stream_*`; Spark's `_metadata` and `_corrupt_record`; Delta's change-feed `_change_type`, `_commit_version`,
`_commit_timestamp`. So a key or feature may not start with one."""

OUTPUT_SEPARATOR = "__"
"""Output names join a group and a column with it (`group__feature`, `<group>__event_time`), so a key or
feature may not contain it (`orders__amount` would collide with group `orders`' feature `amount`)."""

INTERNAL_COLUMNS = frozenset({
    "__write_status", "__rank", "__cur_deleted", "__rows", "__parts", "__stream_rank", "__fs_latest",
    "_stream_corrupt_record", "_stream_file", "_stream_kafka_offset", "_metadata", "_corrupt_record",
    "_change_type", "_commit_version", "_commit_timestamp",
})
"""Internal column names spelled out (all covered by INTERNAL_PREFIX; listed for error messages and tests)."""


def reserved_reason(name: str) -> str | None:
    """Why `name` may not be a key or feature (compared case-insensitively, as Spark resolves columns),
    or None if it may."""
    folded = name.lower()
    for system in SYSTEM_COLUMNS:
        if folded == system:
            return (f"is the system column {system!r}" if name == system
                    else f"is the system column {system!r} in another case (column names are case-insensitive)")
    if folded.startswith(INTERNAL_PREFIX):
        return f"starts with {INTERNAL_PREFIX!r}, the prefix of the store's internal columns"
    if OUTPUT_SEPARATOR in folded:
        return f"contains {OUTPUT_SEPARATOR!r}, the separator of output names like group__feature"
    return None


def is_reserved(name: str) -> bool:
    """True if the store uses `name` (in any case) itself: a system column, an internal column or prefix,
    or a name with the output separator."""
    return reserved_reason(name) is not None


__all__ = ["EVENT_DATE", "EVENT_TIME", "INTERNAL_COLUMNS", "INTERNAL_PREFIX", "IS_DELETED", "OUTPUT_SEPARATOR",
           "SYSTEM_COLUMNS", "WRITE_TIME", "is_reserved", "reserved_reason"]
