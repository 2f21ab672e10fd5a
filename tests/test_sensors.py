"""The alerting sensors on a persistent instance, with toy partitioned assets and checks (no Spark) and a real
webhook on 127.0.0.1: each failed check alerted once, cursor resume, retries and no loss, failed runs."""

from __future__ import annotations

import json
import logging
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import SimpleNamespace

import pytest
from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    DagsterInstance,
    DailyPartitionsDefinition,
    Definitions,
    EnvVar,
    MaterializeResult,
    asset,
    asset_check,
    build_sensor_context,
    define_asset_job,
    in_process_executor,
)

from jobs.sensors import (
    AlertCursor,
    build_check_alert_sensor,
    build_run_failure_alert_sensor,
    process_check_failures,
)
from orchestration.alerts import WEBHOOK_ENV_VAR, AlertSinkResource
from orchestration.dagster_internals import CheckRecordStatus

SECRET = "/hooks/T000/s3cr3t-t0k3n"
PARTITIONS = DailyPartitionsDefinition(start_date="2026-10-01", timezone="UTC")
VERDICTS: dict[str, tuple[bool, AssetCheckSeverity]] = {}  # partition -> (passed, severity) of the toy check


@asset(key=["features", "toy"], partitions_def=PARTITIONS)
def toy() -> MaterializeResult:
    return MaterializeResult(metadata={"rows_written": 3})


@asset_check(asset=toy, name="value_range", partitions_def=PARTITIONS)
def value_range(context) -> AssetCheckResult:
    passed, severity = VERDICTS.get(context.partition_key, (True, AssetCheckSeverity.ERROR))
    return AssetCheckResult(passed=passed, severity=severity,
                            description="ok" if passed else "observed -1, expected >= 0",
                            metadata={"observed": -1 if not passed else 1})


@asset(key=["features", "broken"])
def broken() -> None:
    raise RuntimeError("boom: the source table is gone")


DEFS = Definitions(
    assets=[toy, broken], asset_checks=[value_range],
    jobs=[define_asset_job("toy_job", selection=[toy.key], executor_def=in_process_executor),
          define_asset_job("broken_job", selection=[broken.key], executor_def=in_process_executor)],
    sensors=[build_check_alert_sensor(), build_run_failure_alert_sensor()])


class Webhook:
    """A local HTTP server recording POSTed JSON bodies; answers 503 while `down` is set."""

    def __init__(self):
        self.bodies: list[dict] = []
        self.attempts = 0
        self.down = False
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.attempts += 1
                status = 503 if hook.down else 200
                if not hook.down:
                    hook.bodies.append(json.loads(body))
                self.send_response(status)
                self.send_header("Content-Length", "2")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{SECRET}"
        threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True).start()

    def texts(self) -> list[str]:
        return [body["text"] for body in self.bodies]

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def instance(tmp_path):
    home = tmp_path / "dagster_home"
    home.mkdir()
    with DagsterInstance.local_temp(str(home)) as local:
        yield local


@pytest.fixture
def webhook():
    hook = Webhook()
    yield hook
    hook.close()


def run_toy(instance, partition: str, passed: bool, severity=AssetCheckSeverity.ERROR):
    VERDICTS[partition] = (passed, severity)
    result = DEFS.resolve_job_def("toy_job").execute_in_process(instance=instance, partition_key=partition)
    assert [e.passed for e in result.get_asset_check_evaluations()] == [passed]


def tick(instance, sensor_name: str, cursor: str | None, alerts: AlertSinkResource):
    context = build_sensor_context(instance=instance, cursor=cursor, definitions=DEFS,
                                   resources={"alerts": alerts})
    return DEFS.resolve_sensor_def(sensor_name).evaluate_tick(context)


def webhook_sink(monkeypatch, hook: Webhook) -> AlertSinkResource:
    monkeypatch.setenv(WEBHOOK_ENV_VAR, hook.url)
    return AlertSinkResource(webhook_url=EnvVar(WEBHOOK_ENV_VAR), attempts=3, base_delay_seconds=0.01,
                             timeout_seconds=2.0)


def test_each_failed_check_is_alerted_once_and_the_cursor_resumes(instance, webhook, monkeypatch):
    alerts = webhook_sink(monkeypatch, webhook)
    assert SECRET not in repr(alerts) and "***" in repr(alerts)
    run_toy(instance, "2026-10-01", passed=True)
    run_toy(instance, "2026-10-02", passed=False)
    run_toy(instance, "2026-10-03", passed=False, severity=AssetCheckSeverity.WARN)

    first = tick(instance, "check_failure_alerts", None, alerts)
    assert len(webhook.bodies) == 2 and first.skip_message.startswith("2 alert(s) sent")
    blocks = [json.dumps(body["blocks"]) for body in webhook.bodies]
    assert "2026-10-02" in blocks[0] and "value_range" in blocks[0] and "[ERROR]" in webhook.texts()[0]
    assert "2026-10-03" in blocks[1] and "[WARN]" in webhook.texts()[1]
    assert "observed -1" in webhook.texts()[0]

    again = tick(instance, "check_failure_alerts", first.cursor, alerts)
    assert len(webhook.bodies) == 2 and again.skip_message.startswith("0 alert(s) sent")

    # a restarted daemon starts from the stored cursor: nothing resent, the next failure sent once
    run_toy(instance, "2026-10-04", passed=False)
    run_toy(instance, "2026-10-05", passed=True)
    restarted = tick(instance, "check_failure_alerts", again.cursor, alerts)
    assert len(webhook.bodies) == 3 and "2026-10-04" in json.dumps(webhook.bodies[2]["blocks"])
    tick(instance, "check_failure_alerts", restarted.cursor, alerts)
    assert len(webhook.bodies) == 3


def test_a_failing_webhook_is_retried_reported_and_the_alert_is_not_lost(instance, webhook, monkeypatch, caplog,
                                                                         capfd):
    alerts = webhook_sink(monkeypatch, webhook)
    cursor = None
    run_toy(instance, "2026-10-06", passed=False)
    run_toy(instance, "2026-10-07", passed=False)

    webhook.down = True
    capfd.readouterr()
    with caplog.at_level(logging.WARNING):
        failed = tick(instance, "check_failure_alerts", cursor, alerts)
    assert webhook.attempts == 3 and not webhook.bodies  # 3 attempts for the first alert, then it stops
    assert "2 failed check(s) pending" in failed.skip_message and "HTTP 503" in failed.skip_message
    retries = [r.getMessage() for r in caplog.records if "retrying" in r.getMessage()]
    logged = capfd.readouterr().err  # the sensor's own log (dagster logger)
    assert len(retries) == 2 and "not delivered" in logged and "kept for the next tick" in logged
    assert SECRET not in logged + failed.skip_message + "".join(retries)
    assert AlertCursor.from_json(failed.cursor).sent == ()  # nothing handled past the undelivered alert

    still = tick(instance, "check_failure_alerts", failed.cursor, alerts)  # still down: still pending
    assert "2 failed check(s) pending" in still.skip_message and not webhook.bodies

    webhook.down = False
    recovered = tick(instance, "check_failure_alerts", still.cursor, alerts)
    assert recovered.skip_message.startswith("2 alert(s) sent")
    assert ["2026-10-06" in json.dumps(b["blocks"]) for b in webhook.bodies] == [True, False]
    tick(instance, "check_failure_alerts", recovered.cursor, alerts)
    assert len(webhook.bodies) == 2


def _record(id_: int, status: str, run_id: str, partition: str = "2026-10-01"):
    evaluation = AssetCheckEvaluation(asset_key=AssetKey(["features", "toy"]), check_name="value_range",
                                      passed=False, metadata={}, severity=AssetCheckSeverity.ERROR,
                                      description=f"failed in {run_id}", partition=partition)
    event = SimpleNamespace(dagster_event=SimpleNamespace(event_specific_data=evaluation))
    return SimpleNamespace(id=id_, status=CheckRecordStatus[status], run_id=run_id,
                           create_timestamp=9e18, event=event if status != "PLANNED" else None, partition=partition)


class FakeInstance:
    """Execution records of one check key and the runs' states, as the sensor reads them."""

    def __init__(self, records, running):
        self.records, self.running = records, running
        self.event_log_storage = self

    def get_asset_check_execution_history(self, key, limit, cursor=None, status=None):
        rows = sorted((r for r in self.records if cursor is None or r.id < cursor), key=lambda r: -r.id)
        return rows[:limit]

    def get_run_by_id(self, run_id):
        return SimpleNamespace(is_finished=run_id not in self.running)


class ListSink:
    def __init__(self):
        self.alerts = []

    def send(self, alert):
        self.alerts.append(alert)


def test_a_check_still_running_holds_the_cursor_so_its_later_failure_is_not_skipped():
    key = AssetCheckKey(AssetKey(["features", "toy"]), "value_range")
    records = [_record(1, "PLANNED", "run-a"), _record(2, "FAILED", "run-b"), _record(3, "PLANNED", "run-done")]
    instance, sink = FakeInstance(records, running={"run-a"}), ListSink()
    report = process_check_failures(instance, [key], AlertCursor(), sink)
    assert [a.run_id for a in sink.alerts] == ["run-b"]
    assert report.cursor == AlertCursor(after=0, sent=(2,)) and report.in_progress == 1

    records[0] = _record(1, "FAILED", "run-a")  # run-a's check completes after run-b's
    instance.running.clear()
    report = process_check_failures(instance, [key], report.cursor, sink)
    assert [a.run_id for a in sink.alerts] == ["run-b", "run-a"]
    assert report.cursor == AlertCursor(after=3, sent=())


def test_the_run_failure_sensor_alerts_each_failed_run(instance, tmp_path):
    alerts = AlertSinkResource(jsonl_path=str(tmp_path / "alerts.jsonl"))
    start = tick(instance, "run_failure_alerts", None, alerts)  # the first tick only sets the cursor
    result = DEFS.resolve_job_def("broken_job").execute_in_process(instance=instance, raise_on_error=False)
    assert not result.success

    after = tick(instance, "run_failure_alerts", start.cursor, alerts)
    lines = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert len(lines) == 1
    alert = lines[0]
    assert alert["title"] == "run of broken_job failed" and alert["severity"] == "ERROR"
    assert alert["run_id"] == result.run_id and alert["group"] == "broken" and "boom" in alert["text"]

    tick(instance, "run_failure_alerts", after.cursor, alerts)
    assert len((tmp_path / "alerts.jsonl").read_text().splitlines()) == 1


def test_sensor_interval_comes_from_the_environment_and_bad_values_are_refused(monkeypatch):
    from dagster import AssetSelection

    from jobs.automation import build_automation_sensor
    from jobs.freshness import build_freshness_sensor
    from jobs.sensors import SENSOR_INTERVAL_ENV, build_check_alert_sensor, build_run_failure_alert_sensor

    def intervals():
        return [build_check_alert_sensor().minimum_interval_seconds,
                build_run_failure_alert_sensor().minimum_interval_seconds,
                build_freshness_sensor([]).minimum_interval_seconds,
                build_automation_sensor(AssetSelection.all()).minimum_interval_seconds]

    monkeypatch.delenv(SENSOR_INTERVAL_ENV, raising=False)
    assert intervals() == [60, 30, 60, 30]
    monkeypatch.setenv(SENSOR_INTERVAL_ENV, "5")
    assert intervals() == [5, 5, 5, 5]
    assert build_check_alert_sensor(minimum_interval_seconds=90).minimum_interval_seconds == 90
    for bad in ("0", "-3", "fast", "1.5"):
        monkeypatch.setenv(SENSOR_INTERVAL_ENV, bad)
        with pytest.raises(ValueError, match=SENSOR_INTERVAL_ENV):
            build_check_alert_sensor()
