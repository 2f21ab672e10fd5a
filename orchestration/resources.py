"""Dagster resources: the Spark session and the feature store, configured, never built at import time."""

from __future__ import annotations

import json
from pathlib import Path

from dagster import ConfigurableResource

from featurestore.feature_store import FeatureStore
from featurestore.offline.store import OfflineStore
from featurestore.session import PROJECT_ROOT, build_spark_session
from featurestore.settings import Settings, is_remote_root

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
    """The feature store under `root` (a local folder, or s3a://bucket/prefix, abfss://...) as a
    `FeatureStore` (`get_feature_store()`), and its Spark OfflineStore for writes (`get_store()`).

    `engine` is the read engine of the facade ('' = the settings' engine: auto, i.e. duckdb for a local root).
    """

    spark: SparkResource
    root: str = str(DEFAULT_DATA_DIR / "store")
    engine: str = ""

    def _settings(self) -> Settings:
        root = self.root if is_remote_root(self.root) else str(Path(self.root).resolve())
        return Settings.resolve(root=root, engine=self.engine or None, spark_master=self.spark.master,
                                spark_conf=json.loads(self.spark.conf_json or "{}"),
                                jars_dir=self.spark.jars_dir or None)

    def get_feature_store(self) -> FeatureStore:
        """The facade over this root; Spark (this resource's session) starts only when it is needed."""
        store = FeatureStore(settings=self._settings())
        store._spark_factory = self.spark.get_session
        return store

    def get_store(self) -> OfflineStore:
        """The Spark-backed offline store (writes and Spark reads), as before."""
        return OfflineStore(self.spark.get_session(), self._settings().root)
