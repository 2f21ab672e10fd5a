"""A Slack-compatible incoming-webhook endpoint on 127.0.0.1 that keeps what it is sent: the demo's and the
end-to-end test's stand-in for Slack, so the alert sensors ticking under the Dagster daemon POST real alerts.

    with WebhookReceiver() as receiver:   # FEATURESTORE_ALERT_WEBHOOK_URL=receiver.url for the daemon
        ...
        receiver.wait_for(lambda alerts: len(alerts) >= 2, timeout=120)
"""

from __future__ import annotations

import html
import json
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from typing import Any


@dataclass(frozen=True)
class ReceivedAlert:
    """One POST: its JSON body, and the headline, text and facts (Group, Check, Partition, Run) read from its
    blocks."""

    body: dict[str, Any]
    received_at: float
    headline: str = ""
    facts: dict[str, str] = field(default_factory=dict)
    text: str = ""

    @classmethod
    def parse(cls, body: dict[str, Any]) -> ReceivedAlert:
        headline, facts, text = str(body.get("text", "")), {}, ""
        for block in body.get("blocks", []):
            if block.get("type") == "header":
                headline = block.get("text", {}).get("text", headline)
            elif block.get("type") == "section" and not text and isinstance(block.get("text"), dict):
                text = html.unescape(str(block["text"].get("text", ""))).strip()
            for item in block.get("fields", []):
                name, _, value = item.get("text", "").partition("\n")
                facts[name.strip("*")] = html.unescape(value)  # Slack mrkdwn escapes &, <, >
        return cls(body=body, received_at=time.time(), headline=headline, facts=facts, text=text)


class WebhookReceiver:
    """An HTTP server on 127.0.0.1 and a free port, answering 200 to every POST to `path` and keeping its body."""

    def __init__(self, path: str = "/services/featurestore-demo") -> None:
        self.path = path
        self._alerts: list[ReceivedAlert] = []
        self._lock = threading.Lock()
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:  # noqa: N802 - http.server's naming
                length = int(self.headers.get("Content-Length", 0))
                raw = self.rfile.read(length)
                if self.path != receiver.path:
                    self.send_response(404)
                    self.end_headers()
                    return
                try:
                    body = json.loads(raw.decode("utf-8"))
                except ValueError:
                    self.send_response(400)
                    self.end_headers()
                    return
                with receiver._lock:
                    receiver._alerts.append(ReceivedAlert.parse(body))
                self.send_response(200)
                self.send_header("Content-Type", "text/plain")
                self.end_headers()
                self.wfile.write(b"ok")

            def log_message(self, *args: object) -> None:  # quiet: no access log on the console
                return

        self._server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self._thread = threading.Thread(target=self._server.serve_forever, kwargs={"poll_interval": 0.1},
                                        daemon=True, name="webhook-receiver")

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self._server.server_address[1]}{self.path}"

    @property
    def alerts(self) -> list[ReceivedAlert]:
        with self._lock:
            return list(self._alerts)

    def wait_for(self, condition: Callable[[list[ReceivedAlert]], bool], timeout: float,
                 poll: float = 0.5) -> list[ReceivedAlert]:
        """The alerts once `condition(alerts)` holds, or what arrived when `timeout` passed."""
        deadline = time.monotonic() + timeout
        while not condition(self.alerts) and time.monotonic() < deadline:
            time.sleep(poll)
        return self.alerts

    def start(self) -> WebhookReceiver:
        self._thread.start()
        return self

    def stop(self) -> None:
        self._server.shutdown()
        self._server.server_close()

    def __enter__(self) -> WebhookReceiver:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


__all__ = ["ReceivedAlert", "WebhookReceiver"]
