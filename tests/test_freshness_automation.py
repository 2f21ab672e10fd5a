"""Freshness (a stale group is flagged, partition-aware, alerted once per change) and the automation condition
of the derived assets (requested after new data whose blocking checks passed, held by a failed ERROR check)."""

from __future__ import annotations

from datetime import timedelta

from dagster import (
    AssetCheckResult,
    AssetCheckSeverity,
    AssetKey,
    AssetMaterialization,
    DagsterInstance,
    DailyPartitionsDefinition,
    Definitions,
    asset,
    asset_check,
    build_sensor_context,
    define_asset_job,
    evaluate_automation_conditions,
    in_process_executor,
)

from featurestore.registry import discover
from jobs.freshness import build_freshness_sensor, freshness_tick
from jobs.sensors import AlertCursor, process_check_failures
from orchestration.automation import inputs_ready
from orchestration.freshness import freshness_check_key, freshness_evaluation, group_freshness
from orchestration.partitions import partitions_for


class ListSink:
    def __init__(self):
        self.alerts = []

    def send(self, alert):
        self.alerts.append(alert)


def test_a_stale_group_is_flagged_once_per_change_and_alerted(tmp_path):
    card = discover("feature_groups").group("card")  # hourly: warn after 2 h, fail after 4 h
    window = partitions_for(card.grain, card.start).time_window_for_partition_key("2026-11-30-10:00")
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        for key in ("2026-11-30-09:00", "2026-11-30-10:00"):
            instance.report_runless_asset_event(AssetMaterialization(AssetKey(["features", "card"]), partition=key))
        fresh, cursor, _ = freshness_tick(instance, [card], None, now=window.end + timedelta(hours=1))
        assert [e.passed for e in fresh] == [True]
        # an old partition backfilled later does not make the group fresh (partition-aware)
        instance.report_runless_asset_event(AssetMaterialization(AssetKey(["features", "card"]),
                                                                 partition="2026-11-01-00:00"))
        warn, cursor, summary = freshness_tick(instance, [card], cursor, now=window.end + timedelta(hours=3))
        assert [(e.passed, e.severity) for e in warn] == [(False, AssetCheckSeverity.WARN)]
        assert "stale: card WARN" in summary and "2026-11-30-10:00" in warn[0].description
        same, cursor, _ = freshness_tick(instance, [card], cursor, now=window.end + timedelta(hours=3, minutes=5))
        assert same == []  # nothing changed: nothing recorded, nothing re-alerted
        error, cursor, _ = freshness_tick(instance, [card], cursor, now=window.end + timedelta(hours=5))
        assert [(e.passed, e.severity) for e in error] == [(False, AssetCheckSeverity.ERROR)]
        assert error[0].metadata["newest_partition"].value == "2026-11-30-10:00"
        for evaluation in error:  # what the daemon does with the sensor's asset events
            instance.report_runless_asset_event(evaluation)
        sink = ListSink()
        process_check_failures(instance, [freshness_check_key(card)], AlertCursor(), sink)
        assert [(a.check, a.severity.value) for a in sink.alerts] == [("freshness", "ERROR")]
        assert "card is stale" in sink.alerts[0].text
        tick = build_freshness_sensor([card]).evaluate_tick(build_sensor_context(instance=instance))
        assert tick.asset_events == []  # a sensor without a cursor: the latest evaluation already says ERROR
        instance.report_runless_asset_event(AssetMaterialization(AssetKey(["features", "card"]),
                                                                 partition="2026-11-30-11:00"))
        tick = build_freshness_sensor([card]).evaluate_tick(build_sensor_context(instance=instance))
        assert [e.check_name for e in tick.asset_events] == ["freshness"]  # a new newest partition: recorded


def test_a_freshness_state_a_run_already_recorded_is_not_recorded_or_alerted_twice(tmp_path):
    card = discover("feature_groups").group("card")
    window = partitions_for(card.grain, card.start).time_window_for_partition_key("2026-11-30-10:00")
    late = window.end + timedelta(hours=5)  # ERROR
    with DagsterInstance.local_temp(str(tmp_path)) as instance:
        instance.report_runless_asset_event(AssetMaterialization(AssetKey(["features", "card"]),
                                                                 partition="2026-11-30-10:00"))
        first, cursor, _ = freshness_tick(instance, [card], None, now=late)
        for evaluation in first:
            instance.report_runless_asset_event(evaluation)
        # a backfill of an old partition runs the check in its run after the materialisation (same state)
        instance.report_runless_asset_event(AssetMaterialization(AssetKey(["features", "card"]),
                                                                 partition="2026-11-01-00:00"))
        instance.report_runless_asset_event(freshness_evaluation(card, group_freshness(instance, card, late)))
        again, cursor, _ = freshness_tick(instance, [card], cursor, now=late + timedelta(minutes=1))
        assert again == []  # the materialisation changed, but the latest evaluation already says this
        sink = ListSink()
        process_check_failures(instance, [freshness_check_key(card)], AlertCursor(), sink)
        assert len(sink.alerts) == 2  # the sensor's and the run's: each recorded once, none by the sensor twice
        # another materialisation without a check evaluation after it: the sensor records the state again
        instance.report_runless_asset_event(AssetMaterialization(AssetKey(["features", "card"]),
                                                                 partition="2026-11-02-00:00"))
        third, cursor, _ = freshness_tick(instance, [card], cursor, now=late + timedelta(minutes=2))
        assert [(e.passed, e.severity) for e in third] == [(False, AssetCheckSeverity.ERROR)]


PARTITIONS = DailyPartitionsDefinition(start_date="2026-11-01", timezone="UTC")
VERDICT = {"passed": True}


@asset(key=["features", "g"], partitions_def=PARTITIONS)
def group_asset() -> None:
    return None


@asset_check(asset=group_asset, name="not_null", blocking=True)
def not_null() -> AssetCheckResult:
    if VERDICT.get("while_checking"):
        VERDICT["while_checking"]()  # the group is materialised, this check of the same run has not finished
    return AssetCheckResult(passed=VERDICT["passed"], severity=AssetCheckSeverity.ERROR)


@asset(key=["training_sets", "t"], deps=[group_asset], automation_condition=inputs_ready())
def training() -> None:
    return None


DEFS = Definitions(assets=[group_asset, training], asset_checks=[not_null],
                   jobs=[define_asset_job("g_job", selection=[group_asset.key], executor_def=in_process_executor)])


def test_inputs_ready_requests_after_checked_new_data_and_holds_on_a_failed_error_check():
    instance = DagsterInstance.ephemeral()

    def evaluate(cursor):
        return evaluate_automation_conditions(defs=DEFS, instance=instance, cursor=cursor)

    def run(partition, passed):
        VERDICT["passed"] = passed
        DEFS.resolve_job_def("g_job").execute_in_process(instance=instance, partition_key=partition,
                                                        raise_on_error=False)

    result = evaluate(None)
    assert result.total_requested == 0  # nothing new
    run("2026-11-02", passed=True)  # an older partition: eager() would wait for the missing ones
    result = evaluate(result.cursor)
    assert result.total_requested == 1
    result = evaluate(result.cursor)
    assert result.total_requested == 0  # handled
    run("2026-11-03", passed=False)
    result = evaluate(result.cursor)
    assert result.total_requested == 0  # held by the failed ERROR check
    held = result.get_requested_partitions(AssetKey(["training_sets", "t"]))
    assert not held
    run("2026-11-03", passed=True)
    result = evaluate(result.cursor)
    assert result.total_requested == 1  # re-materialised clean: requested
    result = evaluate(result.cursor)
    assert result.total_requested == 0  # handled
    seen = {}
    VERDICT["while_checking"] = lambda: seen.update(during=evaluate(result.cursor).total_requested)
    try:
        run("2026-11-04", passed=False)
    finally:
        VERDICT.pop("while_checking")
    assert seen == {"during": 0}  # materialised, its blocking check still running: held
    assert evaluate(result.cursor).total_requested == 0  # then held by the failed check
