"""The alert sink as a Dagster resource: a Slack-compatible webhook when configured, else a local JSONL file.

Configure the webhook with an environment variable (definitions use EnvVar("FEATURESTORE_ALERT_WEBHOOK_URL"),
so Dagster shows the variable's name, never its value); the URL is masked in repr, logs and errors. Without
it alerts are appended to data/alerts/alerts.jsonl, so the demo works offline. An alert the webhook does not
take after its retries is appended to `undelivered_path` by `keep_undelivered` (used where the caller cannot
retry it later).
"""

from collections.abc import Iterator
from pathlib import Path
from typing import Any

from dagster import ConfigurableResource

from orchestration.resources import DEFAULT_DATA_DIR
from quality.alerts import Alert, AlertDeliveryError, AlertSink, JsonlAlertSink, WebhookAlertSink, scrub_secret

WEBHOOK_ENV_VAR = "FEATURESTORE_ALERT_WEBHOOK_URL"
DEFAULT_ALERTS_FILE = DEFAULT_DATA_DIR / "alerts" / "alerts.jsonl"
DEFAULT_UNDELIVERED_FILE = DEFAULT_DATA_DIR / "alerts" / "undelivered.jsonl"


class AlertSinkResource(ConfigurableResource):
    """Where alerts go. `webhook_url` (a secret: give it as EnvVar) selects the webhook sink, which tries
    `attempts` times with exponential backoff from `base_delay_seconds`, each socket operation within
    `timeout_seconds` and the whole delivery within `deadline_seconds`; otherwise `jsonl_path`.
    `ui_url` (e.g. http://localhost:3000) adds a link to the run to each alert."""

    webhook_url: str = ""
    jsonl_path: str = str(DEFAULT_ALERTS_FILE)
    undelivered_path: str = str(DEFAULT_UNDELIVERED_FILE)
    attempts: int = 4
    timeout_seconds: float = 10.0
    deadline_seconds: float = 60.0
    base_delay_seconds: float = 1.0
    max_delay_seconds: float = 30.0
    ui_url: str = ""

    def __repr_args__(self) -> Iterator[tuple[str | None, Any]]:
        for name, value in super().__repr_args__():
            yield name, ("***" if name == "webhook_url" and value else value)

    def get_sink(self) -> AlertSink:
        if self.webhook_url:
            return WebhookAlertSink(self.webhook_url, timeout=self.timeout_seconds, attempts=self.attempts,
                                    base_delay=self.base_delay_seconds, max_delay=self.max_delay_seconds,
                                    deadline=self.deadline_seconds)
        return JsonlAlertSink(self.jsonl_path)

    def describe(self) -> str:
        """Where alerts go, safe to log."""
        return repr(self.get_sink())

    def scrub(self, value: object) -> str:
        """`value` as text without the webhook URL, its path, query or credentials (safe to log or store)."""
        return scrub_secret(value, self.webhook_url)

    def run_link(self, run_id: str | None) -> str | None:
        return f"{self.ui_url.rstrip('/')}/runs/{run_id}" if self.ui_url and run_id else None

    def keep_undelivered(self, alert: Alert, error: Exception) -> Path | None:
        """Append an alert that could not be delivered (with the masked error) to `undelivered_path`;
        the path, or None if even that failed. Every field is scrubbed of the webhook URL (whatever raised
        `error`), so the file never holds the secret."""
        path = Path(self.undelivered_path)
        fields = {**alert.to_dict(), "text": f"{alert.text}\n[undelivered: {self.scrub(error)}]"}
        record = Alert(**{k: (self.scrub(v) if isinstance(v, str) and k != "severity" else v)
                          for k, v in fields.items()})
        try:
            JsonlAlertSink(path).send(record)
        except AlertDeliveryError:
            return None
        return path


__all__ = ["AlertSinkResource", "DEFAULT_ALERTS_FILE", "WEBHOOK_ENV_VAR"]
