"""The webhook sink against a real, misbehaving local server (raw sockets on 127.0.0.1, a free port):
every failure is an AlertDeliveryError within the overall deadline, and no error, log line or kept record
holds the URL's secret path."""

from __future__ import annotations

import json
import logging
import socket
import threading
import time

import pytest

from orchestration.alerts import AlertSinkResource
from quality import Severity
from quality.alerts import Alert, AlertDeliveryError, WebhookAlertSink, WebhookConfigError, scrub_secret

TOKEN = "xoxbS3cr3tT0k3nABCDEF"
SECRET_PATH = f"/services/T0FAULTS/B0FAULTS/{TOKEN}"


def make_alert() -> Alert:
    return Alert(title="orders: check not_null failed", text="1 null key", severity=Severity.ERROR,
                 group="orders", check="not_null:customer_id")


class BadServer:
    """A TCP server on a free port that reads the request, then misbehaves as `mode` says:
    drip (one byte every `interval` s, forever), silent (never answers), close (hangs up), 500."""

    def __init__(self, mode: str, interval: float = 1.5):
        self.mode, self.interval, self.requests = mode, interval, 0
        self.stop = threading.Event()
        self.listener = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
        self.listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        self.listener.bind(("127.0.0.1", 0))
        self.listener.listen(16)
        self.listener.settimeout(0.05)
        self.url = f"http://127.0.0.1:{self.listener.getsockname()[1]}{SECRET_PATH}"
        self.threads = [threading.Thread(target=self._accept, daemon=True)]
        self.threads[0].start()

    def _accept(self) -> None:
        while not self.stop.is_set():
            try:
                conn, _ = self.listener.accept()
            except (TimeoutError, OSError):
                continue
            thread = threading.Thread(target=self._serve, args=(conn,), daemon=True)
            self.threads.append(thread)
            thread.start()

    def _serve(self, conn: socket.socket) -> None:
        with conn:
            conn.settimeout(5)
            try:
                data = b""
                while b"\r\n\r\n" not in data:
                    chunk = conn.recv(65536)
                    if not chunk:
                        return  # the client went away before finishing its request
                    data += chunk
                self.requests += 1
                if self.mode == "close":
                    return
                if self.mode == "redirect":
                    conn.sendall(b"HTTP/1.1 302 Found\r\nLocation: http://127.0.0.1:9/elsewhere\r\n"
                                 b"Content-Length: 0\r\nConnection: close\r\n\r\n")
                    return
                if self.mode == "500":
                    conn.sendall(b"HTTP/1.1 500 Internal Server Error\r\nContent-Length: 5\r\n"
                                 b"Connection: close\r\n\r\nerror")
                    return
                if self.mode == "drip":
                    reply = b"HTTP/1.1 200 OK\r\nContent-Length: 1000\r\n\r\n" + b"o" * 1000
                    for byte in reply:
                        if self.stop.wait(self.interval):
                            return
                        conn.sendall(bytes([byte]))
                self.stop.wait(60)  # silent: never answer
            except OSError:
                return

    def close(self) -> None:
        self.stop.set()
        self.listener.close()
        for thread in self.threads:
            thread.join(2)


@pytest.fixture
def bad_server():
    servers = []

    def make(mode: str, **kwargs) -> BadServer:
        servers.append(BadServer(mode, **kwargs))
        return servers[-1]

    yield make
    for server in servers:
        server.close()


def assert_no_secret(*texts: str) -> None:
    for text in texts:
        assert TOKEN not in text and SECRET_PATH not in text and "T0FAULTS" not in text, text


@pytest.mark.parametrize("mode", ["drip", "silent"])
def test_a_dripping_or_silent_server_cannot_hold_send_beyond_the_deadline(bad_server, caplog, mode):
    server = bad_server(mode, interval=1.5)
    sink = WebhookAlertSink(server.url, timeout=5.0, attempts=3, base_delay=0.05, deadline=2.0)
    started = time.monotonic()
    with caplog.at_level(logging.DEBUG, logger="quality.alerts"):
        with pytest.raises(AlertDeliveryError) as failure:
            sink.send(make_alert())
    elapsed = time.monotonic() - started
    assert elapsed < 2.0 + 1.5, f"send() took {elapsed:.2f}s with a 2s deadline"
    assert "deadline" in str(failure.value) and "127.0.0.1" in str(failure.value)
    assert failure.value.__cause__ is None and failure.value.__context__ is None
    assert_no_secret(str(failure.value), caplog.text)
    # the worker thread was released (its socket shut), not left dripping in the background
    time.sleep(0.2)
    assert not [t for t in threading.enumerate() if t.name == "webhook-post"]


@pytest.mark.parametrize("mode", ["close", "500"])
def test_a_server_that_hangs_up_or_fails_is_retried_then_reported_masked(bad_server, caplog, mode):
    server = bad_server(mode)
    sink = WebhookAlertSink(server.url, timeout=2.0, attempts=3, base_delay=0.01, deadline=10.0)
    with caplog.at_level(logging.DEBUG, logger="quality.alerts"):
        with pytest.raises(AlertDeliveryError, match="3 attempts") as failure:
            sink.send(make_alert())
    assert server.requests == 3
    if mode == "500":
        assert "HTTP 500" in str(failure.value)
    else:
        assert "RemoteDisconnected" in str(failure.value) or "Connection" in str(failure.value)
    assert_no_secret(str(failure.value), caplog.text)


def test_backoff_is_cut_short_by_the_deadline(bad_server):
    server = bad_server("500")
    sink = WebhookAlertSink(server.url, timeout=1.0, attempts=10, base_delay=5.0, deadline=1.0)
    started = time.monotonic()
    with pytest.raises(AlertDeliveryError, match="1 attempt: HTTP 500.*deadline"):
        sink.send(make_alert())
    assert time.monotonic() - started < 1.0


@pytest.mark.parametrize("bad", [" ", "\t", "\n", "\x00"])
def test_a_url_with_a_space_tab_or_control_character_is_refused_masked(bad):
    url = f"https://hooks.example.com/services/T0FAULTS/B0FAULTS/{TOKEN[:8]}{bad}{TOKEN[8:]}"
    with pytest.raises(WebhookConfigError) as refused:
        WebhookAlertSink(url)
    assert isinstance(refused.value, ValueError)
    assert "hooks.example.com/***" in str(refused.value)
    assert_no_secret(str(refused.value))
    assert TOKEN[:8] not in str(refused.value) and TOKEN[8:] not in str(refused.value)
    assert refused.value.__cause__ is None and refused.value.__context__ is None


@pytest.mark.parametrize("url", ["https://hooks.example.com:99999/services/" + TOKEN,
                                 "https://[::1/services/" + TOKEN, "mailto:" + TOKEN])
def test_a_malformed_url_is_refused_masked(url):
    with pytest.raises(WebhookConfigError) as refused:
        WebhookAlertSink(url)
    assert_no_secret(str(refused.value))


def test_scrub_removes_the_url_its_path_query_and_credentials():
    url = f"https://bot:pa55w0rdXYZ@hooks.example.com{SECRET_PATH}?token=q5ecr3tQu3ry"
    text = (f"failed {url}; path {SECRET_PATH}; quoted {SECRET_PATH.replace('/', '%2F')}; "
            f"token {TOKEN}; query q5ecr3tQu3ry; pass pa55w0rdXYZ")
    scrubbed = scrub_secret(text, url)
    for secret in (TOKEN, "T0FAULTS", "q5ecr3tQu3ry", "pa55w0rdXYZ"):
        assert secret not in scrubbed
    assert "https://hooks.example.com/***" in scrubbed


def test_an_undelivered_alert_is_kept_without_the_secret(bad_server, tmp_path):
    server = bad_server("500")
    resource = AlertSinkResource(webhook_url=server.url, undelivered_path=str(tmp_path / "undelivered.jsonl"),
                                 attempts=1, timeout_seconds=2.0, deadline_seconds=5.0)
    with pytest.raises(AlertDeliveryError) as failure:
        resource.get_sink().send(make_alert())
    # a raw exception from a buggy sink (or anything else) that quotes the URL is scrubbed too
    for error in (failure.value, RuntimeError(f"boom at {server.url}"), ValueError(f"bad path {SECRET_PATH}")):
        assert resource.keep_undelivered(make_alert(), error) is not None
    text = (tmp_path / "undelivered.jsonl").read_text(encoding="utf-8")
    records = [json.loads(line) for line in text.splitlines()]
    assert len(records) == 3 and all("[undelivered:" in r["text"] for r in records)
    assert "HTTP 500" in records[0]["text"]
    assert_no_secret(text, repr(resource), resource.describe())


def test_a_resource_with_a_bad_url_fails_masked_and_keeps_the_alert_masked(tmp_path):
    url = f"https://hooks.example.com/services/T0FAULTS/B0FAULTS/{TOKEN}\t"
    resource = AlertSinkResource(webhook_url=url, undelivered_path=str(tmp_path / "undelivered.jsonl"))
    with pytest.raises(WebhookConfigError) as refused:  # what both sensors see (and log) instead of InvalidURL
        resource.get_sink().send(make_alert())
    assert resource.keep_undelivered(make_alert(), refused.value) is not None
    assert_no_secret(str(refused.value), (tmp_path / "undelivered.jsonl").read_text(encoding="utf-8"),
                     repr(resource))


def test_an_https_server_that_speaks_plain_http_fails_masked(bad_server):
    server = bad_server("500")  # TLS handshake against a plain-HTTP server: an SSL error, retried, masked
    sink = WebhookAlertSink(server.url.replace("http://", "https://"), timeout=0.5, attempts=2, base_delay=0.01,
                            deadline=5.0)
    with pytest.raises(AlertDeliveryError, match="2 attempts") as failure:
        sink.send(make_alert())
    assert "SSL" in str(failure.value) or "URLError" in str(failure.value)
    assert_no_secret(str(failure.value))


def test_a_redirect_is_a_failure_not_a_silent_get(bad_server):
    server = bad_server("redirect")  # urllib would follow it as a GET and call the lost alert delivered
    with pytest.raises(AlertDeliveryError, match="1 attempt: HTTP 302") as failure:
        WebhookAlertSink(server.url, timeout=2.0, attempts=3, base_delay=0.01).send(make_alert())
    assert server.requests == 1
    assert_no_secret(str(failure.value))
