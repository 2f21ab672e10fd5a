"""A Dagster webserver and daemon on 127.0.0.1, and a thin client of the webserver's GraphQL API.

Used by `make demo` and the end-to-end test to drive Dagster the way a user does: backfills launched as the
UI's Materialize button launches them, sensors started as the UI's toggle starts them, everything else left
to the daemon. Only public surfaces: the `dagster-webserver` / `dagster-daemon` commands, the instance's
`dagster.yaml` and the GraphQL schema of dagster_graphql (no import of Dagster here).

    with DagsterServer(home, workspace, env={...}, logs_dir=...) as server:
        client = server.client()
        backfill = client.launch_backfill({"sources/transactions": ("2026-11-28", "2026-11-30")})
        client.wait_backfill(backfill)
"""

from __future__ import annotations

import json
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from featurestore.session import PROJECT_ROOT

WORKSPACE = PROJECT_ROOT / "workspace.yaml"
FINISHED_RUN_STATUSES = frozenset({"SUCCESS", "FAILURE", "CANCELED"})
ASSET_JOB = "__ASSET_JOB"  # the implicit job the UI launches asset materialisations in
PARTITION_TAG = "dagster/partition"
FINISHED_BACKFILL_STATUSES = frozenset({"COMPLETED", "COMPLETED_SUCCESS", "COMPLETED_FAILED", "FAILED",
                                        "CANCELED"})
REQUIRED_DAEMONS = ("SENSOR", "BACKFILL", "QUEUED_RUN_COORDINATOR")


class DagsterServerError(RuntimeError):
    """The webserver or daemon did not start, a GraphQL call failed, or a wait timed out."""


def free_port() -> int:
    """A TCP port on 127.0.0.1 free right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def write_instance_config(home: str | os.PathLike, *, max_concurrent_runs: int = 1,
                          dequeue_interval_seconds: int = 2, automation_interval_seconds: int = 10) -> Path:
    """Write `dagster.yaml` into `home`: local SQLite storage (Dagster's default), no telemetry, a run queue of
    `max_concurrent_runs` (each run is its own process with its own Spark JVM), freshness evaluation on, and a
    short interval for the declarative-automation sensor so a demo does not wait for minutes."""
    home = Path(home)
    home.mkdir(parents=True, exist_ok=True)
    path = home / "dagster.yaml"
    path.write_text(
        "# Written by orchestration.dagster_server.write_instance_config (make demo / the e2e test).\n"
        "telemetry:\n  enabled: false\n"
        f"run_queue:\n  max_concurrent_runs: {max_concurrent_runs}\n"
        f"  dequeue_interval_seconds: {dequeue_interval_seconds}\n"
        f"auto_materialize:\n  minimum_interval_seconds: {automation_interval_seconds}\n"
        "freshness:\n  enabled: true\n", encoding="utf-8")
    return path


def _scripts_dir() -> Path:
    return Path(sys.executable).parent


class DagsterServer:
    """`dagster-webserver` and `dagster-daemon run` over DAGSTER_HOME=`home` and `workspace`, on 127.0.0.1 and a
    free port, each in its own process group with its output in `logs_dir` (never on the console).

    `env` is added to this process's environment for both (and so for the code servers and the runs the
    daemon launches). `start()` returns once the code location is loaded and the daemon's sensor, backfill and
    run-queue daemons have sent a heartbeat; `stop()` ends both process groups (SIGTERM, then SIGKILL).
    """

    def __init__(self, home: str | os.PathLike, workspace: str | os.PathLike = WORKSPACE, *,
                 env: Mapping[str, str] | None = None, logs_dir: str | os.PathLike | None = None,
                 port: int | None = None, cwd: str | os.PathLike | None = None,
                 start_timeout: float = 180.0, stop_timeout: float = 20.0) -> None:
        self.home = Path(home).resolve()
        self.workspace = Path(workspace).resolve()
        self.logs_dir = Path(logs_dir).resolve() if logs_dir else self.home / "logs"
        self.port = port or free_port()
        self.cwd = Path(cwd) if cwd else self.workspace.parent
        self.env = {**os.environ, **dict(env or {}), "DAGSTER_HOME": str(self.home)}
        self.start_timeout = start_timeout
        self.stop_timeout = stop_timeout
        self._processes: dict[str, subprocess.Popen] = {}

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def log_path(self, name: str) -> Path:
        return self.logs_dir / f"{name}.log"

    def client(self, timeout: float = 60.0) -> DagsterGraphQL:
        return DagsterGraphQL(self.url, timeout=timeout)

    # ---- lifecycle ------------------------------------------------------------------------------------

    def start(self) -> DagsterServer:
        self.home.mkdir(parents=True, exist_ok=True)
        self.logs_dir.mkdir(parents=True, exist_ok=True)
        scripts = _scripts_dir()
        try:
            self._spawn("webserver", [str(scripts / "dagster-webserver"), "-h", "127.0.0.1", "-p", str(self.port),
                                      "-w", str(self.workspace)])
            # the daemon starts once the webserver answers: both would otherwise create the SQLite storage at once
            deadline = time.monotonic() + self.start_timeout
            wait_for(self._answers, self.start_timeout, f"the webserver at {self.url}", poll=0.5)
            self._spawn("daemon", [str(scripts / "dagster-daemon"), "run", "-w", str(self.workspace)])
            self.wait_until_ready(max(10.0, deadline - time.monotonic()))
        except BaseException:
            self.stop()
            raise
        return self

    def _spawn(self, name: str, args: Sequence[str]) -> None:
        with open(self.log_path(name), "ab") as log:
            self._processes[name] = subprocess.Popen(
                list(args), cwd=self.cwd, env=self.env, stdin=subprocess.DEVNULL, stdout=log,
                stderr=subprocess.STDOUT, start_new_session=True)

    def _answers(self) -> bool:
        self._check_alive()
        try:
            self.client(timeout=5.0).query("{ version }")
            return True
        except (urllib.error.URLError, ConnectionError, TimeoutError, DagsterServerError):
            return False

    def _check_alive(self) -> None:
        for name, process in self._processes.items():
            if process.poll() is not None:
                raise DagsterServerError(f"dagster {name} exited with code {process.returncode}; "
                                         f"last lines of {self.log_path(name)}:\n{self.log_tail(name)}")

    def log_tail(self, name: str, lines: int = 25) -> str:
        try:
            return "\n".join(self.log_path(name).read_text(errors="replace").splitlines()[-lines:])
        except OSError:
            return "(no log)"

    def wait_until_ready(self, timeout: float) -> None:
        """Until every code location is LOADED (raising its load error if it failed) and the daemons beat."""
        client = self.client(timeout=10.0)
        deadline = time.monotonic() + timeout
        last: Exception | str = "not reachable"
        while time.monotonic() < deadline:
            self._check_alive()
            try:
                client.location()  # raises DagsterServerError with the load error if the location failed
                missing = [d for d in REQUIRED_DAEMONS if not client.daemon_healthy(d)]
                if not missing:
                    return
                last = f"daemons without a heartbeat yet: {', '.join(missing)}"
            except (urllib.error.URLError, ConnectionError, TimeoutError, _NotReady) as exc:
                last = exc
            time.sleep(1.0)
        raise DagsterServerError(f"Dagster at {self.url} not ready after {timeout:.0f}s ({last}); logs in "
                                 f"{self.logs_dir}")

    def stop(self) -> None:
        """SIGTERM to each process group, SIGKILL to what is left after `stop_timeout` (idempotent)."""
        for process in self._processes.values():
            _signal_group(process.pid, signal.SIGTERM)
        deadline = time.monotonic() + self.stop_timeout
        for process in self._processes.values():
            try:
                process.wait(timeout=max(0.1, deadline - time.monotonic()))
            except subprocess.TimeoutExpired:
                pass
        for process in self._processes.values():  # the leader, and children left behind (code servers, runs)
            _signal_group(process.pid, signal.SIGKILL)
            try:
                process.wait(timeout=5)
            except subprocess.TimeoutExpired:
                pass
        self._processes.clear()

    def __enter__(self) -> DagsterServer:
        return self.start()

    def __exit__(self, *exc_info: object) -> None:
        self.stop()


def _signal_group(pgid: int, sig: signal.Signals) -> None:
    try:
        os.killpg(pgid, sig)
    except (ProcessLookupError, PermissionError):
        pass


class _NotReady(Exception):
    pass


# ---- GraphQL -------------------------------------------------------------------------------------------

def asset_path(key: str | Sequence[str]) -> list[str]:
    """'features/card' or ['features', 'card'] -> ['features', 'card']."""
    return key.split("/") if isinstance(key, str) else list(key)


@dataclass(frozen=True)
class Location:
    location: str
    repository: str


_METADATA_FIELDS = """label
  ... on IntMetadataEntry { intValue }
  ... on FloatMetadataEntry { floatValue }
  ... on TextMetadataEntry { text }
  ... on PathMetadataEntry { path }
  ... on JsonMetadataEntry { jsonString }
  ... on BoolMetadataEntry { boolValue }
  ... on UrlMetadataEntry { url }
  ... on MarkdownMetadataEntry { mdStr }"""

_RUN_FIELDS = "runId jobName status startTime endTime tags { key value } assetSelection { path }"

_CHECK_EXECUTION_FIELDS = f"""id runId status partition timestamp
  evaluation {{ success severity description partition metadataEntries {{ {_METADATA_FIELDS} }} }}"""


def metadata_dict(entries: Iterable[Mapping[str, Any]]) -> dict[str, Any]:
    """GraphQL metadata entries -> {label: python value} (JSON entries decoded)."""
    values: dict[str, Any] = {}
    for entry in entries:
        value = next((entry[k] for k in ("intValue", "floatValue", "text", "path", "boolValue", "url", "mdStr")
                      if k in entry), None)
        if "jsonString" in entry:
            value = json.loads(entry["jsonString"])
        values[entry["label"]] = value
    return values


class DagsterGraphQL:
    """The few GraphQL calls a user's clicks amount to: launch a backfill, start sensors and schedules, and
    read runs, partitions, check results and sensor ticks. Errors come back as DagsterServerError."""

    def __init__(self, url: str, *, timeout: float = 60.0) -> None:
        self.url = url.rstrip("/")
        self.timeout = timeout
        self._location: Location | None = None

    def query(self, text: str, variables: Mapping[str, Any] | None = None) -> dict[str, Any]:
        body = json.dumps({"query": text, "variables": dict(variables or {})}).encode()
        request = urllib.request.Request(f"{self.url}/graphql", data=body,
                                         headers={"Content-Type": "application/json"})
        with urllib.request.urlopen(request, timeout=self.timeout) as response:
            payload = json.loads(response.read())
        if payload.get("errors"):
            raise DagsterServerError("GraphQL error: " + "; ".join(e.get("message", "?") for e in payload["errors"]))
        return payload["data"]

    @staticmethod
    def _ok(result: Mapping[str, Any], typename: str, what: str) -> Mapping[str, Any]:
        if result.get("__typename") != typename:
            raise DagsterServerError(f"{what}: {result.get('__typename')}: {result.get('message', result)}")
        return result

    # ---- workspace ----------------------------------------------------------------------------------

    def location(self) -> Location:
        """The workspace's only code location and repository (raises with its load error if it failed)."""
        if self._location is not None:
            return self._location
        data = self.query("""{ workspaceOrError { __typename ... on Workspace { locationEntries { name loadStatus
            locationOrLoadError { __typename ... on RepositoryLocation { name repositories { name } }
                                  ... on PythonError { message } } } } ... on PythonError { message } } }""")
        workspace = self._ok(data["workspaceOrError"], "Workspace", "workspace")
        entries = workspace["locationEntries"]
        if not entries or any(e["loadStatus"] != "LOADED" for e in entries):
            raise _NotReady("code location loading")
        entry = entries[0]["locationOrLoadError"]
        if entry is None:
            raise _NotReady("code location loading")
        if entry["__typename"] == "PythonError":
            raise DagsterServerError(f"code location failed to load: {entry['message']}")
        self._location = Location(entry["name"], entry["repositories"][0]["name"])
        return self._location

    def _selector(self, name_field: str, name: str) -> dict[str, str]:
        location = self.location()
        return {"repositoryName": location.repository, "repositoryLocationName": location.location,
                name_field: name}

    def daemon_healthy(self, daemon_type: str) -> bool:
        data = self.query("""query($t: String) { instance { daemonHealth { daemonStatus(daemonType: $t) {
            healthy } } } }""", {"t": daemon_type})
        return bool(data["instance"]["daemonHealth"]["daemonStatus"]["healthy"])

    # ---- backfills and runs -------------------------------------------------------------------------

    def launch_backfill(self, ranges: Mapping[str, tuple[str, str]], *, tags: Mapping[str, str] | None = None,
                        title: str | None = None) -> str:
        """An asset backfill of each asset over its partition range (first, last), as the UI's Materialize
        button launches it; its id. With single-run backfill policies, one run per asset (or per group of
        assets the daemon can run together)."""
        params: dict[str, Any] = {
            "partitionsByAssets": [{"assetKey": {"path": asset_path(key)},
                                    "partitions": {"range": {"start": first, "end": last}}}
                                   for key, (first, last) in ranges.items()],
            "tags": [{"key": k, "value": v} for k, v in (tags or {}).items()],
        }
        if title:
            params["title"] = title
        data = self.query("""mutation($p: LaunchBackfillParams!) { launchPartitionBackfill(backfillParams: $p) {
            __typename ... on LaunchBackfillSuccess { backfillId } ... on Error { message }
            ... on PythonError { message } } }""", {"p": params})
        return self._ok(data["launchPartitionBackfill"], "LaunchBackfillSuccess", "backfill")["backfillId"]

    def launch_run(self, asset: str, partition: str, *, tags: Mapping[str, str] | None = None) -> str:
        """One run materialising `asset`'s `partition` with its checks, as the UI's Materialize button launches
        it for one partition (not a backfill: the runs list shows this run's own status); its run id."""
        location = self.location()
        params = {
            "selector": {"repositoryLocationName": location.location, "repositoryName": location.repository,
                         "pipelineName": ASSET_JOB, "assetSelection": [{"path": asset_path(asset)}]},
            "runConfigData": {},
            "executionMetadata": {"tags": [{"key": k, "value": v}
                                           for k, v in {**(tags or {}), PARTITION_TAG: partition}.items()]},
        }
        data = self.query("""mutation($p: ExecutionParams!) { launchRun(executionParams: $p) { __typename
            ... on LaunchRunSuccess { run { runId } } ... on Error { message } ... on PythonError { message } } }""",
                          {"p": params})
        return self._ok(data["launchRun"], "LaunchRunSuccess", f"run of {asset} {partition}")["run"]["runId"]

    def wait_run(self, run_id: str, *, timeout: float = 600.0, poll: float = 2.0) -> dict[str, Any]:
        """The run once it finished (success, failure or cancelled)."""
        def done() -> dict[str, Any] | None:
            found = self.runs(run_ids=[run_id], limit=1)
            return found[0] if found and found[0]["status"] in FINISHED_RUN_STATUSES else None

        return wait_for(done, timeout, f"run {run_id}", poll)

    def backfill(self, backfill_id: str) -> dict[str, Any]:
        """Status, runs and per-asset partition counts of a backfill."""
        data = self.query(f"""query($id: String!) {{ partitionBackfillOrError(backfillId: $id) {{ __typename
            ... on PartitionBackfill {{ id status title numPartitions error {{ message }}
                runs {{ {_RUN_FIELDS} }}
                assetBackfillData {{ assetBackfillStatuses {{ ... on AssetPartitionsStatusCounts {{
                    assetKey {{ path }} numPartitionsTargeted numPartitionsMaterialized numPartitionsFailed
                    numPartitionsInProgress }} }} }} }}
            ... on PythonError {{ message }} ... on BackfillNotFoundError {{ message }} }} }}""", {"id": backfill_id})
        return dict(self._ok(data["partitionBackfillOrError"], "PartitionBackfill", f"backfill {backfill_id}"))

    def wait_backfill(self, backfill_id: str, *, timeout: float = 600.0, runs: int | None = None,
                      poll: float = 2.0) -> dict[str, Any]:
        """Until the backfill is finished: its status is terminal, or (with `runs`) it launched that many runs
        and all of them finished (the daemon marks the backfill done up to 30 s later). The backfill."""
        def done() -> dict[str, Any] | None:
            backfill = self.backfill(backfill_id)
            if backfill["status"] in FINISHED_BACKFILL_STATUSES and all(
                    r["status"] in FINISHED_RUN_STATUSES for r in backfill["runs"]):
                return backfill
            if runs is not None and len(backfill["runs"]) >= runs and all(
                    r["status"] in FINISHED_RUN_STATUSES for r in backfill["runs"]):
                return backfill
            return None

        return wait_for(done, timeout, f"backfill {backfill_id}", poll)

    def runs(self, *, job_name: str | None = None, statuses: Sequence[str] | None = None,
             tags: Mapping[str, str] | None = None, run_ids: Sequence[str] | None = None,
             limit: int = 100) -> list[dict[str, Any]]:
        """Runs, newest first."""
        run_filter: dict[str, Any] = {}
        if run_ids:
            run_filter["runIds"] = list(run_ids)
        if job_name:
            run_filter["pipelineName"] = job_name
        if statuses:
            run_filter["statuses"] = list(statuses)
        if tags:
            run_filter["tags"] = [{"key": k, "value": v} for k, v in tags.items()]
        data = self.query(f"""query($f: RunsFilter, $n: Int) {{ runsOrError(filter: $f, limit: $n) {{ __typename
            ... on Runs {{ results {{ {_RUN_FIELDS} }} }} ... on PythonError {{ message }} }} }}""",
                          {"f": run_filter, "n": limit})
        return list(self._ok(data["runsOrError"], "Runs", "runs")["results"])

    def run_step_failures(self, run_id: str) -> list[str]:
        """Messages of a run's failure events (step failures and the run failure)."""
        data = self.query("""query($id: ID!) { runOrError(runId: $id) { __typename ... on Run {
            eventConnection(limit: 2000) { events { __typename ... on MessageEvent { message }
                ... on ExecutionStepFailureEvent { stepKey failureMetadata { metadataEntries { label } } } } } } } }""",
                          {"id": run_id})
        run = data["runOrError"]
        if run["__typename"] != "Run":
            return []
        return [e["message"] for e in run["eventConnection"]["events"]
                if e["__typename"] in {"ExecutionStepFailureEvent", "RunFailureEvent"} and e.get("message")]

    # ---- assets ---------------------------------------------------------------------------------------

    def asset_node(self, key: str | Sequence[str], fields: str) -> dict[str, Any] | None:
        data = self.query(f"""query($k: AssetKeyInput!) {{ assetNodeOrError(assetKey: $k) {{ __typename
            ... on AssetNode {{ {fields} }} }} }}""", {"k": {"path": asset_path(key)}})
        node = data["assetNodeOrError"]
        return node if node["__typename"] == "AssetNode" else None

    def materialized_partitions(self, key: str | Sequence[str]) -> list[str]:
        """Partition keys of `key` whose latest materialisation attempt succeeded, in partition order."""
        node = self.asset_node(key, """partitionKeysByDimension { partitionKeys }
            assetPartitionStatuses { __typename
                ... on TimePartitionStatuses { ranges { startKey endKey status } }
                ... on DefaultPartitionStatuses { materializedPartitions } }""")
        if node is None:
            return []
        statuses = node["assetPartitionStatuses"]
        if statuses["__typename"] == "DefaultPartitionStatuses":
            return list(statuses["materializedPartitions"])
        keys = [k for dim in node["partitionKeysByDimension"] for k in dim["partitionKeys"]]
        index = {k: i for i, k in enumerate(keys)}
        found: list[str] = []
        for span in statuses.get("ranges", []):
            if span["status"] == "MATERIALIZED" and span["startKey"] in index and span["endKey"] in index:
                found += keys[index[span["startKey"]]: index[span["endKey"]] + 1]
        return found

    def materializations(self, key: str | Sequence[str], limit: int = 100) -> list[dict[str, Any]]:
        """Materialisation events of `key`, newest first: runId, partition, timestamp, metadata (a dict)."""
        node = self.asset_node(key, f"""assetMaterializations(limit: {int(limit)}) {{ runId partition timestamp
            metadataEntries {{ {_METADATA_FIELDS} }} }}""")
        if node is None:
            return []
        return [{**{k: v for k, v in m.items() if k != "metadataEntries"},
                 "metadata": metadata_dict(m["metadataEntries"])} for m in node["assetMaterializations"]]

    def automation_condition(self, key: str | Sequence[str]) -> str | None:
        """The label of the asset's automation condition, or None when it has none."""
        node = self.asset_node(key, "automationCondition { label expandedLabel }")
        condition = (node or {}).get("automationCondition")
        if not condition:
            return None
        return condition.get("label") or " ".join(condition.get("expandedLabel") or []) or "automation condition"

    def asset_checks(self, key: str | Sequence[str]) -> list[dict[str, Any]]:
        """The asset's checks: name, blocking, and the execution the UI shows for the latest materialisation."""
        node = self.asset_node(key, f"""assetChecksOrError {{ __typename ... on AssetChecks {{ checks {{
            name blocking executionForLatestMaterialization {{ {_CHECK_EXECUTION_FIELDS} }} }} }} }}""")
        if node is None or node["assetChecksOrError"]["__typename"] != "AssetChecks":
            return []
        return list(node["assetChecksOrError"]["checks"])

    def check_executions(self, key: str | Sequence[str], check: str, *, limit: int = 1,
                         partition: str | None = None) -> list[dict[str, Any]]:
        """Executions of one check, newest first (status as the UI resolves it, the evaluation, metadata)."""
        variables: dict[str, Any] = {"k": {"path": asset_path(key)}, "c": check, "n": limit}
        argument = ""
        if partition is not None:
            variables["p"] = partition
            argument = ", partition: $p"
        data = self.query(f"""query($k: AssetKeyInput!, $c: String!, $n: Int!{', $p: String' if argument else ''}) {{
            assetCheckExecutions(assetKey: $k, checkName: $c, limit: $n{argument}) {{ {_CHECK_EXECUTION_FIELDS} }} }}""",
                          variables)
        executions = []
        for execution in data["assetCheckExecutions"]:
            evaluation = execution.get("evaluation")
            if evaluation is not None:
                evaluation = {**evaluation, "metadata": metadata_dict(evaluation.pop("metadataEntries", []))}
            executions.append({**execution, "evaluation": evaluation})
        return executions

    def latest_check_statuses(self, key: str | Sequence[str]) -> dict[str, dict[str, Any] | None]:
        """Check name -> its newest execution (or None if it never ran)."""
        return {check["name"]: next(iter(self.check_executions(key, check["name"])), None)
                for check in self.asset_checks(key)}

    def freshness_status(self, key: str | Sequence[str]) -> str | None:
        """The asset's freshness health (HEALTHY, WARNING, DEGRADED, UNKNOWN, NOT_APPLICABLE), or None."""
        node = self.asset_node(key, "freshnessStatusInfo { freshnessStatus }")
        info = (node or {}).get("freshnessStatusInfo")
        return info["freshnessStatus"] if info else None

    # ---- sensors and schedules ------------------------------------------------------------------------

    def instigators(self) -> dict[str, list[dict[str, Any]]]:
        """{'sensors': [{name, status, minIntervalSeconds}], 'schedules': [{name, status, cron}]}."""
        location = self.location()
        data = self.query("""query($s: RepositorySelector!) { repositoryOrError(repositorySelector: $s) {
            __typename ... on Repository { sensors { name minIntervalSeconds sensorType sensorState { status } }
                                           schedules { name cronSchedule scheduleState { status } } }
            ... on PythonError { message } } }""",
                          {"s": {"repositoryName": location.repository, "repositoryLocationName": location.location}})
        repository = self._ok(data["repositoryOrError"], "Repository", "repository")
        return {"sensors": [{"name": s["name"], "status": s["sensorState"]["status"], "type": s["sensorType"],
                             "minIntervalSeconds": s["minIntervalSeconds"]} for s in repository["sensors"]],
                "schedules": [{"name": s["name"], "status": s["scheduleState"]["status"], "cron": s["cronSchedule"]}
                              for s in repository["schedules"]]}

    def start_sensor(self, name: str) -> str:
        data = self.query("""mutation($s: SensorSelector!) { startSensor(sensorSelector: $s) { __typename
            ... on Sensor { sensorState { status } } ... on Error { message } ... on PythonError { message } } }""",
                          {"s": self._selector("sensorName", name)})
        return self._ok(data["startSensor"], "Sensor", f"start sensor {name}")["sensorState"]["status"]

    def stop_sensor(self, name: str) -> str:
        sensor = self.sensor(name)
        data = self.query("""mutation($o: String, $s: String) { stopSensor(jobOriginId: $o, jobSelectorId: $s) {
            __typename ... on StopSensorMutationResult { instigationState { status } }
            ... on PythonError { message } ... on UnauthorizedError { message } } }""",
                          {"o": sensor["jobOriginId"], "s": sensor["sensorState"]["selectorId"]})
        result = self._ok(data["stopSensor"], "StopSensorMutationResult", f"stop sensor {name}")
        return result["instigationState"]["status"]

    def start_schedule(self, name: str) -> str:
        data = self.query("""mutation($s: ScheduleSelector!) { startSchedule(scheduleSelector: $s) { __typename
            ... on ScheduleStateResult { scheduleState { status } } ... on Error { message }
            ... on PythonError { message } } }""", {"s": self._selector("scheduleName", name)})
        return self._ok(data["startSchedule"], "ScheduleStateResult", f"start schedule {name}")["scheduleState"]["status"]

    def sensor(self, name: str, *, ticks: int = 0) -> dict[str, Any]:
        """A sensor's state and its newest `ticks` ticks (status, skip reason, runs, log lines)."""
        tick_fields = ("ticks(limit: $n) { tickId status timestamp skipReason runIds error { message } "
                       "logEvents { events { message level } } }") if ticks else ""
        data = self.query(f"""query($s: SensorSelector!, $n: Int) {{ sensorOrError(sensorSelector: $s) {{ __typename
            ... on Sensor {{ name jobOriginId minIntervalSeconds sensorState {{ selectorId status {tick_fields} }} }}
            ... on Error {{ message }} ... on PythonError {{ message }} }} }}""",
                          {"s": self._selector("sensorName", name), "n": ticks})
        return dict(self._ok(data["sensorOrError"], "Sensor", f"sensor {name}"))

    def sensor_ticks(self, name: str, limit: int = 25) -> list[dict[str, Any]]:
        """Newest first."""
        return list(self.sensor(name, ticks=limit)["sensorState"]["ticks"])


def wait_for(probe: Callable[[], Any], timeout: float, what: str, poll: float = 2.0) -> Any:
    """Call `probe` until it returns something truthy; that value (DagsterServerError after `timeout`)."""
    deadline = time.monotonic() + timeout
    while True:
        value = probe()
        if value:
            return value
        if time.monotonic() > deadline:
            raise DagsterServerError(f"timed out after {timeout:.0f}s waiting for {what}")
        time.sleep(poll)


__all__ = ["DagsterGraphQL", "DagsterServer", "DagsterServerError", "Location", "free_port", "metadata_dict",
           "wait_for", "write_instance_config"]
