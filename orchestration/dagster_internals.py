"""The only module importing `dagster._core`: what the project needs that Dagster 1.13 has no public API for.

Each name here is covered by tests/test_dagster_internals.py, so a Dagster upgrade that moves or changes one
fails there, in one place, instead of across the sensors, the gate and the demo.

- the run tags of a single-run partition-range backfill (as the UI's "Materialize" over a range sets them);
- asset-check execution records (the instance's per-evaluation rows, newest first), their status and the
  evaluation they hold: the UI's check history reads the same table, and there is no public reader.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from typing import Any

from dagster import AssetCheckEvaluation, AssetCheckKey, DagsterInstance
from dagster._core.storage.asset_check_execution_record import (
    COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES,
    AssetCheckExecutionRecord,
    AssetCheckExecutionRecordStatus,
)
from dagster._core.storage.tags import ASSET_PARTITION_RANGE_END_TAG, ASSET_PARTITION_RANGE_START_TAG

PARTITION_RANGE_START_TAG: str = ASSET_PARTITION_RANGE_START_TAG  # "dagster/asset_partition_range_start"
PARTITION_RANGE_END_TAG: str = ASSET_PARTITION_RANGE_END_TAG  # "dagster/asset_partition_range_end"
CheckRecord = AssetCheckExecutionRecord
CheckRecordStatus = AssetCheckExecutionRecordStatus
COMPLETED = frozenset(COMPLETED_ASSET_CHECK_EXECUTION_RECORD_STATUSES)  # SUCCEEDED, FAILED


def partition_range_tags(first: str, last: str) -> dict[str, str]:
    """Run tags for one run over the partition keys first..last (a single-run backfill)."""
    return {PARTITION_RANGE_START_TAG: first, PARTITION_RANGE_END_TAG: last}


def partition_range_of(tags: dict[str, str]) -> tuple[str | None, str | None]:
    """(first, last) partition key of a run's tags; a one-partition run gives (key, key)."""
    single = tags.get("dagster/partition")
    if single:
        return single, single
    return tags.get(PARTITION_RANGE_START_TAG), tags.get(PARTITION_RANGE_END_TAG)


def check_records(instance: DagsterInstance, key: AssetCheckKey, *, limit: int,
                  cursor: int | None = None, completed_only: bool = False) -> Sequence[CheckRecord]:
    """Up to `limit` execution records of `key` with id < `cursor` (None: from the newest), newest first."""
    status = set(COMPLETED) if completed_only else None
    return instance.event_log_storage.get_asset_check_execution_history(key, limit=limit, cursor=cursor,
                                                                        status=status)


def iter_check_records(instance: DagsterInstance, key: AssetCheckKey, *, page: int = 200,
                       completed_only: bool = False) -> Iterator[CheckRecord]:
    """Every execution record of `key`, newest first, read `page` at a time."""
    cursor = None
    while True:
        records = check_records(instance, key, limit=page, cursor=cursor, completed_only=completed_only)
        yield from records
        if len(records) < page:
            return
        cursor = records[-1].id


def record_evaluation(record: CheckRecord) -> AssetCheckEvaluation | None:
    """The evaluation a completed record holds (None while it is only planned)."""
    if record.status not in COMPLETED or record.event is None or record.event.dagster_event is None:
        return None
    return record.event.dagster_event.event_specific_data


def record_metadata(record: CheckRecord) -> dict[str, Any]:
    """The evaluation's metadata as plain values (MetadataValue.value), {} for a planned record."""
    evaluation = record_evaluation(record)
    return {k: getattr(v, "value", v) for k, v in (evaluation.metadata or {}).items()} if evaluation else {}


__all__ = ["COMPLETED", "CheckRecord", "CheckRecordStatus", "PARTITION_RANGE_END_TAG", "PARTITION_RANGE_START_TAG",
           "check_records", "iter_check_records", "partition_range_of", "partition_range_tags",
           "record_evaluation", "record_metadata"]
