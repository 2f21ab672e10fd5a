"""Dagster resources: the Spark session and the offline store, configured, never built at import time."""

from __future__ import annotations

import json
from pathlib import Path

from dagster import ConfigurableResource

from featurestore.session import PROJECT_ROOT, build_spark_session
from featurestore.store import OfflineStore

DEFAULT_DATA_DIR = PROJECT_ROOT / "data"


class SparkResource(ConfigurableResource):
    """A SparkSession with Delta: `local[*]` by default; any master (spark://, k8s://, yarn) by config.

    `conf_json` is a JSON object of extra Spark settings (e.g. s3a credentials provider, executor memory).
    """

    master: str = "local[*]"
    app_name: str = "featurestore"
    conf_json: str = "{}"
    jars_dir: str = ""

    def get_session(self):
        return build_spark_session(self.master, self.app_name, json.loads(self.conf_json or "{}"),
                                   self.jars_dir or None)


class StoreResource(ConfigurableResource):
    """The offline store under `root`: a local folder by default, or s3a://bucket/prefix, abfss://..."""

    spark: SparkResource
    root: str = str(DEFAULT_DATA_DIR / "store")

    def get_store(self) -> OfflineStore:
        root = self.root if "://" in self.root else str(Path(self.root).resolve())
        return OfflineStore(self.spark.get_session(), root)
