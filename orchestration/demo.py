"""The demo, driven the way a user drives Dagster: a webserver and a daemon on 127.0.0.1 over the project's
instance (data/dagster_home), partition backfills launched through the webserver's GraphQL API (what the UI's
Materialize button does), the sensors switched on, and the rest left to the daemon: the runs (each in its own
process), the alert sensors, the online sync and the training set's automation.

It generates the example for the most recent FEATURESTORE_DEMO_DAYS complete days (default 3, with
FEATURESTORE_DEMO_TX_PER_DAY transactions a day, default 3,000), backfills the source, then the feature groups,
waits for the online sync and the training set, then injects drift into the last day (amounts x3), re-runs
the consumer group for it and waits for the alerts the sensors send to a local Slack-compatible webhook.
Console: the product's lines only; the servers' output is in data/logs.
"""

from __future__ import annotations

import os
import shutil
import time
from collections import Counter
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import Any

from featurestore.session import PROJECT_ROOT
from orchestration.dagster_server import DagsterGraphQL, DagsterServer, DagsterServerError, write_instance_config
from orchestration.webhook_receiver import ReceivedAlert, WebhookReceiver
from quality.check_names import DRIFT_PREFIX

DATA_DIR = PROJECT_ROOT / "data"
SOURCE = "sources/transactions"
GROUPS = {"features/consumer": "daily", "features/card": "hourly"}
TRAINING_SET = "training_sets/fraud_training"
ONLINE = ("online/consumer", "online/card")
SOURCE_LEAD_DAYS = 7  # the consumer group's longest window reads a week back
CHECK_SENSOR, RUN_SENSOR = "check_failure_alerts", "run_failure_alerts"
ENV_FILE = "featurestore.env"  # what `make ui` needs to see the same partitions
DRIFT_TAG = "featurestore/demo_drift"
DEMO_STEP_TAG = "featurestore/demo_step"
UI_PORT_URL = "http://localhost:3000"  # `make ui` (dagster dev's default port): links in the alerts


def demo_settings(today: date | None = None) -> dict[str, Any]:
    """The window: the last DAYS complete UTC days (the daily source's newest partition is yesterday)."""
    days = int(os.environ.get("FEATURESTORE_DEMO_DAYS", "3"))
    today = today or datetime.now(timezone.utc).date()
    first, last = today - timedelta(days=days), today - timedelta(days=1)
    return {"days": days, "first": first, "last": last, "tx_per_day": os.environ.get("FEATURESTORE_DEMO_TX_PER_DAY",
                                                                                       "3000")}


def partition_range(grain: str, first: date, last: date) -> tuple[str, str]:
    if grain == "hourly":
        return f"{first}-00:00", f"{last}-23:00"
    return str(first), str(last)


def fresh_data_dir(data_dir: Path) -> None:
    """The demo starts from an empty instance and store (what it writes is all under data/)."""
    for name in ("dagster_home", "store", "reports", "alerts", "logs", "demo"):
        shutil.rmtree(data_dir / name, ignore_errors=True)


def server_env(settings: Mapping[str, Any], data_dir: Path, webhook_url: str) -> dict[str, str]:
    """Environment of the webserver and daemon (and so of the code servers and of every run)."""
    return {"FEATURESTORE_EXAMPLE_START": str(settings["first"]),
            "FEATURESTORE_DEMO_TX_PER_DAY": str(settings["tx_per_day"]),
            "FEATURESTORE_DEMO_DRIFT_FILE": str(data_dir / "demo" / "drift_day"),
            "FEATURESTORE_ALERT_WEBHOOK_URL": webhook_url,
            "FEATURESTORE_UI_URL": UI_PORT_URL,
            "FEATURESTORE_ROOT": str(data_dir / "store")}


# ---- what happened, read back through GraphQL ---------------------------------------------------------

def run_summary(client: DagsterGraphQL, run: Mapping[str, Any], assets: Sequence[str]) -> list[str]:
    """Per asset the run materialised: partitions, rows written, Delta version, path; then its checks."""
    job = run["jobName"] if not run["jobName"].startswith("__ASSET_JOB") else "materialise " + ", ".join(assets)
    lines = [f"  run {run['runId'][:8]} {job} {run['status']} {_seconds(run)}"]
    for asset in assets:
        events = [m for m in client.materializations(asset, limit=2000) if m["runId"] == run["runId"]]
        if not events:
            continue
        written = [m["metadata"].get("run_rows_written") for m in events]  # the run's total, on each partition
        total = written[0]
        partitions = sorted(m["partition"] for m in events if m["partition"])
        span = f"[{partitions[0]} .. {partitions[-1]}] " if partitions else ""
        meta = events[0]["metadata"]
        rows = f"rows {meta['rows']:,}" if "rows" in meta else f"rows written {total:,}" if total is not None else ""
        lines.append(f"    {asset:24s} {len(partitions) or 1:3d} partition(s) {span}{rows}"
                     + (f"  delta v{meta['delta_version']}" if "delta_version" in meta else "")
                     + (f"  {meta['path']}" if "path" in meta else ""))
        lines += check_summary(client, asset, run["runId"])
    return lines


def _cut_line(text: str, limit: int = 160) -> str:
    line = text.strip().splitlines()[0] if text.strip() else ""
    return line if len(line) <= limit else line[:limit - 1] + "…"


def _seconds(run: Mapping[str, Any]) -> str:
    if run.get("startTime") and run.get("endTime"):
        return f"({run['endTime'] - run['startTime']:.0f}s)"
    return ""


def _not_evaluated(execution: Mapping[str, Any]) -> bool:
    """A drift check without enough reference partitions: it emits no result, so the UI shows it Skipped."""
    if execution.get("status") == "SKIPPED" and str(execution.get("check", "")).startswith(DRIFT_PREFIX):
        return True
    evaluation = execution.get("evaluation") or {}
    texts = [evaluation.get("description") or "", str((evaluation.get("metadata") or {}).get("status") or "")]
    return any(t.startswith("not evaluated") or "not evaluated:" in t for t in texts)


def classify_checks(client: DagsterGraphQL, asset: str, run_id: str) -> dict[str, list[dict[str, Any]]]:
    """The asset's checks evaluated by `run_id`: passed / failed / not evaluated / other (the UI's status)."""
    groups: dict[str, list[dict[str, Any]]] = {"passed": [], "failed": [], "not evaluated": [], "other": []}
    for name, execution in client.latest_check_statuses(asset).items():
        if execution is None or execution["runId"] != run_id:
            continue
        execution = {**execution, "check": name}
        if _not_evaluated(execution):
            groups["not evaluated"].append(execution)
        elif execution["status"] == "SUCCEEDED":
            groups["passed"].append(execution)
        elif execution["status"] == "FAILED":
            groups["failed"].append(execution)
        else:
            groups["other"].append(execution)
    return groups


def check_summary(client: DagsterGraphQL, asset: str, run_id: str) -> list[str]:
    groups = classify_checks(client, asset, run_id)
    if not any(groups.values()):
        return []
    statuses = Counter(e["status"] for e in groups["not evaluated"])
    line = (f"      checks: {len(groups['passed'])} passed, {len(groups['failed'])} failed, "
            f"{len(groups['not evaluated'])} not evaluated (no reference partitions yet"
            + (f"; shown as {', '.join(sorted(statuses))}" if statuses else "") + ")")
    if groups["other"]:
        line += ", " + ", ".join(f"{n} {s}" for s, n in Counter(e["status"] for e in groups["other"]).items())
    lines = [line]
    for execution in groups["failed"]:
        evaluation = execution.get("evaluation") or {}
        lines.append(f"      FAILED [{evaluation.get('severity', '?')}] {execution['check']}: "
                     f"{_cut(evaluation.get('description') or '', 140)}")
    reports = {str((e.get("evaluation") or {}).get("metadata", {}).get("drift_report"))
               for e in groups["failed"] if (e.get("evaluation") or {}).get("metadata", {}).get("drift_report")}
    lines += [f"      drift report: {r}" for r in sorted(reports)]
    return lines


def _cut(text: str, limit: int) -> str:
    text = " ".join(text.split())
    return text if len(text) <= limit else text[: limit - 1] + "…"


def backfill(client: DagsterGraphQL, ranges: Mapping[str, tuple[str, str]], title: str, *, runs: int,
             tags: Mapping[str, str] | None = None, timeout: float = 900.0) -> dict[str, Any]:
    """Launch a backfill, print it, wait for its runs and print what they did."""
    started = time.monotonic()
    backfill_id = client.launch_backfill(ranges, tags=tags, title=title)
    print(f"Backfill {backfill_id} '{title}': " + ", ".join(f"{k} [{a} .. {b}]" for k, (a, b) in ranges.items()))
    result = client.wait_backfill(backfill_id, timeout=timeout, runs=runs)
    for run in sorted(result["runs"], key=lambda r: r.get("startTime") or 0):
        assets = ["/".join(a["path"]) for a in run.get("assetSelection") or []] or list(ranges)
        print("\n".join(run_summary(client, run, assets)))
    print(f"  ({time.monotonic() - started:.0f}s from launch to the runs' end)")
    return result


def single_run(client: DagsterGraphQL, asset: str, partition: str, title: str, *,
               timeout: float = 900.0) -> dict[str, Any]:
    """Launch one run of `asset`'s `partition` (not a backfill, so the runs list shows its own status), print
    it, wait for it and print what it did; `{"runs": [run]}` like `backfill`."""
    started = time.monotonic()
    run_id = client.launch_run(asset, partition, tags={DEMO_STEP_TAG: title})
    print(f"Run {run_id[:8]} '{title}': {asset} [{partition}]")
    run = client.wait_run(run_id, timeout=timeout)
    print("\n".join(run_summary(client, run, [asset])))
    print(f"  ({time.monotonic() - started:.0f}s from launch to the run's end)")
    return {"runs": [run]}


def wait_for_materialization(client: DagsterGraphQL, asset: str, after: float, timeout: float
                             ) -> dict[str, Any] | None:
    """The first materialisation of `asset` newer than `after` (epoch seconds), or None after `timeout`."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        newer = [m for m in client.materializations(asset, limit=5) if float(m["timestamp"]) / 1000 > after]
        if newer:
            return newer[-1]
        time.sleep(3)
    return None


def launched_by(tags: Mapping[str, str]) -> str:
    """Who launched a run, from its tags: a sensor, declarative automation, or this demo (through the API)."""
    if tags.get("dagster/sensor_name"):
        return tags["dagster/sensor_name"]
    if any(k.startswith("dagster/auto") for k in tags):  # dagster/automation_condition, auto-materialize
        return "automation"
    if DEMO_STEP_TAG in tags:
        return "the demo"
    return "the API (no launcher tag)"


def automated_runs(client: DagsterGraphQL, asset: str, after: float, timeout: float) -> str:
    """Wait for the daemon (sensor or declarative automation) to materialise `asset`; a line saying what ran."""
    event = wait_for_materialization(client, asset, after, timeout)
    if event is None:
        return f"  {asset:24s} not materialised within {timeout:.0f}s"
    runs = client.runs(run_ids=[event["runId"]])
    run = runs[0] if runs else {"runId": event["runId"], "jobName": "?", "tags": []}
    by = launched_by({t["key"]: t["value"] for t in run.get("tags", [])})
    meta = event["metadata"]
    detail = ", ".join(f"{k} {meta[k]:,}" if isinstance(meta[k], int) else f"{k} {meta[k]}"
                       for k in ("rows", "upserted", "deleted", "delta_version") if k in meta)
    return f"  {asset:24s} run {event['runId'][:8]} ({run['jobName']}, launched by {by}): {detail}"


ACTIVE_RUN_STATUSES = ("QUEUED", "NOT_STARTED", "STARTING", "STARTED", "CANCELING")


def settle_daemon_runs(client: DagsterGraphQL, since: float, *, timeout: float = 900.0,
                       quiet_for: float = 40.0) -> list[str]:
    """Wait until no run has been queued or in progress for `quiet_for` seconds (longer than an automation
    tick), so that stopping the daemon interrupts nothing; one line per run launched by the daemon since `since`."""
    deadline = time.monotonic() + timeout
    idle_since = None
    while True:
        if client.runs(statuses=ACTIVE_RUN_STATUSES, limit=1):
            idle_since = None
        elif idle_since is None:
            idle_since = time.monotonic()
        elif time.monotonic() - idle_since >= quiet_for:
            break
        if time.monotonic() > deadline:
            raise DagsterServerError(f"timed out after {timeout:.0f}s waiting for the daemon's runs to finish")
        time.sleep(3)
    lines = []
    for run in reversed(client.runs(limit=50)):
        tags = {t["key"]: t["value"] for t in run.get("tags", [])}
        if (run.get("startTime") or 0) < since or "dagster/backfill" in tags:
            continue
        assets = ", ".join("/".join(a["path"]) for a in run.get("assetSelection") or [])
        by = launched_by(tags)
        lines.append(f"  run {run['runId'][:8]} ({assets}; launched by {by}) {run['status']} {_seconds(run)}")
    return lines or ["  none: the daemon launched no run after the drift"]


def print_alerts(alerts: Sequence[ReceivedAlert]) -> None:
    for alert in alerts:
        facts = alert.facts
        print(f"  {alert.headline}")
        run = facts["Run"][:8] if facts.get("Run") else "none (evaluated by a sensor, outside any run)"
        print(f"    group {facts.get('Group', '?')}, check {facts.get('Check', '?')}, partition "
              f"{facts.get('Partition', '(unpartitioned)')}, run {run}")
        if alert.text:
            print(f"    {_cut_line(alert.text)}")


def print_ticks(client: DagsterGraphQL, sensor: str, since: float) -> None:
    ticks = [t for t in client.sensor_ticks(sensor, limit=20) if t["timestamp"] >= since]
    sent = [e["message"] for t in ticks for e in t["logEvents"]["events"] if e["message"].startswith("alert sent")]
    print(f"  sensor {sensor}: {len(ticks)} tick(s) since the drift run"
          + (f", {len(sent)} 'alert sent' log line(s)" if sent else "")
          + (f"; last: {ticks[0]['status']}" + (f" ({ticks[0]['skipReason']})" if ticks[0].get("skipReason") else "")
             if ticks else ""))


# ---- the demo -------------------------------------------------------------------------------------------

def main() -> None:
    started = time.monotonic()
    settings = demo_settings()
    first, last = settings["first"], settings["last"]
    home = Path(os.environ.get("DAGSTER_HOME") or DATA_DIR / "dagster_home").resolve()
    fresh_data_dir(DATA_DIR)
    write_instance_config(home, max_concurrent_runs=1)
    (DATA_DIR / "demo").mkdir(parents=True, exist_ok=True)
    drift_file = DATA_DIR / "demo" / "drift_day"
    print(f"Demo: the last {settings['days']} complete days, {first} .. {last} UTC, "
          f"{int(settings['tx_per_day']):,} transactions a day (a fresh instance in {home})")
    with WebhookReceiver() as receiver:
        env = server_env(settings, DATA_DIR, receiver.url)
        (home / ENV_FILE).write_text("".join(f"{k}={v}\n" for k, v in env.items()
                                             if k in {"FEATURESTORE_EXAMPLE_START", "FEATURESTORE_DEMO_TX_PER_DAY",
                                                      "FEATURESTORE_ROOT"}), encoding="utf-8")
        server = DagsterServer(home, env=env, logs_dir=DATA_DIR / "logs")
        try:
            server.start()
        except DagsterServerError as exc:
            raise SystemExit(f"Dagster did not start: {exc}") from None
        try:
            client = server.client()
            print(f"Dagster webserver {server.url} and daemon running (logs: {server.logs_dir}); "
                  f"alert webhook {receiver.url}")
            sensors = client.instigators()["sensors"]
            for sensor in sensors:
                if sensor["status"] != "RUNNING":
                    client.start_sensor(sensor["name"])
            print("Sensors switched on: " + ", ".join(s["name"] for s in sensors))

            print(f"\n1. Source, {first - timedelta(days=SOURCE_LEAD_DAYS)} .. {last} "
                  f"(the consumer group's 7-day window reads a week back):")
            backfill(client, {SOURCE: partition_range("daily", first - timedelta(days=SOURCE_LEAD_DAYS), last)},
                     "demo: load transactions", runs=1)
            print("\n2. Feature groups, with their quality and drift checks in the same runs:")
            groups_done = time.time()
            backfill(client, {key: partition_range(grain, first, last) for key, grain in GROUPS.items()},
                     "demo: feature groups", runs=len(GROUPS))
            groups_done = time.time()

            print("\n3. Left to the daemon: the online sync and the training set (nobody launches them):")
            condition = client.automation_condition(TRAINING_SET)
            for asset in ONLINE:
                print(automated_runs(client, asset, groups_done - 300, timeout=240))
            if condition:
                print(f"  {TRAINING_SET} automation condition: {_cut(condition, 100)}")
                print(automated_runs(client, TRAINING_SET, groups_done - 300, timeout=300))
            else:
                print(f"  {TRAINING_SET}: no automation condition in these definitions, so it is not built")

            print(f"\n4. Drift: transactions of {last} reloaded with amounts x3, and the consumer group for that "
                  "day re-run:")
            drift_started = time.time()
            seen = len(receiver.alerts)
            drift_file.write_text(str(last), encoding="utf-8")
            try:
                backfill(client, {SOURCE: (str(last), str(last))}, "demo: drift in the last day (amounts x3)",
                         runs=1, tags={DRIFT_TAG: f"amounts x3 from {last}"})
            finally:
                drift_file.unlink(missing_ok=True)
            result = single_run(client, "features/consumer", str(last), "demo: consumer group after the drift")
            failed_checks = sum(len(classify_checks(client, "features/consumer", r["runId"])["failed"])
                                for r in result["runs"])
            failed_runs = sum(r["status"] == "FAILURE" for r in result["runs"])
            expected = failed_checks + failed_runs
            print(f"\n5. Alerts: waiting for the sensors' ticks ({failed_checks} failed check(s), "
                  f"{failed_runs} failed run(s) to alert) ...")
            alerts = receiver.wait_for(lambda got: len(got) - seen >= expected, timeout=240)[seen:]
            print(f"Webhook {receiver.url} received {len(alerts)} alert(s):")
            print_alerts(alerts)
            for sensor in (CHECK_SENSOR, RUN_SENSOR):
                print_ticks(client, sensor, drift_started)
            print("\n6. Waiting for the daemon's runs to finish (stopping it would interrupt them):")
            for line in settle_daemon_runs(client, drift_started):
                print(line)
            if condition:
                later = wait_for_materialization(client, TRAINING_SET, drift_started, timeout=1)
                print(f"  {TRAINING_SET}: " + ("built again" if later else
                                             "held (not materialised since the failed check)"))
        finally:
            server.stop()
    print(f"\nDone in {time.monotonic() - started:.0f}s. UI: `make ui`, then {UI_PORT_URL} (the same instance: "
          "runs, backfills, checks, sensor ticks). `make demo` again starts afresh.")


if __name__ == "__main__":
    main()
