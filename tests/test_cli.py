"""The `featurestore` CLI as a subprocess, against a small store written in the test process."""

from __future__ import annotations

import json
import os
import subprocess
import sys
import time
from datetime import datetime, timedelta
from pathlib import Path

import pytest

from featurestore.offline.store import OfflineStore
from featurestore.online.store import OnlineStore
from featurestore.registry import discover
from tests.example_rows import CARD_SCHEMA, CARDS, CONSUMER_SCHEMA, T0, write_transactions



SCRIPT = str(Path(sys.executable).parent / "featurestore")  # the installed console script


def cli(*args: str, timeout: float = 300) -> subprocess.CompletedProcess:
    env = {k: v for k, v in os.environ.items() if k != "DAGSTER_HOME"}  # no instance: training-set ungated
    return subprocess.run([SCRIPT, *args], capture_output=True, text=True, timeout=timeout, env=env)


@pytest.fixture(scope="module")
def root(spark, tmp_path_factory):
    """Transactions on 2026-10-01, card and consumer features at 01:00, one card deleted, card synced online."""
    registry = discover("feature_groups")
    store = OfflineStore(spark, str(tmp_path_factory.mktemp("cli") / "store"))
    write_transactions(spark, store, registry, 9, minutes_apart=10)
    at = T0 + timedelta(hours=1)
    card = store.write_features(registry.group("card"), spark.createDataFrame(
        [(CARDS[0], at, 2, 2, 25.0, 25.0), (CARDS[1], at, 2, 2, 35.0, 35.0), (CARDS[2], at, 1, 1, 30.0, 30.0)],
        CARD_SCHEMA))
    store.soft_delete(registry.group("card"), [{"cc_num": CARDS[2]}], at=at + timedelta(minutes=30))
    store.write_features(registry.group("consumer"), spark.createDataFrame(
        [("c0", T0 + timedelta(days=1), 3, 3, 40.0, 40.0), ("c1", T0 + timedelta(days=1), 5, 5, 30.0, 30.0)],
        CONSUMER_SCHEMA))
    OnlineStore.for_store(store).sync(store, registry.group("card"))
    return store, card.write_time


def test_help_and_unknown_names_answer_fast_without_spark(tmp_path):
    started = time.monotonic()
    main_help = cli("--help")
    assert main_help.returncode == 0 and all(c in main_help.stdout for c in ("list", "describe", "lookup"))
    for command in ("list", "describe", "training-set", "lookup"):
        result = cli(command, "--help")
        assert result.returncode == 0 and f"featurestore {command}" in result.stdout and "--root" in result.stdout
    for args, known in ((["describe", "nope"], "card, consumer"), (["lookup", "nope", "1"], "card, consumer"),
                        (["training-set", "nope"], "fraud_training")):
        result = cli(*args, "--root", str(tmp_path))
        assert result.returncode == 2 and "unknown" in result.stderr and known in result.stderr, result.stderr
    bad_key = cli("lookup", "card", "cc=1", "--root", str(tmp_path))
    assert bad_key.returncode == 2 and "cc_num=..." in bad_key.stderr
    missing = cli("list", "--root", str(tmp_path / "nothing"))
    assert missing.returncode == 2 and "does not exist" in missing.stderr
    not_a_store = cli("describe", "card", "--root", str(tmp_path))
    assert not_a_store.returncode == 2 and "holds no feature-store Delta tables" in not_a_store.stderr
    bad_time = cli("training-set", "fraud_training", "--as-known-at", "yesterday", "--root", str(tmp_path))
    assert bad_time.returncode == 2 and "--as-known-at: 'yesterday' is not an ISO-8601" in bad_time.stderr
    assert time.monotonic() - started < 120  # 13 Python starts, no JVM


def test_catalog_and_lookup_paths_import_no_pyspark(root, tmp_path):
    """list, describe, lookup and training-set (with its check gate over a Dagster instance) on the duckdb
    engine: no pyspark module, hence no JVM."""
    store, _ = root
    script = ("import sys, contextlib, io\nfrom featurestore.cli.commands import main\nout = io.StringIO()\n"
              "with contextlib.redirect_stdout(out):\n"
              f"    codes = [main([*a, '--root', {store.root!r}]) for a in (['list'], ['describe', 'card'], "
              f"['lookup', 'card', {CARDS[0]!r}], ['training-set', 'fraud_training'])]\n"
              "print(codes, 'pyspark' in sys.modules, len(out.getvalue()) > 500)\n")
    env = {**os.environ, "DAGSTER_HOME": str(tmp_path)}  # an (empty) instance: the gate runs and passes
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=300, env=env)
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "[0, 0, 0, 0] False True"


def test_list_and_describe(root):
    store, card_write_time = root
    listed = cli("list", "--json", "--root", store.root, "--master", "local[1]")
    assert listed.returncode == 0, listed.stderr
    groups = {g["group"]: g for g in json.loads(listed.stdout)}
    card = groups["card"]
    assert (card["owner"], card["keys"], card["ttl"], card["schedule"]) == (
        "fraud-ml@example.com", {"cc_num": "string"}, "1h", {"grain": "hourly", "cron": "5 * * * *"})
    assert datetime.fromisoformat(card["last_materialised"]) > card_write_time  # the soft delete came later
    assert card["newest_event_time"] == "2026-10-01T01:30:00+00:00" and card["freshness"].endswith("ago")
    assert groups["consumer"]["newest_event_time"] == "2026-10-02T00:00:00+00:00"

    described = cli("describe", "card", "--json", "--root", store.root, "--master", "local[1]")
    assert described.returncode == 0, described.stderr
    info = json.loads(described.stdout)
    spec = discover("feature_groups").group("card")
    assert info["features"] == [{"name": f.name, "type": f.dtype, "description": f.description}
                                for f in spec.features]
    assert info["features"][0]["name"] == "num_trans_last_1h"
    assert info["history"] == {"path": store.history_path("card"), "version": 1, "rows": 4}
    assert (info["latest"]["rows"], info["latest"]["deleted_keys"]) == (2, 1)
    assert info["online"]["synced"] and info["online"]["rows"] == 2


def test_lookup_from_delta_and_from_sqlite_agree(root):
    store, _ = root
    keys = [CARDS[0], f"cc_num={CARDS[1]}", CARDS[2], "4999"]
    offline = cli("lookup", "card", *keys, "--root", store.root)
    on_spark = cli("lookup", "card", *keys, "--root", store.root, "--engine", "spark", "--master", "local[1]")
    assert on_spark.returncode == 0 and on_spark.stdout == offline.stdout, on_spark.stderr
    started = time.monotonic()
    online = cli("lookup", "card", *keys, "--online", "--root", store.root)
    assert time.monotonic() - started < 30  # SQLite: no Spark
    assert offline.returncode == 0 and online.returncode == 0, offline.stderr + online.stderr
    rows = [json.loads(line) for line in offline.stdout.splitlines()]
    assert rows == [json.loads(line) for line in online.stdout.splitlines()]
    assert [r["cc_num"] for r in rows] == [CARDS[0], CARDS[1], CARDS[2], "4999"]
    assert rows[0]["avg_amt_last_1h"] == 25.0 and rows[0]["card__event_time"] == "2026-10-01 01:00:00+00:00"
    assert rows[2]["num_trans_last_1h"] is None and rows[3]["avg_amt_last_1d"] is None  # deleted, unknown


def test_training_set_builds_into_the_store_and_exports_parquet(root, spark, tmp_path):
    store, _ = root
    out = tmp_path / "fraud.parquet"
    result = cli("training-set", "fraud_training", "--out", str(out), "--json", "--root", store.root)
    assert result.returncode == 0, result.stderr
    summary = json.loads(result.stdout)
    assert summary["rows"] == 8 and summary["input_versions"] == {"consumer": 0, "card": 1}
    assert summary["engine"] == "duckdb" and summary["path"] == store.table_path("training_sets", "fraud_training")
    rows = {r["tid"]: r.asDict() for r in spark.read.parquet(str(out)).collect()}
    assert rows == {r["tid"]: r.asDict() for r in spark.read.format("delta").load(summary["path"]).collect()}
    assert set(rows) == set(range(1, 9))
    # Card snapshots at 01:00 are visible from 01:00 (inclusive); card 3's delete at 01:30 is after tx 8.
    assert [rows[t]["card__num_trans_last_1h"] for t in (5, 6, 7, 8)] == [None, 2, 2, 1]
    assert all(r["consumer__avg_amt_last_7d"] is None for r in rows.values())  # consumer snapshots come later
    known_early = cli("training-set", "fraud_training", "--as-known-at", "2020-01-01", "--root", store.root)
    assert known_early.returncode == 0 and "before the first write of feature group 'card'" in known_early.stderr
