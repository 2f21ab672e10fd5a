"""Every wrapped Dagster internal (orchestration/dagster_internals.py) against a real instance, so an upgrade
that moves or changes one fails here; and the layering rules: no `dagster._core` import elsewhere, no import
loop between the factories (orchestration/) and the schedules and sensors (jobs/)."""

from __future__ import annotations

import ast
from pathlib import Path

import pytest
from dagster import (
    AssetCheckEvaluation,
    AssetCheckKey,
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    BackfillPolicy,
    DagsterInstance,
    DailyPartitionsDefinition,
    Definitions,
    MaterializeResult,
    asset,
    asset_check,
    define_asset_job,
    in_process_executor,
)

from orchestration import dagster_internals as internals

PROJECT = Path(__file__).resolve().parents[1]
PARTITIONS = DailyPartitionsDefinition(start_date="2026-11-01", timezone="UTC")
VERDICT = {"passed": True}


@asset(key=["features", "toy"], partitions_def=PARTITIONS, backfill_policy=BackfillPolicy.single_run())
def toy(context) -> MaterializeResult:
    return MaterializeResult(metadata={"run_partitions": len(context.partition_keys)})


@asset_check(asset=toy, name="in_range")
def in_range(context) -> AssetCheckResult:
    keys = context.op_execution_context.partition_key_range
    return AssetCheckResult(passed=VERDICT["passed"], severity=AssetCheckSeverity.ERROR,
                            metadata={"first_partition": keys.start, "last_partition": keys.end})


DEFS = Definitions(assets=[toy], asset_checks=[in_range],
                   jobs=[define_asset_job("toy_job", selection=[toy.key], executor_def=in_process_executor)])
KEY = AssetCheckKey(AssetKey(["features", "toy"]), "in_range")


@pytest.fixture(scope="module")
def instance(tmp_path_factory):
    with DagsterInstance.local_temp(str(tmp_path_factory.mktemp("home"))) as local:
        yield local


def run(instance, first, last, passed=True):
    VERDICT["passed"] = passed
    return DEFS.resolve_job_def("toy_job").execute_in_process(
        instance=instance, tags=internals.partition_range_tags(first, last), raise_on_error=False)


def test_partition_range_tags_make_one_run_over_the_range(instance):
    tags = internals.partition_range_tags("2026-11-02", "2026-11-04")
    assert tags == {"dagster/asset_partition_range_start": "2026-11-02",
                    "dagster/asset_partition_range_end": "2026-11-04"}
    result = run(instance, "2026-11-02", "2026-11-04")
    assert result.success
    assert [e.partition for e in result.get_asset_materialization_events()] == ["2026-11-02", "2026-11-03",
                                                                                "2026-11-04"]
    assert internals.partition_range_of(result.dagster_run.tags) == ("2026-11-02", "2026-11-04")
    assert internals.partition_range_of({"dagster/partition": "2026-11-05"}) == ("2026-11-05", "2026-11-05")
    assert internals.partition_range_of({}) == (None, None)


def test_check_records_newest_first_with_status_evaluation_and_metadata(instance):
    passed = run(instance, "2026-11-05", "2026-11-06")
    failed = run(instance, "2026-11-07", "2026-11-08", passed=False)
    records = internals.check_records(instance, KEY, limit=100)
    completed = internals.check_records(instance, KEY, limit=100, completed_only=True)
    assert [r.id for r in records] == sorted((r.id for r in records), reverse=True)
    assert {r.status for r in completed} <= internals.COMPLETED
    assert internals.CheckRecordStatus.FAILED in {r.status for r in completed}
    newest = completed[0]
    assert newest.run_id == failed.run_id and newest.status is internals.CheckRecordStatus.FAILED
    evaluation = internals.record_evaluation(newest)
    assert isinstance(evaluation, AssetCheckEvaluation) and evaluation.severity is AssetCheckSeverity.ERROR
    assert evaluation.partition is None  # a non-partitioned check: one evaluation for the run's range
    assert internals.record_metadata(newest) == {"first_partition": "2026-11-07", "last_partition": "2026-11-08"}
    older = next(r for r in completed if r.run_id == passed.run_id)
    assert older.status is internals.CheckRecordStatus.SUCCEEDED
    planned = [r for r in records if r.status is internals.CheckRecordStatus.PLANNED]
    # Dagster 1.13 also writes one PLANNED row per partition of a range run, even for a non-partitioned check
    assert planned and all(internals.record_evaluation(r) is None and internals.record_metadata(r) == {}
                           for r in planned)
    assert [r.id for r in internals.iter_check_records(instance, KEY, page=2)] == [r.id for r in records]
    assert [r.id for r in internals.iter_check_records(instance, KEY, page=1, completed_only=True)] == \
        [r.id for r in completed]
    assert [r.id for r in internals.check_records(instance, KEY, limit=1, cursor=records[0].id)] == [records[1].id]


def _python_files():
    for folder in ("featurestore", "quality", "orchestration", "jobs", "feature_groups", "tests", "benchmarks"):
        yield from (PROJECT / folder).rglob("*.py")


def _imports(path: Path) -> set[str]:
    names = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            names |= {a.name for a in node.names}
        elif isinstance(node, ast.ImportFrom) and node.module and not node.level:
            names.add(node.module)
    return names


_CORE_ALLOWED = {"orchestration/dagster_internals.py",
                 "tests/test_dagster_internals.py"}


def test_no_dagster_core_import_outside_the_wrapper():
    offenders = [str(p.relative_to(PROJECT)) for p in _python_files()
                 if str(p.relative_to(PROJECT)) not in _CORE_ALLOWED
                 and any(n == "dagster._core" or n.startswith("dagster._core.") for n in _imports(p))]
    assert offenders == []


def test_core_modules_do_not_import_dagster():
    offenders = [str(p.relative_to(PROJECT)) for folder in ("featurestore", "quality")
                 for p in (PROJECT / folder).rglob("*.py") if p.name != "cli.py"
                 and any(n.split(".")[0] == "dagster" for n in _imports(p))]
    assert offenders == []


def test_no_import_loop_between_orchestration_and_jobs():
    modules = {}
    for folder in ("orchestration", "jobs"):
        for path in (PROJECT / folder).glob("*.py"):
            name = f"{folder}.{path.stem}" if path.stem != "__init__" else folder
            modules[name] = {n for n in _imports(path) if n.split(".")[0] in ("orchestration", "jobs")}
    for name, deps in modules.items():  # jobs/ never reaches the assembly of Definitions
        if name.startswith("jobs"):
            assert "orchestration.definitions" not in deps and "orchestration.demo" not in deps, name
    state: dict[str, str] = {}

    def visit(name, path):
        state[name] = "active"
        for dep in modules.get(name, ()):
            assert state.get(dep) != "active", f"import loop: {' -> '.join([*path, dep])}"
            if dep not in state:
                visit(dep, [*path, dep])
        state[name] = "done"

    for name in modules:
        if name not in state:
            visit(name, [name])
