"""The freshness sensor: evaluates every group's `freshness` check on each tick (no run) and records the
evaluation when the group's level, newest partition or latest materialisation changed since the last one —
unless the check already ran in the group's run after that materialisation and says the same.

So the check's status in the UI follows the group, and a group going stale is recorded once per change
(WARN, then ERROR): the check-failure sensor (jobs/sensors.py) alerts those failures through the same sink
as any other failed check, once each. The sensor is RUNNING by default: it only reads the instance and
records check evaluations.
"""

from __future__ import annotations

import json
from collections.abc import Sequence
from datetime import datetime, timezone

from dagster import (
    DefaultSensorStatus,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    sensor,
)

from featurestore.spec import FeatureGroupSpec
from jobs.sensors import sensor_interval
from orchestration.keys import group_key
from orchestration.freshness import freshness_evaluation, group_freshness, latest_freshness_record

FRESHNESS_SENSOR = "freshness_checks"


def freshness_tick(instance, specs: Sequence[FeatureGroupSpec], cursor: str | None,
                   now: datetime | None = None) -> tuple[list, str, str]:
    """(evaluations to record, next cursor, summary) for one tick at `now`."""
    now = now or datetime.now(timezone.utc)
    seen = json.loads(cursor) if cursor else {}
    evaluations, states, stale = [], {}, []
    for spec in specs:
        outcome = group_freshness(instance, spec, now)
        if outcome is None:
            continue
        latest = instance.get_latest_materialization_event(group_key(spec.name))
        state = [outcome.level.value, outcome.newest_partition, latest.timestamp if latest else None]
        states[spec.name] = state
        if not outcome.passed:
            stale.append(f"{spec.name} {outcome.level.value}")
        if seen.get(spec.name) == state:
            continue
        recorded = latest_freshness_record(instance, spec)
        if recorded is not None and recorded.pending:  # a run is evaluating the check now: look again next tick
            states[spec.name] = seen.get(spec.name)
        elif recorded is None or not recorded.says(outcome, after=state[2]):
            evaluations.append(freshness_evaluation(spec, outcome))
        # else: the check ran in the group's run after its materialisation and already says this: not twice
    summary = (f"{len(evaluations)} freshness evaluation(s) recorded; "
               + (f"stale: {', '.join(stale)}" if stale else "all groups fresh"))
    return evaluations, json.dumps({**seen, **states}, sort_keys=True), summary


def build_freshness_sensor(specs: Sequence[FeatureGroupSpec], *, name: str = FRESHNESS_SENSOR,
                           minimum_interval_seconds: int | None = None,
                           default_status: DefaultSensorStatus = DefaultSensorStatus.RUNNING) -> SensorDefinition:
    """A sensor recording the `freshness` check evaluations of `specs` (orchestration.freshness)."""
    specs = list(specs)

    @sensor(name=name, minimum_interval_seconds=minimum_interval_seconds or sensor_interval(60),
            default_status=default_status,
            description="Evaluates each feature group's freshness (newest partition vs its grain) and records "
                        "the freshness check when it changes")
    def _freshness(context: SensorEvaluationContext) -> SensorResult:
        evaluations, cursor, summary = freshness_tick(context.instance, specs, context.cursor)
        return SensorResult(asset_events=evaluations, cursor=cursor,
                            skip_reason=None if evaluations else SkipReason(summary))

    return _freshness


__all__ = ["FRESHNESS_SENSOR", "build_freshness_sensor", "freshness_tick"]
