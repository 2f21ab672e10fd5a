"""Group asset checks through Dagster on the consumer example: clean partitions pass; drifted amounts, a burst of
nulls, out-of-range values and an errored expectation fail with the right severity and metadata; a drift check
without reference partitions records no result (Skipped, never Passed); the sensor alerts the failures; the
training set (asset and CLI) is blocked by a failed ERROR check on any partition it reads, also an older one,
and builds again once that partition is re-materialised clean.

Timeline (one persistent instance in a temporary DAGSTER_HOME, one store): sources 09-24..10-11 and consumer
10-01..10-08 are written directly (no checks); Dagster runs consumer 10-01 again (no earlier partition: drift
not evaluated), 10-09 clean, 10-09 again after the day's amounts drift x3, then (day restored) 10-10 with a
faulty transform; the gate tests then run 10-11 clean and 10-10 clean.
"""

from __future__ import annotations

import json
from dataclasses import replace
from datetime import datetime, timezone
from pathlib import Path

import pytest
from dagster import AssetCheckKey, AssetCheckSeverity, DagsterInstance, materialize
from pyspark.sql import functions as F

from featurestore.offline.materialize import materialize_group, materialize_source
from featurestore.registry import discover
from jobs.sensors import AlertCursor, process_check_failures
from orchestration.assets import build_group_asset, build_source_asset
from orchestration.keys import group_key
from orchestration.checks import QualityResource, build_group_checks, group_check_keys
from orchestration.dagster_internals import CheckRecordStatus, check_records
from orchestration.gate import training_set_gate
from orchestration.resources import SparkResource, StoreResource
from orchestration.training_assets import build_training_set_asset
from quality.alerts import JsonlAlertSink
from quality.expectations import expectation

ENV = {"FEATURESTORE_DEMO_TX_PER_DAY": "3000", "FEATURESTORE_DEMO_CONSUMERS": "300",
       "FEATURESTORE_DEMO_CARDS": "300"}  # >= 100 rows per partition, so drift statistics are evaluated


def utc(*args) -> datetime:
    return datetime(*args, tzinfo=timezone.utc)


def faulty(transform):
    """The consumer transform with a third of avg_amt_last_7d nulled and a third of num_trans_last_1d negative."""
    def wrapped(ctx):
        rows = transform(ctx)
        bucket = F.abs(F.hash("consumer_id")) % 3
        return (rows.withColumn("avg_amt_last_7d", F.when(bucket == 0, F.lit(None).cast("double"))
                                .otherwise(F.col("avg_amt_last_7d")))
                .withColumn("num_trans_last_1d", F.when(bucket == 1, -F.col("num_trans_last_1d") - 1)
                            .otherwise(F.col("num_trans_last_1d"))))
    return wrapped


@pytest.fixture(scope="module")
def world(spark, tmp_path_factory):
    patch = pytest.MonkeyPatch()
    for name, value in ENV.items():
        patch.setenv(name, value)
    patch.delenv("FEATURESTORE_DEMO_DRIFT_FROM", raising=False)
    registry = discover("feature_groups")
    consumer, source = registry.group("consumer"), registry.source("transactions")
    reports = tmp_path_factory.mktemp("reports")
    resources = {"store": StoreResource(spark=SparkResource(master="local[2]"),
                                        root=str(tmp_path_factory.mktemp("store"))),
                 "quality": QualityResource(reports_dir=str(reports))}
    store = resources["store"].get_store()
    home = tmp_path_factory.mktemp("dagster_home")
    instance = DagsterInstance.local_temp(str(home))
    materialize_source(store, source, utc(2026, 9, 24), utc(2026, 10, 12))
    materialize_group(store, consumer, registry, utc(2026, 10, 1), utc(2026, 10, 9))
    source_asset = build_source_asset(source).to_source_asset()

    def run(spec, partition):
        return materialize([source_asset, build_group_asset(spec, registry), *build_group_checks(spec)],
                           selection=[group_key(spec.name)], resources=resources, instance=instance,
                           partition_key=partition, raise_on_error=False)

    runs = {"first": run(consumer, "2026-10-01"), "clean": run(consumer, "2026-10-09")}
    patch.setenv("FEATURESTORE_DEMO_DRIFT_FROM", "2026-10-09")
    materialize_source(store, source, utc(2026, 10, 9), utc(2026, 10, 10))
    runs["drift"] = run(consumer, "2026-10-09")
    patch.delenv("FEATURESTORE_DEMO_DRIFT_FROM")
    materialize_source(store, source, utc(2026, 10, 9), utc(2026, 10, 10))  # the clean day back
    materialize_group(store, consumer, registry, utc(2026, 10, 9), utc(2026, 10, 10))
    broken = expectation("ExpectColumnValuesToBeBetween", name="errors:no_such_column", column="no_such_column",
                         min_value=0)  # passes spec validation (no declared columns), errors inside GX
    bad = replace(consumer, transform=faulty(consumer.transform), expectations=consumer.expectations + (broken,))
    runs["faulty"] = run(bad, "2026-10-10")
    yield {"registry": registry, "store": store, "instance": instance, "resources": resources, "runs": runs,
           "run": run, "reports": reports, "bad": bad, "home": str(home)}
    instance.dispose()
    patch.undo()


def evaluations(result) -> dict:
    return {e.check_name: e for e in result.get_asset_check_evaluations()}


def test_clean_partition_passes_every_check_with_metadata(world):
    result = world["runs"]["clean"]
    checks = evaluations(result)
    assert result.success
    assert set(checks) == {k.name for k in group_check_keys(world["registry"].group("consumer"))}
    assert [name for name, e in checks.items() if not e.passed] == []
    # not partitioned: one result per check for the run's range, which the metadata names
    assert all(e.partition is None for e in checks.values())
    assert {(e.metadata["first_partition"].value, e.metadata["last_partition"].value, e.metadata["partitions"].value)
            for e in checks.values()} == {("2026-10-09", "2026-10-09", "2026-10-09")}
    drift = checks["drift_avg_amt_last_1d"].metadata
    assert drift["reference_partitions"].value == 7 and drift["rows_checked"].value >= 100
    assert drift["reference_window"].value == "previous 7 daily partitions: 2026-10-02..2026-10-08"
    assert set(drift["observed"].value) == {"mean_shift_z", "std_ratio", "psi", "null_rate_change"}
    assert "psi" in drift["threshold"].value and Path(drift["drift_report"].value).is_file()
    assert Path(drift["drift_report"].value).parent == world["reports"]
    suite = checks["between_avg_amt_last_1d"].metadata
    assert suite["threshold"].value["max_value"] == 10_000 and suite["unexpected_count"].value == 0
    assert checks["row_count"].metadata["observed"].value["value"] == suite["element_count"].value


def test_drifted_amounts_fail_the_drift_check_with_error_severity(world):
    result = world["runs"]["drift"]
    checks = evaluations(result)
    failed = {name for name, e in checks.items() if not e.passed}
    assert "drift_avg_amt_last_1d" in failed and failed <= {"drift_avg_amt_last_1d", "drift_avg_amt_last_7d"}
    drift = checks["drift_avg_amt_last_1d"]
    assert drift.severity is AssetCheckSeverity.ERROR and not result.success  # blocking: the run fails
    assert drift.metadata["level"].value == "ERROR" and drift.metadata["psi"].value > 0.25
    assert drift.metadata["mean_shift_z"].value > 1.0
    assert "| bin |" in drift.metadata["bins"].value and "reference" in drift.metadata["bins"].value
    assert "drift in avg_amt_last_1d" in drift.description and "mean_shift_z" in drift.description
    assert checks["drift_num_trans_last_1d"].passed and checks["drift_row_volume"].passed


def test_nulls_out_of_range_values_and_an_errored_expectation_fail(world):
    checks = evaluations(world["runs"]["faulty"])
    nulls = checks["not_null_avg_amt_last_7d"]
    assert not nulls.passed and nulls.severity is AssetCheckSeverity.ERROR
    assert nulls.metadata["unexpected_count"].value > 50
    assert "| consumer_id | event_time | avg_amt_last_7d |" in nulls.metadata["offending_rows"].value
    negative = checks["between_num_trans_last_1d"]
    assert not negative.passed and negative.metadata["threshold"].value["min_value"] == 0
    assert min(negative.metadata["unexpected_sample"].value) < 0
    errored = checks["errors_no_such_column"]
    assert not errored.passed and errored.severity is AssetCheckSeverity.ERROR
    assert "no_such_column" in errored.metadata["error"].value and "errored" in errored.description
    null_drift = checks["drift_avg_amt_last_7d"]
    assert not null_drift.passed and "null_rate_change" in null_drift.description
    # what the faults do not touch still passes
    assert checks["type_avg_amt_last_7d"].passed and checks["row_count"].passed
    assert checks["between_avg_amt_last_1d"].passed and checks["drift_row_volume"].passed


def test_the_sensor_alerts_each_failed_check_once(world, tmp_path):
    sink = JsonlAlertSink(tmp_path / "alerts.jsonl")
    keys = group_check_keys(world["bad"])
    first = process_check_failures(world["instance"], keys, AlertCursor(), sink)
    failed = [(r.run_id, e.check_name) for r in world["runs"].values() for e in r.get_asset_check_evaluations()
              if not e.passed]
    alerts = [json.loads(line) for line in (tmp_path / "alerts.jsonl").read_text().splitlines()]
    assert sorted((a["run_id"], a["check"]) for a in alerts) == sorted(failed)
    drift = next(a for a in alerts if a["check"] == "drift_avg_amt_last_1d")
    assert drift["severity"] == "ERROR" and drift["partition"] == "2026-10-09" and "Drift report:" in drift["text"]
    process_check_failures(world["instance"], keys, first.cursor, sink)
    assert len((tmp_path / "alerts.jsonl").read_text().splitlines()) == len(alerts)


def test_a_drift_check_without_reference_partitions_records_no_result_so_it_is_not_green(world):
    result = world["runs"]["first"]  # 10-01 is the group's first partition: nothing to compare with
    checks = evaluations(result)
    assert result.success and checks and all(e.passed for e in checks.values())
    assert not any(name.startswith("drift_") for name in checks)  # no result: not Passed
    key = AssetCheckKey(group_key("consumer"), "drift_avg_amt_last_1d")
    records = [r for r in check_records(world["instance"], key, limit=50) if r.run_id == result.run_id]
    assert records and {r.status for r in records} == {CheckRecordStatus.PLANNED}  # the UI resolves it Skipped
    logs = [entry.user_message for entry in world["instance"].all_logs(result.run_id)]
    assert any("not evaluated (not evaluated: 0 reference partition(s) with rows" in m for m in logs)


TRAINING_MODULE = """
from feature_groups.consumer import consumer
from feature_groups.transactions import transactions
from featurestore.training.sets import TrainingSetSpec

consumer_training = TrainingSetSpec(
    name="consumer_training", description="consumer features at each transaction",
    entity_source="transactions", timestamp_column="event_time",
    entity_columns=("tid", "event_time", "consumer_id", "fraud_label"),
    features=("consumer:*",), start="2026-10-11", end="2026-10-12")
"""


@pytest.fixture(scope="module")
def training_package(tmp_path_factory):
    """A spec package with the consumer group and a training set reading its partitions 10-10 and 10-11."""
    import sys

    root = tmp_path_factory.mktemp("specs")
    (root / "gate_sets").mkdir()
    (root / "gate_sets" / "__init__.py").write_text("")
    (root / "gate_sets" / "sets.py").write_text(TRAINING_MODULE)
    sys.path.insert(0, str(root))
    yield "gate_sets"
    sys.path.remove(str(root))
    for name in [m for m in sys.modules if m.split(".")[0] == "gate_sets"]:
        del sys.modules[name]


def cli_training_set(world, package, out, *extra):
    from featurestore.cli import commands as cli
    with pytest.MonkeyPatch.context() as patch:
        patch.setenv("DAGSTER_HOME", world["home"])
        code = cli.main(["training-set", "consumer_training", "--package", package, "--root", world["store"].root,
                         "--out", str(out), "--json", *extra])
    return code


def test_training_set_is_blocked_by_a_failed_error_check_on_an_older_partition_until_it_passes(
        world, training_package, tmp_path, capsys):
    from featurestore.registry import discover as discover_package

    registry, instance = discover_package(training_package), world["instance"]
    spec = registry.training_set("consumer_training")
    consumer = world["registry"].group("consumer")
    gates = {"consumer": group_check_keys(world["bad"])}
    newer = world["run"](consumer, "2026-10-11")  # the newest partition passes...
    assert newer.success and all(e.passed or e.severity is AssetCheckSeverity.WARN  # (faulty 10-10 is in the
                                 for e in newer.get_asset_check_evaluations())  # drift reference: WARN at most)

    gate = training_set_gate(instance, spec, registry, gates)  # ... but 10-10, which the set reads, failed
    assert gate.partitions_checked == {"consumer": 2}  # [10-11 - ttl 1d, 10-12): 10-10 and 10-11
    assert {f.check for f in gate.failures} >= {"not_null_avg_amt_last_7d", "between_num_trans_last_1d",
                                                "errors_no_such_column"}
    faulty_run = world["runs"]["faulty"].run_id
    assert all(f.group == "consumer" and f.partitions == ("2026-10-10",) and f.run_id == faulty_run
               for f in gate.failures)
    training = build_training_set_asset(spec, registry, checks_by_group=gates)
    result = materialize([training], resources=world["resources"], instance=instance, raise_on_error=False)
    assert not result.success
    failure = next(e for e in result.all_events if e.is_step_failure).step_failure_data.user_failure_data
    assert "training set 'consumer_training' not built" in failure.description
    assert ("feature group 'consumer': ERROR check 'not_null_avg_amt_last_7d' failed on partition 2026-10-10"
            in failure.description)

    capsys.readouterr()
    assert cli_training_set(world, training_package, tmp_path / "blocked") == 1  # the CLI applies the same gate
    err = capsys.readouterr().err
    assert "not built" in err and "'not_null_avg_amt_last_7d' failed on partition 2026-10-10" in err
    assert "--ignore-checks" in err and not (tmp_path / "blocked").exists()
    assert cli_training_set(world, training_package, tmp_path / "forced", "--ignore-checks") == 0
    forced = json.loads(capsys.readouterr().out)
    assert forced["rows"] == 3000 and "WARNING: built despite failed checks" in forced["warning"]

    fixed = world["run"](consumer, "2026-10-10")  # re-materialised with the clean transform: checks pass
    assert fixed.success and all(e.passed for e in fixed.get_asset_check_evaluations())
    assert not training_set_gate(instance, spec, registry).blocked
    default_gates = build_training_set_asset(spec, registry)  # gates: the group's own checks
    built = materialize([default_gates], resources=world["resources"], instance=instance)
    assert built.success
    assert built.get_asset_materialization_events()[0].materialization.metadata["rows"].value == 3000
    assert cli_training_set(world, training_package, tmp_path / "clean") == 0
    assert "warning" not in json.loads(capsys.readouterr().out)
