"""Every Python and shell example of the README runs, against a small store shaped like the demo's.

Python blocks are executed as written (FEATURESTORE_ROOT points at the test store); in shell blocks every
`featurestore ...` line runs through the installed console script. `make ...` lines are the project's own
targets (run by CI: .ci/run), not re-run here.
"""

from __future__ import annotations

import os
import re
import subprocess
import sys
from datetime import datetime, timedelta, timezone
from pathlib import Path

import pytest

from featurestore.offline.store import OfflineStore
from featurestore.registry import discover

README = Path(__file__).resolve().parent.parent / "README.md"
SCRIPT = str(Path(sys.executable).parent / "featurestore")
# the README's entity rows are at day + 12:00 and day + 32:30, day = two days before today (the demo's window)
DAY5 = datetime.now(timezone.utc).replace(hour=0, minute=0, second=0, microsecond=0) - timedelta(days=2)


def blocks(language: str) -> list[str]:
    return re.findall(rf"```{language}\n(.*?)```", README.read_text(), flags=re.S)


@pytest.fixture(scope="module")
def demo_root(spark, tmp_path_factory):
    """Cards 1 and 2 and consumers c000001/c000002 with values at the README's entity times."""
    registry = discover("feature_groups")
    store = OfflineStore(spark, str(tmp_path_factory.mktemp("readme") / "store"))
    transactions = [(i, DAY5 + timedelta(hours=i), f"400000000000000{1 + i % 2}", f"c00000{1 + i % 2}",
                     12.5 * i, i % 2) for i in range(20)]
    store.write_source(registry.source("transactions"), spark.createDataFrame(
        transactions, "tid long, event_time timestamp, cc_num string, consumer_id string, amount double, "
                      "fraud_label int"), DAY5, DAY5 + timedelta(days=1))
    card_rows = [(f"400000000000000{c}", DAY5 + timedelta(hours=h), h, 3 * h, 10.0 * c, 11.0 * c)
                 for c in (1, 2) for h in (11, 32)]
    store.write_features(registry.group("card"), spark.createDataFrame(
        card_rows, "cc_num string, event_time timestamp, num_trans_last_1h long, num_trans_last_1d long, "
                   "avg_amt_last_1h double, avg_amt_last_1d double"))
    consumer_rows = [(f"c00000{c}", DAY5 + timedelta(days=d), 4 * c, 9 * c, 20.0 * c, 21.0 * c)
                     for c in (1, 2) for d in (0, 1)]
    store.write_features(registry.group("consumer"), spark.createDataFrame(
        consumer_rows, "consumer_id string, event_time timestamp, num_trans_last_1d long, num_trans_last_7d long, "
                       "avg_amt_last_1d double, avg_amt_last_7d double"))
    return store.root


def test_the_readme_has_the_examples_this_test_runs():
    assert len(blocks("python")) >= 2 and any("FeatureStore.from_settings()" in b for b in blocks("python"))
    assert sum(line.startswith("featurestore ") for b in blocks("bash") for line in b.splitlines()) >= 4


def test_python_examples_run_and_return_real_values(demo_root, monkeypatch, capsys):
    monkeypatch.setenv("FEATURESTORE_ROOT", demo_root)
    monkeypatch.delenv("FEATURESTORE_ENGINE", raising=False)
    for code in blocks("python"):
        namespace: dict = {}
        exec(compile(code, "README.md", "exec"), namespace)  # noqa: S102 - the README's own examples
        if "merchant" in namespace:
            assert namespace["merchant"].feature_names == ["num_trans_last_1d", "avg_amount_7d",
                                                           "variance_amount_30d"]
        if "df" in namespace:
            frame = namespace["df"].to_pandas()
            assert len(frame) == 2 and frame.notna().all().all(), frame  # real values, not nulls
            assert list(frame["num_trans_last_1h"]) == [11, 32]
            assert [g["group"] for g in namespace["groups"]] == ["card", "consumer"]
            assert namespace["card"]["history"]["rows"] == 4
            assert namespace["now"][0]["num_trans_last_1h"] == 32
    printed = capsys.readouterr().out
    assert "4000000000000002" in printed and "2 rows" in printed


def test_shell_examples_run_through_the_console_script(demo_root, tmp_path):
    env = {**os.environ, "FEATURESTORE_ROOT": demo_root}
    env.pop("FEATURESTORE_ENGINE", None)
    env.pop("DAGSTER_HOME", None)  # no Dagster instance: the training set is not gated here
    commands = [line.split("#")[0].split() for b in blocks("bash") for line in b.splitlines()
                if line.startswith("featurestore ")]
    for argv in commands:
        done = subprocess.run([SCRIPT, *argv[1:]], capture_output=True, text=True, timeout=300, env=env,
                              cwd=tmp_path)
        assert done.returncode == 0, (argv, done.stderr)
        assert len(done.stdout.strip()) > 50, (argv, done.stdout)
    assert (tmp_path / "fraud.parquet").stat().st_size > 0
