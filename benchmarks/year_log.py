"""The cheap half of `benchmarks/year.py`: a year of hourly commits written straight to a Delta log.

`HourlyLog` appends to a table the store created (so schema, partitioning, protocol and table features are the
store's own) the commits its hourly writes make: one Parquet file per hour in the hour's `event_date`
partition, Spark-style (snappy, INT96 timestamps, Spark's `stats`), and one JSON commit per hour carrying the
store's commit metadata (`write_time`, `write_id`, ...). It is a minimal Delta writer (put-if-absent commit
files), because delta-rs's `write_deltalake` costs O(live files) per commit (0.3 s at 3,500 files, measured),
i.e. about an hour for one arm of the year. As Delta's writers do, it checkpoints every 10 versions
(delta-rs `create_checkpoint`) and applies log retention at checkpoints: log files older than
`delta.logRetentionDuration` (30 days) are deleted up to the newest checkpoint that is that old. Retention is
applied in simulated time (the hour of each version), since no file of a simulated year is 30 days old.

`nightly` is the maintained arm's nightly `maintain_table` (OPTIMIZE ZORDER BY the key, checkpoint, VACUUM
with 0 retention), done cheaply but with the same log: the partitions with new files are read, sorted by the
key (a one-column Z-order) and written as one file; every other partition, already one Z-ordered file, is
"rewritten" as a hard link under a new name (re-Z-ordering it would reproduce it), so the OPTIMIZE commit
removes and adds every live file as the real one does; then VACUUM START / END commits and the removed files
deleted. Tombstones (remove actions) stay in checkpoints for 7 days (`delta.deletedFileRetentionDuration`)
of wall-clock time; their `deletionTimestamp` is set so that at the next measurement (`horizon`) those of
the last 7 simulated days are kept. `rebuild_latest` writes the latest-values table the store's hourly syncs
would leave. No Spark here.
"""

from __future__ import annotations

import json
import os
import re
import time
import uuid
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path

import numpy as np
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

START = datetime(2025, 1, 1, tzinfo=timezone.utc)
HOUR = timedelta(hours=1)
WRITE_DELAY = timedelta(minutes=5)  # an hour's rows are written 5 minutes after it starts
CHECKPOINT_INTERVAL = 10  # Delta's default (delta.checkpointInterval) and MaintenancePolicy's
LOG_RETENTION_HOURS = 30 * 24  # Delta's default delta.logRetentionDuration
GROUP = "year"
FILE_COLUMNS = ("entity_id", "event_time", "write_time", "is_deleted", "f1", "f2")  # event_date: partition
TS = pa.timestamp("us", "UTC")
SCHEMA = pa.schema([("entity_id", pa.string()), ("event_time", TS), ("write_time", TS), ("is_deleted", pa.bool_()),
                    ("f1", pa.float64()), ("f2", pa.int64())])
_VERSION = re.compile(r"^(\d{20})\.(json|crc|checkpoint\.parquet)$")


@dataclass(frozen=True)
class Shape:
    """The data: `rows` keys per hour out of `keys`, rotating, so key window w is written every `windows` hours."""

    rows: int
    keys: int

    def __post_init__(self) -> None:
        if self.keys % self.rows:
            raise ValueError(f"keys ({self.keys}) must be a multiple of rows per commit ({self.rows})")

    @property
    def windows(self) -> int:
        return self.keys // self.rows

    def hour_values(self, hour: int) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
        """(key indexes, f1, f2) of hour `hour`: the same rows as `benchmarks.year.hour_rows`."""
        ids = np.arange(self.rows)
        return (hour * self.rows + ids) % self.keys, ids * 0.5 + hour, ids + hour

    def expected(self, key: int, hours: int) -> list[tuple[datetime, float, int]]:
        """Oracle: every (event_time, f1, f2) of key index `key` after `hours` hours."""
        window, offset = divmod(key, self.rows)
        return [(START + h * HOUR, offset * 0.5 + h, offset + h) for h in range(window, hours, self.windows)]

    def last_hour(self, window: int, hours: int) -> int | None:
        """The last hour < `hours` that wrote key window `window` (None: none yet)."""
        last = hours - 1 - ((hours - 1 - window) % self.windows)
        return last if last >= 0 else None


def key_name(index: int) -> str:
    return f"k{index}"


def hour_table(shape: Shape, hour: int, names: pa.Array) -> pa.Table:
    """The file columns of one hourly write (write_time = the hour + 5 minutes)."""
    keys, f1, f2 = shape.hour_values(hour)
    n = shape.rows
    at = START + hour * HOUR
    return pa.table([names.take(pa.array(keys)), pa.array([at] * n, TS), pa.array([at + WRITE_DELAY] * n, TS),
                     pa.array(np.zeros(n, dtype=bool)), pa.array(f1), pa.array(f2, pa.int64())], schema=SCHEMA)


def key_names(shape: Shape) -> pa.Array:
    return pa.array([key_name(i) for i in range(shape.keys)], pa.string())


def _stamp(value) -> str:
    return value.astimezone(timezone.utc).strftime("%Y-%m-%dT%H:%M:%S.") + f"{value.microsecond // 1000:03d}Z"


def spark_stats(table: pa.Table) -> str:
    """Delta `stats` as Spark writes them: min/max of non-boolean columns, null counts of all."""
    low, high = {}, {}
    for name in FILE_COLUMNS:
        if name == "is_deleted":
            continue
        bounds = pc.min_max(table[name]).as_py()
        convert = _stamp if name in ("event_time", "write_time") else (lambda v: v)
        low[name], high[name] = convert(bounds["min"]), convert(bounds["max"])
    nulls = {name: table[name].null_count for name in FILE_COLUMNS}
    return json.dumps({"numRecords": table.num_rows, "minValues": low, "maxValues": high, "nullCount": nulls},
                      separators=(",", ":"))


def log_versions(log_dir: Path) -> dict[int, list[Path]]:
    """Version -> its files (commit, checksum, checkpoint) in a _delta_log folder."""
    out: dict[int, list[Path]] = {}
    for entry in os.scandir(log_dir):
        match = _VERSION.match(entry.name)
        if match:
            out.setdefault(int(match.group(1)), []).append(Path(entry.path))
    return out


@dataclass
class HourlyLog:
    """Appends Spark-style commits to the Delta table at `path` (see the module docstring)."""

    path: Path
    hour_of_version: dict[int, int] = field(default_factory=dict)
    version: int = -1
    horizon: int | None = None  # simulated hour of the next measurement (see the module docstring)
    _table: object = None
    _files: dict[str, dict] | None = None  # live path -> its add action (None: to be read from the table)
    _seen: dict[str, dict] = field(default_factory=dict)  # add actions of files this writer knows

    def __post_init__(self) -> None:
        self.path = Path(self.path)
        self.sync(0)

    @property
    def log_dir(self) -> Path:
        return self.path / "_delta_log"

    def delta(self):
        """The delta-rs table, brought up to date."""
        from deltalake import DeltaTable

        if self._table is None:
            self._table = DeltaTable(str(self.path))
        else:
            self._table.update_incremental()
        return self._table

    def sync(self, hour: int) -> None:
        """Take note of commits other writers (the store) made: they happened at `hour`."""
        newest = max((v for v, files in log_versions(self.log_dir).items()
                      if any(f.name.endswith(".json") for f in files)), default=-1)
        previous = self.version
        for version in range(previous + 1, newest + 1):
            self.hour_of_version[version] = hour
        self.version = newest
        if newest != previous:
            self._files = None
        if previous < 0 or newest // CHECKPOINT_INTERVAL == previous // CHECKPOINT_INTERVAL:
            return
        # Spark checkpoints at multiples of 10 itself
        if any((self.log_dir / f"{v:020d}.checkpoint.parquet").exists() for v in range(previous + 1, newest + 1)):
            self.expire_log(hour)
        else:
            self.checkpoint(hour)

    @staticmethod
    def _relative(partition: str | None) -> str:
        folder = f"event_date={partition}/" if partition else ""
        return f"{folder}part-00000-{uuid.uuid4()}.c000.snappy.parquet"

    def write_file(self, table: pa.Table, partition: date | None, data_change: bool = True) -> dict:
        """Write `table` as one Parquet file (Spark-like: snappy, INT96 timestamps); its `add` action."""
        relative = self._relative(partition.isoformat() if partition is not None else None)
        target = self.path / relative
        target.parent.mkdir(parents=True, exist_ok=True)
        pq.write_table(table, target, compression="snappy", use_deprecated_int96_timestamps=True)
        return self._add(relative, partition.isoformat() if partition is not None else None, spark_stats(table),
                         data_change)

    def _add(self, relative: str, partition: str | None, stats: str, data_change: bool) -> dict:
        stat = (self.path / relative).stat()
        return {"path": relative, "partitionValues": {"event_date": partition} if partition else {},
                "size": stat.st_size, "modificationTime": int(time.time() * 1000), "dataChange": data_change,
                "stats": stats}

    def live_files(self) -> dict[str, dict]:
        """Live path -> add action; files other writers added get their stats from the file itself."""
        if self._files is None:
            known = self._seen
            actions = pa.table(self.delta().get_add_actions(flatten=True))
            self._files = {}
            for path in actions.column("path").to_pylist():
                if path not in known:
                    partition = path.split("/", 1)[0].split("=", 1)[1] if "/" in path else None
                    table = pq.read_table(self.path / path, columns=list(FILE_COLUMNS)).cast(SCHEMA)
                    known[path] = self._add(path, partition, spark_stats(table), True)
                self._files[path] = known[path]
            self._seen = dict(self._files)
        return self._files

    def _track(self, actions: list[dict]) -> None:
        for action in actions:
            if "add" in action:
                self._seen[action["add"]["path"]] = action["add"]
                if self._files is not None:
                    self._files[action["add"]["path"]] = action["add"]
            elif "remove" in action:
                self._seen.pop(action["remove"]["path"], None)
                if self._files is not None:
                    self._files.pop(action["remove"]["path"], None)

    def deletion_ms(self, hour: int) -> int:
        """A tombstone's deletionTimestamp: now, shifted so it expires 7 simulated days before the horizon."""
        now = int(time.time() * 1000)
        return now if self.horizon is None else now + (hour - self.horizon) * 3_600_000

    def commit(self, actions: list[dict], info: dict, hour: int, operation: str = "WRITE",
               parameters: dict | None = None) -> int:
        """One commit (put-if-absent) of `actions` with commitInfo carrying `info` as userMetadata."""
        version = self.version + 1
        commit_info = {"timestamp": int(time.time() * 1000), "operation": operation,
                       "operationParameters": parameters or {"mode": "Append", "partitionBy": '["event_date"]'},
                       "isBlindAppend": all("add" in a for a in actions), "userMetadata": json.dumps(info),
                       "engineInfo": "benchmarks/year_log.py (Delta log writer)",
                       "operationMetrics": {"numFiles": str(sum("add" in a for a in actions))}}
        text = "\n".join(json.dumps(line, separators=(",", ":")) for line in [{"commitInfo": commit_info}, *actions])
        descriptor = os.open(self.log_dir / f"{version:020d}.json", os.O_CREAT | os.O_EXCL | os.O_WRONLY, 0o644)
        with os.fdopen(descriptor, "w") as handle:
            handle.write(text + "\n")
        self._track(actions)
        self.version = version
        self.hour_of_version[version] = hour
        if version % CHECKPOINT_INTERVAL == 0:
            self.checkpoint(hour)
        return version

    def append_hour(self, shape: Shape, hour: int, names: pa.Array) -> int:
        """The commit an hourly store write of new rows makes: one file in the hour's day partition."""
        table = hour_table(shape, hour, names)
        add = self.write_file(table, (START + hour * HOUR).date())
        write_time = START + hour * HOUR + WRITE_DELAY
        info = {"group": GROUP, "rows_written": shape.rows, "rows_corrected": 0,
                "write_time": write_time.isoformat(), "write_id": uuid.uuid4().hex}
        return self.commit([{"add": add}], info, hour)

    def checkpoint(self, hour: int) -> None:
        """A checkpoint of the current version (delta-rs), then log retention in simulated time."""
        self.delta().create_checkpoint()
        self.expire_log(hour)

    def expire_log(self, hour: int) -> int:
        """Delete log files of versions older than the newest checkpoint at least 30 simulated days old (the
        rule of Delta's log cleanup); returns how many files went."""
        versions = log_versions(self.log_dir)
        cutoff = hour - LOG_RETENTION_HOURS
        old = [v for v, files in versions.items() if any(f.name.endswith(".checkpoint.parquet") for f in files)
               and self.hour_of_version.get(v, hour) <= cutoff]
        if not old:
            return 0
        keep_from = max(old)
        deleted = 0
        for version, files in versions.items():
            if version < keep_from:
                for file in files:
                    file.unlink()
                    deleted += 1
                self.hour_of_version.pop(version, None)
        return deleted

    def nightly(self, partitions: set[date], hour: int) -> None:
        """The nightly maintain_table of the history, with its log (see the module docstring)."""
        grouped: dict[str, list[dict]] = {}
        for add in self.live_files().values():
            grouped.setdefault(add["partitionValues"].get("event_date"), []).append(add)
        touched = {d.isoformat() for d in partitions}
        removes, adds = [], []
        deleted_at = self.deletion_ms(hour)
        for partition, files in sorted(grouped.items()):
            if partition in touched or len(files) > 1:
                table = pa.concat_tables(pq.read_table(self.path / f["path"], columns=list(FILE_COLUMNS)).cast(SCHEMA)
                                         for f in files).sort_by("entity_id")
                adds.append({"add": self.write_file(table, date.fromisoformat(partition), data_change=False)})
            else:
                relative = self._relative(partition)
                os.link(self.path / files[0]["path"], self.path / relative)
                adds.append({"add": self._add(relative, partition, files[0]["stats"], False)})
            removes += [{"remove": {"path": f["path"], "deletionTimestamp": deleted_at, "dataChange": False,
                                    "extendedFileMetadata": True, "partitionValues": f["partitionValues"],
                                    "size": f["size"]}} for f in files]
        info = {"maintenance": True}
        self.commit(removes + adds, info, hour, operation="OPTIMIZE",
                    parameters={"predicate": "[]", "auto": "false", "zOrderBy": '["entity_id"]'})
        if not (self.log_dir / f"{self.version:020d}.checkpoint.parquet").exists():
            self.checkpoint(hour)
        self.commit([], info, hour, operation="VACUUM START", parameters={"specifiedRetentionMillis": "0"})
        for remove in removes:
            (self.path / remove["remove"]["path"]).unlink(missing_ok=True)
        self.commit([], info, hour, operation="VACUUM END", parameters={"status": "COMPLETED"})


def latest_tables(shape: Shape, hours: int, names: pa.Array, compacted: bool) -> list[pa.Table]:
    """The files of the latest-values table after `hours` hourly writes and syncs: each sync's MERGE rewrites
    the one file holding the hour's keys, so one file per key window (the newest hour of it); after a nightly
    compaction all keys are in one file, which every later MERGE rewrites whole, so one file."""
    tables = [hour_table(shape, h, names) for h in
              (shape.last_hour(w, hours) for w in range(shape.windows)) if h is not None]
    return [pa.concat_tables(tables)] if compacted and tables else tables


def rebuild_latest(latest: HourlyLog, shape: Shape, hours: int, names: pa.Array, compacted: bool,
                   synced_history_version: int) -> None:
    """Replace the latest table's files by those the store's hourly syncs would have left, in one commit that
    records the history version it is in step with (as the store's syncs do)."""
    now = int(time.time() * 1000)
    removes = [{"remove": {"path": path, "deletionTimestamp": now, "dataChange": True, "extendedFileMetadata": True,
                           "partitionValues": {}, "size": int(size)}}
               for path, size in zip(*_live(latest))]
    adds = [{"add": latest.write_file(t, None)} for t in latest_tables(shape, hours, names, compacted)]
    latest.commit(removes + adds, {"synced_history_version": synced_history_version}, hours, operation="MERGE",
                  parameters={"predicate": "[]"})


def _live(log: HourlyLog) -> tuple[list[str], list[int]]:
    actions = log.delta().get_add_actions(flatten=True)
    return actions.column("path").to_pylist(), actions.column("size_bytes").to_pylist()
