"""The year benchmark's Delta log writer (benchmarks/year_log.py), read back with delta-rs; no Spark."""

from __future__ import annotations

import json
from datetime import timezone

import pyarrow.compute as pc
import pytest

pytest.importorskip("deltalake")

from benchmarks.year_log import (  # noqa: E402
    HOUR, START, HourlyLog, Shape, key_name, key_names, latest_tables, log_versions,
    rebuild_latest,
)

COLUMNS = [("entity_id", "string"), ("event_time", "timestamp"), ("write_time", "timestamp"), ("is_deleted", "boolean"),
           ("f1", "double"), ("f2", "long"), ("event_date", "date")]


def create_table(path, partitioned: bool = True) -> None:
    """Version 0 as the store's first write makes it (schema, partitioning, change feed, protocol)."""
    fields = [{"name": n, "type": t, "nullable": True, "metadata": {}} for n, t in COLUMNS
              if partitioned or n != "event_date"]
    lines = [{"commitInfo": {"timestamp": 0, "operation": "WRITE"}},
             {"metaData": {"id": "t", "format": {"provider": "parquet", "options": {}},
                           "schemaString": json.dumps({"type": "struct", "fields": fields}),
                           "partitionColumns": ["event_date"] if partitioned else [],
                           "configuration": {"delta.enableChangeDataFeed": "true"}, "createdTime": 0}},
             {"protocol": {"minReaderVersion": 1, "minWriterVersion": 7,
                           "writerFeatures": ["changeDataFeed", "invariants", "appendOnly"]}}]
    (path / "_delta_log").mkdir(parents=True)
    (path / "_delta_log" / f"{0:020d}.json").write_text("\n".join(json.dumps(line) for line in lines) + "\n")


def rows_of(table, key: int) -> list[tuple]:
    data = table.to_pyarrow_table()
    picked = data.filter(pc.equal(data["entity_id"], key_name(key))).to_pylist()
    return sorted((r["event_time"].astimezone(timezone.utc), r["f1"], r["f2"]) for r in picked)


def test_hours_one_file_each_and_log_retention_in_simulated_time(tmp_path, monkeypatch):
    import pyarrow as pa
    from deltalake import DeltaTable

    monkeypatch.setattr("benchmarks.year_log.LOG_RETENTION_HOURS", 48)  # the rule of 30 days, in 2 days
    shape, hours = Shape(rows=5, keys=20), 48 + 85
    names = key_names(shape)
    create_table(tmp_path / "h2")
    log = HourlyLog(tmp_path / "h2")
    for hour in range(1, hours):
        log.append_hour(shape, hour, names)
    table = DeltaTable(str(tmp_path / "h2"))
    assert table.version() == hours - 1 and len(table.file_uris()) == hours - 1
    assert rows_of(table, 7) == [r for r in shape.expected(7, hours) if r[0] > START]  # hour 0: the store's
    day = pa.table(table.get_add_actions(flatten=True)).to_pydict()
    assert all(p.startswith(f"event_date={d}/") for p, d in zip(day["path"], day["partition.event_date"]))
    kept = sorted(log_versions(tmp_path / "h2" / "_delta_log"))
    # the newest checkpoint 48 simulated hours old (hour 84 -> version 80) is the oldest version kept
    assert kept[0] == 80 and (tmp_path / "h2" / "_delta_log" / f"{80:020d}.checkpoint.parquet").exists()
    assert DeltaTable(str(tmp_path / "h2"), version=80).version() == 80


def test_nightly_leaves_one_file_per_day_and_latest_matches_the_oracle(tmp_path):
    from deltalake import DeltaTable

    shape, hours = Shape(rows=5, keys=20), 72
    names = key_names(shape)
    create_table(tmp_path / "h")
    create_table(tmp_path / "l", partitioned=False)
    history, latest = HourlyLog(tmp_path / "h"), HourlyLog(tmp_path / "l")
    touched = set()
    for hour in range(1, hours):
        history.append_hour(shape, hour, names)
        touched.add((START + hour * HOUR).date())
        if (hour + 1) % 24 == 0:
            history.nightly(touched, hour + 1)
            touched = set()
    table = DeltaTable(str(tmp_path / "h"))
    assert len(table.file_uris()) == 3 and len(list((tmp_path / "h").glob("event_date=*/*.parquet"))) == 3
    optimize = [c for c in table.history() if c["operation"] == "OPTIMIZE"]
    last = (tmp_path / "h" / "_delta_log" / f"{optimize[0]['version']:020d}.json").read_text().splitlines()
    # the last night rewrote every partition (two by link), as the real OPTIMIZE ZORDER does
    assert sum('"remove"' in line for line in last) == 24 + 2 and sum('"add"' in line for line in last) == 3
    assert rows_of(table, 19) == [r for r in shape.expected(19, hours) if r[0] > START]
    assert [t.num_rows for t in latest_tables(shape, hours, names, compacted=False)] == [5] * 4
    rebuild_latest(latest, shape, hours, names, compacted=True, synced_history_version=history.version)
    current = DeltaTable(str(tmp_path / "l"))
    assert len(current.file_uris()) == 1
    assert json.loads(current.history(1)[0]["userMetadata"]) == {"synced_history_version": history.version}
    for key in range(shape.keys):
        assert rows_of(current, key) == shape.expected(key, hours)[-1:]
