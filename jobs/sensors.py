"""Alerting sensors: one alert per failed asset-check evaluation (exactly once) and one per failed run.

Check alerts read the instance's asset-check execution records (one row per evaluation, ids increasing;
the same table on every storage, sharded SQLite included). The cursor is `after` (every record with a
smaller or equal id is handled) plus the ids above it already alerted. A record still running, or a failed
evaluation whose alert was not delivered, holds `after` back, so it is looked at again on the next tick:
restarts do not resend, nothing is skipped, and an alert is never lost. Delivery stops at the first failure
in a tick (the sink has already retried with backoff), which is logged and reported in the tick's skip
reason; the sensor itself does not fail.
"""

import json
import logging
import os
import time
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field

from dagster import (
    AssetCheckKey,
    AssetCheckSeverity,
    DagsterEventType,
    DagsterInstance,
    DefaultSensorStatus,
    RunFailureSensorContext,
    SensorDefinition,
    SensorEvaluationContext,
    SensorResult,
    SkipReason,
    run_failure_sensor,
    sensor,
)
from orchestration.alerts import AlertSinkResource
from orchestration.dagster_internals import (
    CheckRecord,
    CheckRecordStatus,
    check_records,
    partition_range_of,
    record_evaluation,
    record_metadata,
)
from quality import Severity
from quality.check_names import covered_label
from quality.alerts import Alert, AlertSink

CHECK_ALERTS_SENSOR = "check_failure_alerts"
RUN_FAILURE_SENSOR = "run_failure_alerts"
_PAGE = 200
_TEXT_LIMIT = 2000


def default_sensor_status() -> DefaultSensorStatus:
    """RUNNING when FEATURESTORE_SENSORS_RUNNING is 1/true/yes, else STOPPED (switch on in the UI)."""
    running = os.environ.get("FEATURESTORE_SENSORS_RUNNING", "").lower() in {"1", "true", "yes"}
    return DefaultSensorStatus.RUNNING if running else DefaultSensorStatus.STOPPED


SENSOR_INTERVAL_ENV = "FEATURESTORE_SENSOR_INTERVAL_SECONDS"


def sensor_interval(default: int) -> int:
    """The sensors' minimum interval: FEATURESTORE_SENSOR_INTERVAL_SECONDS (a whole number of seconds >= 1,
    e.g. 5 for a demo or a test that waits for alerts), else `default`."""
    text = os.environ.get(SENSOR_INTERVAL_ENV, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) < 1:
        raise ValueError(f"{SENSOR_INTERVAL_ENV} must be a whole number of seconds >= 1, not {text!r}")
    return int(text)


# ---- check failures: cursor and one tick ---------------------------------------------------------------

@dataclass(frozen=True)
class AlertCursor:
    """Every execution record with id <= `after` is handled; `sent` are ids above it already alerted."""

    after: int = 0
    sent: tuple[int, ...] = ()

    def to_json(self) -> str:
        return json.dumps({"after": self.after, "sent": list(self.sent)})

    @classmethod
    def from_json(cls, text: str | None) -> "AlertCursor":
        if not text:
            return cls()
        data = json.loads(text)
        return cls(after=int(data.get("after", 0)), sent=tuple(int(i) for i in data.get("sent", ())))


@dataclass(frozen=True)
class TickReport:
    """What one tick did: the new cursor, the alerts delivered, what is left for later and why."""

    cursor: AlertCursor
    delivered: list[Alert] = field(default_factory=list)
    pending: int = 0  # failed evaluations not alerted yet (delivery failed, or over the per-tick limit)
    in_progress: int = 0  # evaluations planned in runs that are still going
    errors: list[str] = field(default_factory=list)

    def summary(self) -> str:
        text = f"{len(self.delivered)} alert(s) sent"
        if self.pending:
            text += f"; {self.pending} failed check(s) pending, retried next tick"
        if self.in_progress:
            text += f"; {self.in_progress} check(s) still running"
        if self.errors:
            text += f"; delivery failed: {self.errors[0]}"
        return text


def records_after(instance: DagsterInstance, keys: Iterable[AssetCheckKey],
                  after: int) -> list[CheckRecord]:
    """Execution records of `keys` with after < id <= the newest id when the call started, oldest first.

    The ceiling is read first, so a record written while the keys are scanned one by one is left for the
    next call instead of being overtaken by a newer one of a key scanned later.
    """
    keys = list(keys)
    newest = [check_records(instance, key, limit=1) for key in keys]
    ceiling = max((page[0].id for page in newest if page), default=after)
    found = []
    for key in keys:
        cursor = None
        while True:
            page = check_records(instance, key, limit=_PAGE, cursor=cursor)
            fresh = [r for r in page if after < r.id <= ceiling]
            found += fresh
            if len(page) < _PAGE or page[-1].id <= after:
                break
            cursor = page[-1].id
    return sorted(found, key=lambda r: r.id)


def check_alert(record: CheckRecord, link: str | None = None) -> Alert:
    """The alert for a failed check evaluation: group, check, partition(s), severity and what was observed."""
    evaluation = record_evaluation(record)
    group = evaluation.asset_key.path[-1]
    severity = Severity.ERROR if evaluation.severity is AssetCheckSeverity.ERROR else Severity.WARN
    text = evaluation.description or f"check {evaluation.check_name} did not pass"
    report = (evaluation.metadata or {}).get("drift_report")
    if report is not None:
        text += f"\nDrift report: {report.value}"
    return Alert(title=f"{group}: check {evaluation.check_name} failed", text=_cut(text), severity=severity,
                 group=group, check=evaluation.check_name, run_id=record.run_id,
                 partition=covered_label(evaluation.partition, record_metadata(record)), link=link)


def process_check_failures(instance: DagsterInstance, keys: Sequence[AssetCheckKey], cursor: AlertCursor,
                           sink: AlertSink, *, link_for: Callable[[str], str | None] = lambda run_id: None,
                           max_alerts: int = 50, stale_after_seconds: float = 86_400.0,
                           log: logging.Logger | None = None) -> TickReport:
    """Alert each failed evaluation after `cursor` once, oldest first; the cursor to store next.

    A planned evaluation holds the cursor while its run is going, for at most `stale_after_seconds`.
    """
    log = log or logging.getLogger(__name__)
    sent = set(cursor.sent)
    holds: list[int] = []
    delivered: list[Alert] = []
    errors: list[str] = []
    pending = in_progress = 0
    finished: dict[str, bool] = {}
    records = records_after(instance, keys, cursor.after)
    for record in records:
        if record.id in sent or record.status is CheckRecordStatus.SUCCEEDED:
            continue
        if record.status is CheckRecordStatus.PLANNED:
            stale = time.time() - record.create_timestamp > stale_after_seconds
            if not stale and not _run_finished(instance, record.run_id, finished):  # an evaluation may come
                holds.append(record.id)
                in_progress += 1
            continue  # a finished run's planned row: no evaluation will come (the run failure is alerted)
        if errors or len(delivered) >= max_alerts:
            holds.append(record.id)
            pending += 1
            continue
        alert = check_alert(record, link_for(record.run_id))
        try:
            sink.send(alert)
        except Exception as exc:  # AlertDeliveryError after the sink's retries, or any sink bug
            errors.append(str(exc))
            holds.append(record.id)
            pending += 1
            log.error("alert %r not delivered (%s); kept for the next tick", alert.title, exc)
            continue
        sent.add(record.id)
        delivered.append(alert)
    newest = max((r.id for r in records), default=cursor.after)
    after = min(holds) - 1 if holds else max(newest, cursor.after)
    next_cursor = AlertCursor(after=after, sent=tuple(sorted(i for i in sent if i > after)))
    return TickReport(next_cursor, delivered, pending, in_progress, errors)


def _run_finished(instance: DagsterInstance, run_id: str, cache: dict[str, bool]) -> bool:
    if run_id not in cache:
        run = instance.get_run_by_id(run_id)
        cache[run_id] = run is None or run.is_finished
    return cache[run_id]


def build_check_alert_sensor(check_keys: Sequence[AssetCheckKey] | None = None, *,
                             name: str = CHECK_ALERTS_SENSOR, minimum_interval_seconds: int | None = None,
                             max_alerts_per_tick: int = 50,
                             default_status: DefaultSensorStatus | None = None) -> SensorDefinition:
    """A sensor alerting every failed evaluation of `check_keys` (default: every check in the code location)
    once, through the `alerts` resource (AlertSinkResource)."""

    @sensor(name=name, minimum_interval_seconds=minimum_interval_seconds or sensor_interval(60),
            default_status=default_status or default_sensor_status(),
            description="Sends an alert for each failed asset-check evaluation, exactly once")
    def _check_alerts(context: SensorEvaluationContext, alerts: AlertSinkResource) -> SensorResult:
        keys = list(check_keys) if check_keys is not None else sorted(
            context.repository_def.asset_graph.asset_check_keys, key=lambda k: k.to_user_string())
        report = process_check_failures(context.instance, keys, AlertCursor.from_json(context.cursor),
                                        alerts.get_sink(), link_for=alerts.run_link,
                                        max_alerts=max_alerts_per_tick, log=context.log)
        for alert in report.delivered:
            context.log.info(f"alert sent: {alert.title} [{alert.severity.value}] partition {alert.partition}")
        return SensorResult(cursor=report.cursor.to_json(), skip_reason=SkipReason(report.summary()))

    return _check_alerts


# ---- failed runs ---------------------------------------------------------------------------------------

def run_failure_alert(context: RunFailureSensorContext, link: str | None = None) -> Alert:
    """The alert for a failed run: job, what it materialised, partition(s) and the step errors."""
    run = context.dagster_run
    assets = sorted(k.path[-1] for k in (run.asset_selection or _planned_assets(context.instance, run.run_id)))
    tags = run.tags
    first, last = partition_range_of(tags)
    partition = "(unpartitioned)" if first is None else (first if first == last else f"{first}..{last}")
    lines = [context.failure_event.message or f"run {run.run_id} failed"]
    for event in context.get_step_failure_events():
        lines.append(f"step {event.step_key}: {_failure_message(event.event_specific_data)}")
    what = run.job_name
    if what.startswith("__ASSET_JOB"):  # a backfill or UI launch of assets: name them, not the implicit job
        what = "materialisation of " + (", ".join(assets) or "assets")
    return Alert(title=f"run of {what} failed", text=_cut("\n".join(lines)), severity=Severity.ERROR,
                 group=", ".join(assets) or run.job_name, check="run_failure", run_id=run.run_id,
                 partition=partition, link=link)


def _failure_message(data) -> str:
    """A step failure's own message: the user Failure's description, else the innermost error's first lines."""
    user = getattr(data, "user_failure_data", None)
    if user is not None and user.description:
        return user.description
    error = getattr(data, "error", None)
    while error is not None and error.cause is not None:
        error = error.cause
    return " ".join(error.message.strip().splitlines()[:3]) if error is not None else "unknown error"


def _planned_assets(instance: DagsterInstance, run_id: str) -> set:
    """Assets a run planned to materialise (runs launched without an explicit asset selection)."""
    records = instance.get_records_for_run(run_id, of_type=DagsterEventType.ASSET_MATERIALIZATION_PLANNED).records
    return {r.event_log_entry.dagster_event.asset_key for r in records if r.event_log_entry.dagster_event}


def build_run_failure_alert_sensor(*, name: str = RUN_FAILURE_SENSOR, minimum_interval_seconds: int | None = None,
                                   default_status: DefaultSensorStatus | None = None) -> SensorDefinition:
    """A run-failure sensor sending one alert per failed run through the `alerts` resource. An alert the
    sink does not take is logged and kept in the resource's undelivered file (Dagster's run-status cursor
    moves on either way)."""

    @run_failure_sensor(name=name, default_status=default_status or default_sensor_status(),
                        minimum_interval_seconds=minimum_interval_seconds or sensor_interval(30),
                        description="Sends an alert for each failed run")
    def _run_failure_alerts(context: RunFailureSensorContext, alerts: AlertSinkResource) -> None:
        alert = run_failure_alert(context, alerts.run_link(context.dagster_run.run_id))
        try:
            alerts.get_sink().send(alert)
        except Exception as exc:
            kept = alerts.keep_undelivered(alert, exc)
            context.log.error(f"alert {alert.title!r} not delivered ({exc}); "
                              + (f"kept in {kept}" if kept else "and it could not be kept"))
            return
        context.log.info(f"alert sent: {alert.title}")

    return _run_failure_alerts


def _cut(text: str, limit: int = _TEXT_LIMIT) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = ["SENSOR_INTERVAL_ENV", "AlertCursor", "TickReport", "build_check_alert_sensor",
           "build_run_failure_alert_sensor", "check_alert", "process_check_failures", "records_after",
           "run_failure_alert", "sensor_interval"]
