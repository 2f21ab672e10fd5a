"""The project's Definitions, merged from one Definitions per area:

  sources        every discovered source as a partitioned asset, its job and schedule
  groups         every feature group as a partitioned asset with its quality and drift checks (run by the
                 group's job right after it), its job and schedule
  freshness      a `freshness` check per group and the sensor evaluating them (jobs/freshness.py)
  training sets  one asset per training set (gated, run by automation) and its job
  online         online/<group> SQLite copies and consistency checks (run by automation)
  automation     the automation-condition sensor for training sets and online copies (jobs/automation.py)
  alerts         the check-failure and run-failure alert sensors (jobs/sensors.py)
plus the shared resources. Factories live in orchestration/, schedules and sensors in jobs/; jobs/ imports only
leaf modules of orchestration/ (never this one).
"""

from __future__ import annotations

import os

from dagster import AssetSelection, Definitions, EnvVar, in_process_executor

from featurestore.registry import Registry, discover
from jobs.automation import build_automation_sensor
from jobs.freshness import build_freshness_sensor
from jobs.schedules import asset_job, group_schedule, source_schedule
from jobs.sensors import build_check_alert_sensor, build_run_failure_alert_sensor
from orchestration.alerts import WEBHOOK_ENV_VAR, AlertSinkResource
from orchestration.assets import build_group_asset, build_source_asset
from orchestration.checks import QualityResource, build_group_checks
from orchestration.freshness import build_freshness_check, freshness_check_key
from orchestration.keys import TRAINING_SETS_PREFIX, group_key, source_key, training_set_key
from orchestration.maintenance import maintenance_definitions
from orchestration.online_checks import ONLINE_PREFIX, online_definitions
from orchestration.resources import SparkResource, StoreResource
from orchestration.training_assets import build_training_set_asset
from orchestration.training_checks import training_set_check_definitions

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


def source_definitions(registry: Registry) -> Definitions:
    assets, jobs, schedules = [], [], []
    for source in registry.sources.values():
        job = asset_job(f"source_{source.name}", source_key(source.name))
        assets.append(build_source_asset(source))
        jobs.append(job)
        schedules.append(source_schedule(source, job))
    return Definitions(assets=assets, jobs=jobs, schedules=schedules)


def group_definitions(registry: Registry) -> Definitions:
    assets, checks, jobs, schedules = [], [], [], []
    for spec in registry.groups.values():
        job = asset_job(spec.name, group_key(spec.name), without_checks=[freshness_check_key(spec)])
        assets.append(build_group_asset(spec, registry))
        checks += build_group_checks(spec)
        jobs.append(job)
        schedules.append(group_schedule(spec, job))
    return Definitions(assets=assets, asset_checks=checks, jobs=jobs, schedules=schedules)


def freshness_definitions(registry: Registry) -> Definitions:
    specs = list(registry.groups.values())
    return Definitions(asset_checks=[build_freshness_check(s) for s in specs],
                       sensors=[build_freshness_sensor(specs)] if specs else [])


def training_set_definitions(registry: Registry) -> Definitions:
    assets, jobs = [], []
    for training_set in registry.training_sets.values():
        assets.append(build_training_set_asset(training_set, registry))
        jobs.append(asset_job(training_set.name, training_set_key(training_set.name)))
    return Definitions(assets=assets, jobs=jobs)


def automation_definitions() -> Definitions:
    selection = AssetSelection.key_prefixes([TRAINING_SETS_PREFIX], [ONLINE_PREFIX])
    return Definitions(sensors=[build_automation_sensor(selection)])


def alert_definitions() -> Definitions:
    return Definitions(sensors=[build_check_alert_sensor(), build_run_failure_alert_sensor()])


def build_definitions(registry: Registry) -> Definitions:
    """Assets, checks, jobs, schedules and sensors for every source, group and training set in `registry`."""
    return Definitions.merge(
        source_definitions(registry), group_definitions(registry), freshness_definitions(registry),
        training_set_definitions(registry), Definitions(**online_definitions(registry)),
        automation_definitions(), alert_definitions(), maintenance_definitions(registry),
        training_set_check_definitions(registry),
        # backfills and UI launches too: one process, one Spark session per run
        Definitions(resources=build_resources(), executor=in_process_executor))


defs = build_definitions(discover(FEATURE_GROUPS_PACKAGE))
