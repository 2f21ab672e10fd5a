"""The automation-condition sensor: evaluates the AutomationConditions of the training sets and the online
sync (orchestration.automation.inputs_ready) and launches their runs. RUNNING by default, so the derived
assets follow their inputs as soon as a daemon runs; stop it in the UI (Automation) to switch it off."""

from __future__ import annotations

from dagster import AssetSelection, AutomationConditionSensorDefinition, DefaultSensorStatus

from jobs.sensors import sensor_interval

AUTOMATION_SENSOR = "derived_assets_automation"


def build_automation_sensor(selection: AssetSelection, *, name: str = AUTOMATION_SENSOR,
                            minimum_interval_seconds: int | None = None,
                            default_status: DefaultSensorStatus = DefaultSensorStatus.RUNNING
                            ) -> AutomationConditionSensorDefinition:
    return AutomationConditionSensorDefinition(
        name, target=selection, default_status=default_status,
        minimum_interval_seconds=minimum_interval_seconds or sensor_interval(30),
        description="Materialises training sets and online copies when their inputs have new data whose "
                    "blocking checks passed")


__all__ = ["AUTOMATION_SENSOR", "build_automation_sensor"]
