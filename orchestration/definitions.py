"""The project's Definitions: every discovered source and feature group as an asset, with jobs and schedules,
quality checks on every group (run by the group's job right after it), and the alerting sensors."""

from __future__ import annotations

import os

from dagster import Definitions, EnvVar

from featurestore.registry import Registry, discover
from jobs.schedules import asset_job, group_schedule, source_schedule
from jobs.sensors import build_check_alert_sensor, build_run_failure_alert_sensor
from orchestration.alerts import WEBHOOK_ENV_VAR, AlertSinkResource
from orchestration.assets import build_group_asset, build_source_asset, group_key, source_key
from orchestration.checks import QualityResource, build_group_checks
from orchestration.maintenance import maintenance_definitions
from orchestration.online_checks import online_definitions
from orchestration.resources import SparkResource, StoreResource
from orchestration.training_assets import build_training_set_asset, training_set_key

FEATURE_GROUPS_PACKAGE = "feature_groups"


def _configured(name: str, default: str) -> str | EnvVar:
    """An EnvVar when the variable is set (resolved at run time, shown as such in the UI), else the default."""
    return EnvVar(name) if os.environ.get(name) else default


def build_resources() -> dict:
    spark = SparkResource(master=_configured("FEATURESTORE_SPARK_MASTER", "local[*]"),
                          conf_json=_configured("FEATURESTORE_SPARK_CONF", "{}"))
    store_defaults = StoreResource.model_fields["root"].default
    alerts = AlertSinkResource(webhook_url=_configured(WEBHOOK_ENV_VAR, ""),
                               jsonl_path=_configured("FEATURESTORE_ALERTS_FILE",
                                                      AlertSinkResource.model_fields["jsonl_path"].default),
                               ui_url=_configured("FEATURESTORE_UI_URL", ""))
    return {"spark": spark, "store": StoreResource(spark=spark, root=_configured("FEATURESTORE_ROOT", store_defaults)),
            "quality": QualityResource(reports_dir=_configured("FEATURESTORE_REPORTS_DIR", "")),
            "alerts": alerts}


def build_definitions(registry: Registry) -> Definitions:
    """Assets, checks, jobs, schedules and sensors for every source, group and training set in `registry`."""
    assets, checks, jobs, schedules = [], [], [], []
    for source in registry.sources.values():
        job = asset_job(f"source_{source.name}", source_key(source.name))
        assets.append(build_source_asset(source))
        jobs.append(job)
        schedules.append(source_schedule(source, job))
    for spec in registry.groups.values():
        job = asset_job(spec.name, group_key(spec.name))
        assets.append(build_group_asset(spec, registry))
        checks += build_group_checks(spec)
        jobs.append(job)
        schedules.append(group_schedule(spec, job))
    for training_set in registry.training_sets.values():
        assets.append(build_training_set_asset(training_set, registry))
        jobs.append(asset_job(training_set.name, training_set_key(training_set.name)))
    sensors = [build_check_alert_sensor(), build_run_failure_alert_sensor()]
    online = online_definitions(registry)  # online/<group> SQLite copies, consistency checks, sync sensors
    return Definitions(assets=assets + online["assets"], asset_checks=checks + online["asset_checks"],
                       jobs=jobs + online["jobs"], schedules=schedules, sensors=sensors + online["sensors"],
                       resources={**build_resources(), **online["resources"]})


defs = Definitions.merge(build_definitions(discover(FEATURE_GROUPS_PACKAGE)), maintenance_definitions(discover(FEATURE_GROUPS_PACKAGE)))
