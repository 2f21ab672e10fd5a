"""quality.alerts: JSONL sink, Slack-style webhook sink against a real local HTTP server, retries."""

from __future__ import annotations

import json
import logging
import threading
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from quality import Level, Severity
from quality.alerts import Alert, AlertDeliveryError, JsonlAlertSink, WebhookAlertSink, alerts_for, deliver
from quality.drift import PSI, DriftOutcome
from quality.gx_runner import CheckOutcome

SECRET_PATH = "/services/T000/B000/s3cr3tT0k3n"


def make_alert(**overrides) -> Alert:
    fields = dict(title="orders: check not_null:customer_id failed", text="1 row with a null key <customer_id>",
                  severity=Severity.ERROR, group="orders", check="not_null:customer_id", run_id="run-1",
                  partition="2026-01-06", link="http://dagster.local/runs/run-1")
    return Alert(**{**fields, **overrides})


class Webhook:
    """A local HTTP server answering with the given status codes in turn (then 200), recording requests."""

    def __init__(self, statuses=(), delay: float = 0.0):
        self.statuses, self.delay, self.requests = list(statuses), delay, []
        hook = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self):
                body = self.rfile.read(int(self.headers["Content-Length"]))
                hook.requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
                if hook.delay:
                    time.sleep(hook.delay)
                status = hook.statuses.pop(0) if hook.statuses else 200
                payload = b"ok" if status == 200 else b"error"
                try:
                    self.send_response(status)
                    self.send_header("Content-Length", str(len(payload)))
                    self.end_headers()
                    self.wfile.write(payload)
                except OSError:
                    pass  # the client timed out and went away

            def log_message(self, *args):
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}{SECRET_PATH}"
        self.thread = threading.Thread(target=self.server.serve_forever, kwargs={"poll_interval": 0.05},
                                       daemon=True)
        self.thread.start()

    def close(self):
        self.server.shutdown()
        self.server.server_close()


@pytest.fixture
def webhook_factory():
    hooks = []

    def make(statuses=(), delay=0.0):
        hooks.append(Webhook(statuses, delay))
        return hooks[-1]

    yield make
    for hook in hooks:
        hook.close()


def fast_sink(url, **kwargs) -> WebhookAlertSink:
    return WebhookAlertSink(url, **{"timeout": 2.0, "attempts": 3, "base_delay": 0.01, **kwargs})


def test_jsonl_sink_appends_one_json_line_per_alert(tmp_path):
    sink = JsonlAlertSink(tmp_path / "alerts" / "alerts.jsonl")
    sink.send(make_alert())
    sink.send(make_alert(severity="WARN", check="in_set:channel"))
    lines = (tmp_path / "alerts" / "alerts.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 2
    first, second = map(json.loads, lines)
    assert first["severity"] == "ERROR" and second["severity"] == "WARN"
    assert {"title", "text", "group", "check", "run_id", "partition", "link", "created_at"} <= set(first)
    assert first["partition"] == "2026-01-06" and second["check"] == "in_set:channel"


def test_webhook_posts_slack_compatible_json(webhook_factory):
    hook = webhook_factory()
    fast_sink(hook.url).send(make_alert())
    assert len(hook.requests) == 1
    request = hook.requests[0]
    assert request["path"] == SECRET_PATH
    assert request["headers"]["Content-Type"].startswith("application/json")
    body = json.loads(request["body"])
    assert set(body) == {"text", "blocks"}
    assert "[ERROR] orders: check not_null:customer_id failed" in body["text"]
    header, section, facts, context = body["blocks"]
    assert header["type"] == "header" and header["text"]["type"] == "plain_text"
    assert section["text"] == {"type": "mrkdwn", "text": "1 row with a null key &lt;customer_id&gt;"}
    assert {"type": "mrkdwn", "text": "*Partition*\n2026-01-06"} in facts["fields"]
    assert "http://dagster.local/runs/run-1" in context["elements"][0]["text"]


def test_webhook_retries_until_the_server_recovers(webhook_factory):
    hook = webhook_factory(statuses=[500, 503])
    delays = []
    sink = fast_sink(hook.url, sleep=lambda s: (delays.append(s), time.sleep(s)))
    sink.send(make_alert())
    assert len(hook.requests) == 3
    assert len({r["body"] for r in hook.requests}) == 1
    assert delays == [0.01, 0.02]  # exponential backoff


def test_webhook_gives_up_with_a_clear_error_that_hides_the_url(webhook_factory, caplog):
    hook = webhook_factory(statuses=[500] * 10)
    sink = fast_sink(hook.url, attempts=3)
    with caplog.at_level(logging.DEBUG, logger="quality.alerts"):
        with pytest.raises(AlertDeliveryError) as failure:
            sink.send(make_alert())
    message = str(failure.value)
    assert len(hook.requests) == 3
    assert "3 attempts" in message and "HTTP 500" in message and "not delivered" in message
    assert "s3cr3tT0k3n" not in message and SECRET_PATH not in message
    assert "s3cr3tT0k3n" not in repr(sink) and "s3cr3tT0k3n" not in caplog.text
    assert "127.0.0.1" in message  # the host is named so the failure can be located
    assert failure.value.__cause__ is None and failure.value.__context__ is None


def test_client_errors_are_not_retried(webhook_factory):
    hook = webhook_factory(statuses=[400])
    with pytest.raises(AlertDeliveryError, match="1 attempt: HTTP 400"):
        fast_sink(hook.url).send(make_alert())
    assert len(hook.requests) == 1


def test_unreachable_and_slow_servers_fail_after_retries(webhook_factory):
    closed = webhook_factory()
    url = closed.url
    closed.close()
    with pytest.raises(AlertDeliveryError, match="2 attempts") as refused:
        fast_sink(url, attempts=2).send(make_alert())
    assert "s3cr3tT0k3n" not in str(refused.value)
    slow = webhook_factory(delay=0.5)
    with pytest.raises(AlertDeliveryError, match="2 attempts") as timed_out:
        fast_sink(slow.url, attempts=2, timeout=0.1).send(make_alert())
    assert "s3cr3tT0k3n" not in str(timed_out.value)


def test_deliver_keeps_going_and_reports_failures(webhook_factory, tmp_path):
    hook = webhook_factory(statuses=[500] * 10)
    keep = JsonlAlertSink(tmp_path / "alerts.jsonl")
    failures = deliver(make_alert(), [fast_sink(hook.url, attempts=1), keep])
    assert len(failures) == 1 and "s3cr3tT0k3n" not in str(failures[0])
    assert len((tmp_path / "alerts.jsonl").read_text().splitlines()) == 1


def test_invalid_webhook_configuration_is_refused_without_echoing_the_url():
    with pytest.raises(ValueError) as bad:
        WebhookAlertSink("ftp://hooks.example.com/services/s3cr3tT0k3n")
    assert "s3cr3tT0k3n" not in str(bad.value)
    with pytest.raises(ValueError):
        WebhookAlertSink("https://hooks.example.com/x", attempts=0)


def test_alerts_for_failed_checks_and_drift():
    failed = CheckOutcome(group="orders", name="between:amount", expectation_type="ExpectColumnValuesToBeBetween",
                          severity=Severity.WARN, passed=False, observed=2, unexpected_sample=(5000.0,))
    errored = CheckOutcome(group="orders", name="type:orders", expectation_type="ExpectColumnValuesToBeOfType",
                           severity=Severity.ERROR, passed=False, error="column(s) ['orders'] missing")
    passed = CheckOutcome(group="orders", name="row_count", expectation_type="ExpectTableRowCountToBeBetween",
                          severity=Severity.ERROR, passed=True)
    drift = DriftOutcome(group="orders", feature="amount", statistic=PSI, observed=0.7, warn_bounds=(None, 0.1),
                         error_bounds=(None, 0.25), level=Level.ERROR, reference_window="last 5 days")
    calm = DriftOutcome(group="orders", feature="qty", statistic=PSI, observed=0.01, warn_bounds=(None, 0.1),
                        error_bounds=(None, 0.25), level=Level.OK, reference_window="last 5 days")
    alerts = alerts_for([failed, errored, passed, drift, calm], run_id="r1", partition="2026-01-06")
    assert [(a.check, a.severity) for a in alerts] == [("between:amount", Severity.WARN),
                                                       ("type:orders", Severity.ERROR),
                                                       ("drift:amount:psi", Severity.ERROR)]
    assert "errored" in alerts[1].title and "missing" in alerts[1].text
    assert "psi=0.7" in alerts[2].text and "warn > 0.1, error > 0.25" in alerts[2].text
    assert all(a.run_id == "r1" and a.partition == "2026-01-06" for a in alerts)


def test_the_demo_receiver_reads_back_headline_text_and_facts_of_a_sent_alert():
    from orchestration.webhook_receiver import WebhookReceiver

    runless = make_alert(title="card: check freshness failed", run_id=None, partition=None,
                         text="card is stale: newest partition 2026-12-03-23:00 closed 18h ago\nmore")
    with WebhookReceiver() as receiver:
        sink = WebhookAlertSink(url=receiver.url)
        sink.send(make_alert())
        sink.send(runless)
        received = receiver.wait_for(lambda alerts: len(alerts) == 2, timeout=10)
    first, second = received
    assert first.headline == "[ERROR] orders: check not_null:customer_id failed"
    assert first.text == "1 row with a null key <customer_id>"
    assert first.facts == {"Group": "orders", "Check": "not_null:customer_id", "Partition": "2026-01-06",
                           "Run": "run-1"}
    assert second.text.startswith("card is stale: newest partition 2026-12-03-23:00") and "Run" not in second.facts
