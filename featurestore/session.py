"""Building a SparkSession with Delta Lake: local by default, any cluster by configuration."""

from __future__ import annotations

import glob
import os
import sys
from collections.abc import Mapping
from pathlib import Path

from featurestore.errors import FeatureStoreError

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JARS_DIR = PROJECT_ROOT / ".jars"
DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}
BASE_CONF = {
    "spark.sql.session.timeZone": "UTC",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.adaptive.enabled": "true",
    "spark.databricks.delta.schema.autoMerge.enabled": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.driver.extraJavaOptions": "-Duser.timezone=UTC",
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
}


def delta_jars(jars_dir: str | os.PathLike | None = None) -> list[str]:
    """The Delta jars fetched by setup (`make setup`); a clear error if they are missing."""
    if not jars_dir:
        from featurestore.settings import Settings

        jars_dir = Settings.resolve().jars_dir
    directory = Path(jars_dir or DEFAULT_JARS_DIR)
    jars = sorted(glob.glob(str(directory / "delta-*.jar")))
    if not any("delta-spark" in j for j in jars) or not any("delta-storage" in j for j in jars):
        raise FeatureStoreError(f"Delta jars not found in {directory}: run `make setup` (it fetches "
                                "io.delta:delta-spark_4.1_2.13 and io.delta:delta-storage from Maven Central)")
    return jars


def build_spark_session(master: str = "local[*]", app_name: str = "featurestore",
                        conf: Mapping[str, str] | None = None,
                        jars_dir: str | os.PathLike | None = None):
    """Get or create the process's SparkSession with Delta, UTC and the given master and extra conf.

    If the process already has a session it is returned unchanged (its settings win).

    `conf` overrides the defaults, so object storage (s3a://, abfss://) and cluster settings are configuration.
    """
    from pyspark.sql import SparkSession

    existing = SparkSession.getActiveSession() or getattr(SparkSession, "_instantiatedSession", None)
    if existing is not None:  # one session per process: reuse it as configured, never reconfigure it
        return existing
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    merged = {**BASE_CONF, **DELTA_CONF, **dict(conf or {})}
    extra_jars = [j for j in merged.pop("spark.jars", "").split(",") if j]
    builder = SparkSession.builder.master(master).appName(app_name)
    builder = builder.config("spark.jars", ",".join(delta_jars(jars_dir) + extra_jars))
    for key, value in merged.items():
        builder = builder.config(key, str(value))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark
