"""Alerts and where they go: a JSONL file (default) or a Slack-compatible incoming webhook. Pure Python.

`WebhookAlertSink` POSTs {"text": ..., "blocks": [...]} with urllib, a per-operation timeout, an overall
deadline, and retries with exponential backoff on connection errors, timeouts, 429 and 5xx (not on other 4xx).
After the last attempt (or at the deadline) it raises `AlertDeliveryError`, so the caller can report it and
keep the alert (e.g. in a JsonlAlertSink). The webhook URL is a secret: it never appears in messages, logs,
repr or records (only scheme://host/***); a URL urllib would reject (space, tab, control character) is
refused at construction with a masked `WebhookConfigError`.
"""

from __future__ import annotations

import http.client
import json
import logging
import re
import socket
import threading
import time
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Callable, Iterable
from dataclasses import asdict, dataclass, field
from datetime import datetime, timezone
from pathlib import Path
from typing import Any, Protocol

from featurestore.errors import FeatureStoreError
from quality import Level, Severity

log = logging.getLogger(__name__)
_EMOJI = {Severity.ERROR: ":red_circle:", Severity.WARN: ":warning:"}


class AlertDeliveryError(FeatureStoreError):
    """An alert could not be delivered (after retries); the message names the sink, never its secret."""


@dataclass(frozen=True)
class Alert:
    """One thing a human should look at."""

    title: str
    text: str
    severity: Severity
    group: str
    check: str
    run_id: str | None = None
    partition: str | None = None
    link: str | None = None
    created_at: str = field(default_factory=lambda: datetime.now(timezone.utc).isoformat(timespec="seconds"))

    def __post_init__(self) -> None:
        object.__setattr__(self, "severity", Severity(self.severity))

    def to_dict(self) -> dict[str, Any]:
        return {**asdict(self), "severity": self.severity.value}

    def to_slack(self) -> dict[str, Any]:
        """Body for a Slack incoming webhook: fallback `text` plus Block Kit `blocks` (within Slack limits)."""
        headline = f"[{self.severity.value}] {self.title}"
        facts = [("Group", self.group), ("Check", self.check), ("Partition", self.partition), ("Run", self.run_id)]
        blocks: list[dict[str, Any]] = [
            {"type": "header", "text": {"type": "plain_text", "text": _cut(headline, 150)}},
            {"type": "section", "text": {"type": "mrkdwn", "text": _cut(_mrkdwn(self.text) or " ", 3000)}},
            {"type": "section", "fields": [{"type": "mrkdwn", "text": _cut(f"*{k}*\n{_mrkdwn(v)}", 2000)}
                                           for k, v in facts if v]},
        ]
        if self.link:
            blocks.append({"type": "context", "elements": [
                {"type": "mrkdwn", "text": _cut(f"<{self.link}|Open run>", 3000)}]})
        return {"text": _cut(f"{_EMOJI[self.severity]} {headline}: {self.text}", 3000), "blocks": blocks}


class AlertSink(Protocol):
    def send(self, alert: Alert) -> None: ...


class JsonlAlertSink:
    """Appends one JSON object per alert to a local file (parent folders created)."""

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock = threading.Lock()

    def send(self, alert: Alert) -> None:
        line = json.dumps(alert.to_dict(), ensure_ascii=False, default=str) + "\n"
        try:
            with self._lock:
                self.path.parent.mkdir(parents=True, exist_ok=True)
                with self.path.open("a", encoding="utf-8") as out:
                    out.write(line)
        except OSError as exc:
            raise AlertDeliveryError(f"could not append alert to {self.path}: {exc}") from exc

    def __repr__(self) -> str:
        return f"JsonlAlertSink({str(self.path)!r})"


class WebhookConfigError(FeatureStoreError, ValueError):
    """The webhook sink's configuration is invalid; the message shows the URL masked (scheme://host/***)."""


# http.client refuses these anywhere in a URL (and would echo the URL in its error): control characters,
# space and DEL. Refused at construction instead, with the URL masked.
_BAD_URL_CHARS = re.compile(r"[\x00-\x20\x7f]")
_MAX_RESPONSE_BYTES = 64 * 1024


class WebhookAlertSink:
    """POSTs alerts as Slack-compatible JSON; retries `attempts` times in all, waiting
    base_delay * 2**(n-1) (capped at max_delay, or Retry-After on 429) between attempts.

    `timeout` bounds each socket operation; `deadline` bounds the whole `send()` (every attempt and every
    wait): a server that never answers or drips its answer byte by byte cannot hold the caller longer
    (the request runs in a worker thread whose socket is shut down at the deadline). Every failure is
    an `AlertDeliveryError` whose text never holds the URL's path, query or credentials.
    """

    def __init__(self, url: str, *, timeout: float = 10.0, attempts: int = 4, base_delay: float = 1.0,
                 max_delay: float = 30.0, deadline: float = 60.0, sleep: Callable[[float], None] = time.sleep):
        if not isinstance(url, str):
            raise WebhookConfigError(f"webhook URL must be a string, not {type(url).__name__}")
        masked = _mask(url)
        try:
            parsed = urllib.parse.urlsplit(url)
            parsed.port  # noqa: B018 - raises ValueError on a bad port
        except ValueError:
            raise WebhookConfigError(f"webhook URL is not a valid URL: {masked}") from None
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise WebhookConfigError(f"webhook URL must be http(s)://host/...; got {masked}")
        if _BAD_URL_CHARS.search(url):
            raise WebhookConfigError(f"webhook URL {masked} contains a space, tab or control character; "
                                     "check the variable that holds it (a stray newline or space?)")
        if attempts < 1 or timeout <= 0 or base_delay < 0 or max_delay < 0 or deadline <= 0:
            raise WebhookConfigError("attempts >= 1, timeout > 0, deadline > 0 and delays >= 0 are required")
        self.__url = url
        self.__secrets = _secret_parts(url)
        self.timeout, self.attempts, self.base_delay, self.max_delay = timeout, attempts, base_delay, max_delay
        self.deadline = deadline
        self._sleep = sleep

    @property
    def masked_url(self) -> str:
        return _mask(self.__url)

    def __repr__(self) -> str:
        return (f"WebhookAlertSink({self.masked_url!r}, attempts={self.attempts}, timeout={self.timeout}, "
                f"deadline={self.deadline})")

    def send(self, alert: Alert) -> None:
        body = json.dumps(alert.to_slack(), ensure_ascii=False, default=str).encode("utf-8")
        ends = time.monotonic() + self.deadline
        last, attempt = "no attempt made", 0
        while attempt < self.attempts:
            remaining = ends - time.monotonic()
            if remaining <= 0:
                last += f"; overall deadline of {self.deadline:g}s reached"
                break
            attempt += 1
            retry_after, retryable = None, True
            try:
                self._post(body, remaining)
                return
            except _Failure as failure:
                last, retryable, retry_after = failure.text, failure.retryable, failure.retry_after
            if not retryable or attempt == self.attempts:
                break
            delay = min(retry_after if retry_after is not None else self.base_delay * 2 ** (attempt - 1),
                        self.max_delay)
            if delay >= ends - time.monotonic():
                last += f"; overall deadline of {self.deadline:g}s reached"
                break
            log.warning("alert %r to %s failed (%s); attempt %d/%d, retrying in %.2fs",
                        self.scrub(alert.title), self.masked_url, last, attempt, self.attempts, delay)
            self._sleep(delay)
        tries = f"{attempt} attempt{'s' if attempt != 1 else ''}"
        # built outside any except block: no __cause__ / __context__ carrying an unmasked exception
        raise AlertDeliveryError(self.scrub(f"webhook {self.masked_url}: alert {alert.title!r} not delivered "
                                            f"after {tries}: {last}"))

    def _post(self, body: bytes, budget: float) -> None:
        """One POST, within `budget` seconds overall; raises _Failure (masked text) unless it got a 2xx."""
        connections: list[http.client.HTTPConnection] = []
        aborted = threading.Event()
        outcome: dict[str, Any] = {}
        timeout = min(self.timeout, budget)

        def work() -> None:
            try:
                opener = urllib.request.build_opener(_TrackedHTTPHandler(connections, aborted),
                                                     _TrackedHTTPSHandler(connections, aborted), _NoRedirects())
                request = urllib.request.Request(self.__url, data=body, method="POST",
                                                 headers={"Content-Type": "application/json; charset=utf-8"})
                with opener.open(request, timeout=timeout) as response:
                    response.read(_MAX_RESPONSE_BYTES)
                outcome["ok"] = True
            except BaseException as exc:  # noqa: BLE001 - classified (and masked) by the caller
                outcome["error"] = exc

        worker = threading.Thread(target=work, name="webhook-post", daemon=True)
        worker.start()
        worker.join(budget)
        if worker.is_alive():
            aborted.set()  # a connection made from now on is refused by the tracking factory
            for _ in range(3):  # again, in case a socket was being connected while we closed
                for connection in list(connections):
                    _abort(connection)
                worker.join(0.1)
                if not worker.is_alive():
                    break
            raise _Failure(f"no complete answer within {budget:.2f}s (the overall deadline)", retryable=True)
        if outcome.get("ok"):
            return
        raise self._classify(outcome.get("error"))

    def _classify(self, exc: BaseException | None) -> _Failure:
        if isinstance(exc, urllib.error.HTTPError):
            retry_after = _seconds(exc.headers.get("Retry-After")) if exc.headers else None
            text = self.scrub(f"HTTP {exc.code} {exc.reason}")
            exc.close()
            return _Failure(text, exc.code == 429 or exc.code >= 500, retry_after)
        if isinstance(exc, (urllib.error.URLError, TimeoutError, OSError, http.client.HTTPException)):
            reason = getattr(exc, "reason", exc)
            # InvalidURL and friends are HTTPExceptions too; retrying them does not help
            retryable = not isinstance(exc, (http.client.InvalidURL, ValueError)) and not isinstance(
                reason, (http.client.InvalidURL, ValueError))
            return _Failure(f"{type(exc).__name__}: {self.scrub(reason)}", retryable)
        return _Failure(f"{type(exc).__name__}: {self.scrub(exc)}", False)

    def scrub(self, value: Any) -> str:
        """`value` as text with the URL, its path, query and credentials replaced by the masked URL or ***."""
        return scrub_secret(value, self.__url, _secrets=self.__secrets)


class _Failure(Exception):
    def __init__(self, text: str, retryable: bool, retry_after: float | None = None):
        super().__init__(text)
        self.text, self.retryable, self.retry_after = text, retryable, retry_after


class _TrackedHTTPHandler(urllib.request.HTTPHandler):
    """urllib's handler, remembering its connections so a deadline can shut their sockets."""

    def __init__(self, connections: list, aborted: threading.Event):
        super().__init__()
        self._connections, self._aborted = connections, aborted

    def http_open(self, req):
        return self.do_open(_tracking(http.client.HTTPConnection, self._connections, self._aborted), req)


class _TrackedHTTPSHandler(urllib.request.HTTPSHandler):
    def __init__(self, connections: list, aborted: threading.Event):
        super().__init__()
        self._connections, self._aborted = connections, aborted

    def https_open(self, req):
        return self.do_open(_tracking(http.client.HTTPSConnection, self._connections, self._aborted), req,
                            context=self._context, check_hostname=self._check_hostname)


def _tracking(cls: type, connections: list, aborted: threading.Event) -> Callable[..., http.client.HTTPConnection]:
    """A factory of `cls` connections that are remembered and refuse to connect once `aborted` is set
    (also when the deadline passes while the host name is being resolved)."""
    class Tracked(cls):  # type: ignore[misc, valid-type]
        def connect(self) -> None:
            if aborted.is_set():
                raise TimeoutError("deadline reached")
            super().connect()
            if aborted.is_set():
                _abort(self)
                raise TimeoutError("deadline reached")

    def make(*args: Any, **kwargs: Any) -> http.client.HTTPConnection:
        if aborted.is_set():
            raise TimeoutError("deadline reached")
        connection = Tracked(*args, **kwargs)
        connections.append(connection)
        return connection
    return make


class _NoRedirects(urllib.request.HTTPRedirectHandler):
    """A webhook that redirects is misconfigured: urllib would turn the POST into a GET and report success
    with the alert lost. The 3xx is reported as a (not retried) failure instead."""

    def redirect_request(self, req, fp, code, msg, headers, newurl):  # noqa: ANN001 - urllib's signature
        return None


def _abort(connection: http.client.HTTPConnection) -> None:
    """Shut the connection's socket so a worker blocked on it returns at once."""
    sock = connection.sock
    if sock is not None:
        try:
            sock.shutdown(socket.SHUT_RDWR)
        except OSError:
            pass
    try:
        connection.close()
    except OSError:
        pass


def _secret_parts(url: str) -> list[str]:
    """The fragments of a webhook URL that must never be shown, longest first (and their %-forms)."""
    try:
        parsed = urllib.parse.urlsplit(url)
    except ValueError:
        return [url]
    parts = {url, parsed.path, parsed.query, parsed.fragment, parsed.netloc if "@" in parsed.netloc else "",
             parsed.username or "", parsed.password or ""}
    if parsed.path:
        parts.add(parsed.path + ("?" + parsed.query if parsed.query else ""))
        parts.update(segment for segment in parsed.path.split("/") if len(segment) >= 8)
    if parsed.query:
        parts.update(value for _, value in urllib.parse.parse_qsl(parsed.query) if len(value) >= 8)
    expanded = set()
    for part in parts:
        if len(part) > 1:
            expanded.update({part, urllib.parse.quote(part), urllib.parse.quote(part, safe=""),
                             urllib.parse.unquote(part)})
    shown = _mask(url)
    return sorted((p for p in expanded if len(p) > 1 and p not in shown), key=len, reverse=True)


def scrub_secret(value: Any, url: str, *, _secrets: list[str] | None = None) -> str:
    """`value` as text with the webhook `url` replaced by its masked form and any of its path, query or
    credentials by ***: for text that may hold a secret URL (exceptions, alert records)."""
    text = str(value)
    if not url:
        return text
    text = text.replace(url, _mask(url))
    for part in _secrets if _secrets is not None else _secret_parts(url):
        if part in text:
            text = text.replace(part, "/***" if part.startswith("/") else "***")
    return text


def deliver(alert: Alert, sinks: Iterable[AlertSink]) -> list[AlertDeliveryError]:
    """Send `alert` to every sink; the failures, each already naming its sink (empty if all worked)."""
    failures = []
    for sink in sinks:
        try:
            sink.send(alert)
        except AlertDeliveryError as exc:
            failures.append(exc)
    return failures


def alerts_for(outcomes: Iterable[Any], *, run_id: str | None = None, partition: str | None = None,
               link: str | None = None) -> list[Alert]:
    """Alerts for the failed CheckOutcomes and the non-OK DriftOutcomes among `outcomes` (duck-typed)."""
    alerts = []
    for outcome in outcomes:
        if hasattr(outcome, "passed"):  # quality.gx_runner.CheckOutcome
            if outcome.passed:
                continue
            state = "errored" if outcome.error else "failed"
            alerts.append(Alert(title=f"{outcome.group}: check {outcome.name} {state}", text=outcome.summary(),
                                severity=outcome.severity, group=outcome.group, check=outcome.name,
                                run_id=run_id, partition=partition, link=link))
        elif hasattr(outcome, "level"):  # quality.drift.DriftOutcome
            if Level(outcome.level) is Level.OK:
                continue
            what = outcome.feature or "row volume"
            severity = Severity.ERROR if Level(outcome.level) is Level.ERROR else Severity.WARN
            alerts.append(Alert(title=f"{outcome.group}: drift in {what} ({outcome.statistic})",
                                text=outcome.summary(), severity=severity, group=outcome.group,
                                check=f"drift:{outcome.feature or 'rows'}:{outcome.statistic}",
                                run_id=run_id, partition=partition, link=link))
        else:
            raise TypeError(f"not a check or drift outcome: {outcome!r}")
    return alerts


def _mask(url: str) -> str:
    try:
        parsed = urllib.parse.urlsplit(str(url))
        host = parsed.hostname or "?"
        port = f":{parsed.port}" if parsed.port else ""
        return f"{parsed.scheme or '?'}://{host}{port}/***"
    except ValueError:
        return "<invalid url>"


def _seconds(value: str | None) -> float | None:
    try:
        return max(float(value), 0.0) if value is not None else None
    except ValueError:
        return None


def _mrkdwn(text: Any) -> str:
    return str(text).replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")


def _cut(text: str, limit: int) -> str:
    return text if len(text) <= limit else text[: limit - 1] + "…"


__all__ = ["Alert", "AlertDeliveryError", "AlertSink", "JsonlAlertSink", "WebhookAlertSink", "WebhookConfigError",
           "alerts_for", "deliver", "scrub_secret"]
