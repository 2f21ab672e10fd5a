"""Time partitions of sources and groups, from their spec's grain and start date."""

from __future__ import annotations

from dagster import BackfillPolicy, DailyPartitionsDefinition, HourlyPartitionsDefinition, TimeWindowPartitionsDefinition

SINGLE_RUN_BACKFILL = BackfillPolicy.single_run()


def partitions_for(grain: str, start: str) -> TimeWindowPartitionsDefinition:
    """Hourly or daily UTC partitions from `start` (an ISO date)."""
    if grain == "hourly":
        return HourlyPartitionsDefinition(start_date=f"{start}-00:00", timezone="UTC")
    return DailyPartitionsDefinition(start_date=start, timezone="UTC")
