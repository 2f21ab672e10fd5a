"""Building a SparkSession with Delta Lake: local by default, any cluster by configuration."""

from __future__ import annotations

import glob
import os
import sys
import time
from collections.abc import Mapping
from pathlib import Path

from featurestore.errors import FeatureStoreError
from featurestore.storage import object_storage

PROJECT_ROOT = Path(__file__).resolve().parent.parent
DEFAULT_JARS_DIR = PROJECT_ROOT / ".jars"
LOG4J2_CONFIG = Path(__file__).resolve().parent / "log4j2.properties"  # errors only, no banner
DELTA_CONF = {
    "spark.sql.extensions": "io.delta.sql.DeltaSparkSessionExtension",
    "spark.sql.catalog.spark_catalog": "org.apache.spark.sql.delta.catalog.DeltaCatalog",
}
SESSION_TIME_ZONE = "spark.sql.session.timeZone"
BASE_CONF = {
    SESSION_TIME_ZONE: "UTC",
    "spark.ui.enabled": "false",
    "spark.ui.showConsoleProgress": "false",
    "spark.sql.shuffle.partitions": "8",
    "spark.sql.adaptive.enabled": "true",
    "spark.databricks.delta.schema.autoMerge.enabled": "false",
    "spark.sql.execution.arrow.pyspark.enabled": "true",
    "spark.driver.extraJavaOptions": f"-Duser.timezone=UTC -Dlog4j2.configurationFile={LOG4J2_CONFIG.as_uri()}",
    "spark.executor.extraJavaOptions": "-Duser.timezone=UTC",
}
CONNECT_SCHEME = "sc://"
# Settings a Spark Connect client cannot change: the server's JVM, jars, UI and static SQL settings.
_SERVER_ONLY_PREFIXES = ("spark.jars", "spark.driver.", "spark.executor.", "spark.ui.", "spark.master",
                         "spark.sql.extensions", "spark.sql.catalog.spark_catalog", "spark.hadoop.",
                         "spark.default.parallelism", "spark.cores.", "spark.archives", "spark.submit.")


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


def kafka_jars(jars_dir: str | os.PathLike) -> list[str]:
    """The Kafka source's jars (spark-sql-kafka-0-10 and its dependencies) that setup copies into `kafka/`."""
    return sorted(glob.glob(str(Path(jars_dir) / "kafka" / "*.jar")))


def use_utc_process_zone() -> None:
    """Make this Python process's local zone UTC (TZ=UTC), as the store's rule "naive means UTC" needs.

    PySpark converts naive `datetime`s with the process's local zone in both directions (`createDataFrame`,
    `collect`), so on a machine in New York a naive 02:00 would be stored as 07:00Z. Setting TZ before the JVM
    starts also gives the JVM and Python workers UTC.
    """
    if os.environ.get("TZ") != "UTC":
        os.environ["TZ"] = "UTC"
        if hasattr(time, "tzset"):
            time.tzset()


def build_spark_session(master: str = "local[*]", app_name: str = "featurestore",
                        conf: Mapping[str, str] | None = None,
                        jars_dir: str | os.PathLike | None = None):
    """Get or create the process's SparkSession with Delta, UTC and the given master and extra conf.

    If the process already has a session it is reused (one session per process), with its SQL session time
    zone set to UTC (a runtime setting; nothing else of it is changed). The Python process's zone is set to
    UTC too (see `use_utc_process_zone`). The store itself computes every date and time in UTC whatever the
    session's zone, so a session switched to another zone later cannot corrupt a group either.

    `conf` overrides the defaults, so object storage (s3a://, abfss://) and cluster settings are configuration.
    """
    if is_spark_connect(master):
        return build_connect_session(master, app_name, conf)
    from pyspark.sql import SparkSession

    use_utc_process_zone()
    existing = SparkSession.getActiveSession() or getattr(SparkSession, "_instantiatedSession", None)
    if existing is not None:  # one session per process: reuse it, only its session zone is made UTC
        if existing.conf.get(SESSION_TIME_ZONE, None) != "UTC":
            existing.conf.set(SESSION_TIME_ZONE, "UTC")
        return existing
    os.environ.setdefault("PYSPARK_PYTHON", sys.executable)
    os.environ.setdefault("PYSPARK_DRIVER_PYTHON", sys.executable)
    directory = jars_dir or os.environ.get("FEATURESTORE_JARS_DIR") or DEFAULT_JARS_DIR
    s3_jars, s3_conf = object_storage.spark_settings(directory)  # only when the root is on S3 / S3 is configured
    merged = {**BASE_CONF, **DELTA_CONF, **s3_conf, **dict(conf or {})}
    extra_jars = [j for j in merged.pop("spark.jars", "").split(",") if j]
    builder = SparkSession.builder.master(master).appName(app_name)
    builder = builder.config("spark.jars", ",".join(delta_jars(directory) + s3_jars + kafka_jars(directory)
                                                  + extra_jars))
    for key, value in merged.items():
        builder = builder.config(key, str(value))
    spark = builder.getOrCreate()
    spark.sparkContext.setLogLevel("ERROR")
    return spark


def is_spark_connect(master: str) -> bool:
    """True for a Spark Connect URL (`sc://host:port[/;params]`)."""
    return master.startswith(CONNECT_SCHEME)


def is_connect_session(spark) -> bool:
    """True when `spark` is a Spark Connect client session (no SparkContext, no JVM in this process)."""
    try:
        from pyspark.sql.connect.session import SparkSession as ConnectSession
    except ImportError:  # pragma: no cover - pyspark without the connect extras
        return False
    return isinstance(spark, ConnectSession)


def build_connect_session(url: str, app_name: str = "featurestore", conf: Mapping[str, str] | None = None):
    """Get or create a Spark Connect client session for `url` with the project's runtime SQL settings.

    Jars, the Delta extension and JVM options belong to the server (docs/deployment.md); they are skipped here.
    """
    from pyspark.sql import SparkSession
    from pyspark.sql.connect.session import SparkSession as ConnectSession

    existing = ConnectSession.getActiveSession()
    if existing is not None:
        return existing
    merged = {**BASE_CONF, **dict(conf or {})}
    # pyspark's own builder (not the Connect class's): it also switches the process to Connect mode, which
    # `pyspark.sql.functions` consults on every call
    spark = SparkSession.builder.remote(url).appName(app_name).getOrCreate()
    for key, value in merged.items():
        if not key.startswith(_SERVER_ONLY_PREFIXES):
            spark.conf.set(key, str(value))
    return spark
