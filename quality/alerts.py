"""Alerts and where they go: a JSONL file (default) or a Slack-compatible incoming webhook. Pure Python.

`WebhookAlertSink` POSTs {"text": ..., "blocks": [...]} with urllib, a timeout, and retries with exponential
backoff on connection errors, timeouts, 429 and 5xx (not on other 4xx). After the last attempt it raises
`AlertDeliveryError`, so the caller can report it and keep the alert (e.g. in a JsonlAlertSink). The webhook
URL is a secret: it never appears in messages, logs or repr (only scheme://host/***).
"""

from __future__ import annotations

import json
import logging
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


class WebhookAlertSink:
    """POSTs alerts as Slack-compatible JSON; retries `attempts` times in all, waiting
    base_delay * 2**(n-1) (capped at max_delay, or Retry-After on 429) between attempts."""

    def __init__(self, url: str, *, timeout: float = 10.0, attempts: int = 4, base_delay: float = 1.0,
                 max_delay: float = 30.0, sleep: Callable[[float], None] = time.sleep):
        parsed = urllib.parse.urlsplit(url)
        if parsed.scheme not in ("http", "https") or not parsed.hostname:
            raise ValueError(f"webhook URL must be http(s)://host/...; got {_mask(url)}")
        if attempts < 1 or timeout <= 0 or base_delay < 0 or max_delay < 0:
            raise ValueError("attempts >= 1, timeout > 0 and delays >= 0 are required")
        self.__url = url
        self.timeout, self.attempts, self.base_delay, self.max_delay = timeout, attempts, base_delay, max_delay
        self._sleep = sleep

    @property
    def masked_url(self) -> str:
        return _mask(self.__url)

    def __repr__(self) -> str:
        return f"WebhookAlertSink({self.masked_url!r}, attempts={self.attempts}, timeout={self.timeout})"

    def send(self, alert: Alert) -> None:
        body = json.dumps(alert.to_slack(), ensure_ascii=False, default=str).encode("utf-8")
        last = "no attempt made"
        for attempt in range(1, self.attempts + 1):
            retry_after, retryable = None, True
            try:
                request = urllib.request.Request(self.__url, data=body, method="POST",
                                                 headers={"Content-Type": "application/json; charset=utf-8"})
                with urllib.request.urlopen(request, timeout=self.timeout) as response:
                    response.read()
                return
            except urllib.error.HTTPError as exc:
                last = f"HTTP {exc.code} {exc.reason}"
                retryable = exc.code == 429 or exc.code >= 500
                retry_after = _seconds(exc.headers.get("Retry-After")) if exc.headers else None
                exc.close()
            except (urllib.error.URLError, TimeoutError, OSError) as exc:
                reason = getattr(exc, "reason", exc)
                last = f"{type(exc).__name__}: {self._scrub(reason)}"
            if not retryable or attempt == self.attempts:
                break
            delay = min(retry_after if retry_after is not None else self.base_delay * 2 ** (attempt - 1),
                        self.max_delay)
            log.warning("alert %r to %s failed (%s); attempt %d/%d, retrying in %.2fs",
                        alert.title, self.masked_url, last, attempt, self.attempts, delay)
            self._sleep(delay)
        tries = f"{attempt} attempt{'s' if attempt != 1 else ''}"
        raise AlertDeliveryError(f"webhook {self.masked_url}: alert {alert.title!r} not delivered after "
                                 f"{tries}: {last}")

    def _scrub(self, value: Any) -> str:
        text = str(value)
        return text.replace(self.__url, self.masked_url) if self.__url in text else text


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


__all__ = ["Alert", "AlertDeliveryError", "AlertSink", "JsonlAlertSink", "WebhookAlertSink", "alerts_for",
           "deliver"]
