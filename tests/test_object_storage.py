"""The example on a bucket of a real S3 API server (SeaweedFS on 127.0.0.1), by configuration alone, compared row for
row with the same data computed locally; the bucket's tables read by delta-rs equal Spark's read of them.

The S3 run is a separate Python process with its own JVM (about 20-30 s of start-up), because "configuration alone"
means a new session built from `FEATURESTORE_ROOT=s3a://...` and `FEATURESTORE_S3_*`, with the hadoop-aws jars on
its classpath from the start; the suite's session has neither. Run as `python -m tests.test_object_storage OUT` that
process executes the Dagster jobs (source, both groups, training set, online sync) and writes what Spark reads back
from the bucket as Parquet into OUT.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from featurestore.session import DEFAULT_JARS_DIR
from featurestore.storage.object_storage import S3Settings, delta_rs_uri, s3a_jars
from tests.s3_server import seaweedfs_s3
from tests.example_runs import TABLES, drive_beside_local, run_example_jobs

SYSTEM_TIME_COLUMNS = ("write_time",)  # when a row was written: differs between two runs by design


def canonical_rows(table: pa.Table, drop: tuple[str, ...] = ()) -> list[tuple]:
    """Rows of an Arrow table with sorted columns, timestamps as UTC instants, sorted: engine-independent."""
    columns = sorted(c for c in table.column_names if c not in drop)
    values = []
    for name in columns:
        column = table.column(name)
        if pa.types.is_timestamp(column.type):
            column = column.cast(pa.timestamp("us", tz="UTC"))
        elif pa.types.is_large_string(column.type):
            column = column.cast(pa.string())
        values.append(column.to_pylist())
    rows = list(zip(*values)) if values else []
    return sorted(rows, key=lambda row: tuple((v is None, 0 if v is None else v) for v in row))


def run_on_bucket(out: Path) -> dict:
    """In this process: the example's jobs plus the online sync on the configured root, then Spark's read-back."""
    from pyspark.sql import SparkSession

    report = run_example_jobs(extra_jobs=("online_sync_job",))
    spark = SparkSession.getActiveSession()
    root = os.environ["FEATURESTORE_ROOT"]
    report["root"] = root
    report["filesystem"] = spark._jvm.org.apache.hadoop.fs.Path(root).getFileSystem(
        spark._jsc.hadoopConfiguration()).getClass().getName()
    for table in TABLES:
        read_back = spark.read.format("delta").load(f"{root}/{table}").toArrow()
        pq.write_table(read_back, out / (table.replace("/", "__") + ".parquet"))
    return report


def test_settings_map_to_spark_and_delta_rs_and_never_show_secrets():
    from featurestore.errors import FeatureStoreError
    from featurestore.storage.object_storage import spark_settings

    env = {"FEATURESTORE_S3_ENDPOINT": "http://127.0.0.1:9000", "FEATURESTORE_S3_REGION": "eu-west-1",
           "FEATURESTORE_S3_PATH_STYLE": "true", "FEATURESTORE_S3_ACCESS_KEY": "AKIAEXAMPLE",
           "FEATURESTORE_S3_SECRET_KEY": "s3cr3t-value"}
    settings = S3Settings.from_env(env)
    assert "s3cr3t-value" not in repr(settings) and "AKIAEXAMPLE" not in repr(settings)
    assert "s3cr3t-value" not in str(settings)
    assert settings.spark_conf() == {
        "spark.hadoop.fs.s3a.endpoint": "http://127.0.0.1:9000", "spark.hadoop.fs.s3a.connection.ssl.enabled": "false",
        "spark.hadoop.fs.s3a.endpoint.region": "eu-west-1", "spark.hadoop.fs.s3a.path.style.access": "true",
        "spark.hadoop.fs.s3a.access.key": "AKIAEXAMPLE", "spark.hadoop.fs.s3a.secret.key": "s3cr3t-value",
        "spark.hadoop.fs.s3a.aws.credentials.provider": "org.apache.hadoop.fs.s3a.SimpleAWSCredentialsProvider"}
    assert settings.session_conf("b")["fs.s3a.bucket.b.endpoint"] == "http://127.0.0.1:9000"
    assert settings.storage_options() == {
        "AWS_ENDPOINT_URL": "http://127.0.0.1:9000", "AWS_ALLOW_HTTP": "true", "AWS_REGION": "eu-west-1",
        "AWS_VIRTUAL_HOSTED_STYLE_REQUEST": "false", "AWS_ACCESS_KEY_ID": "AKIAEXAMPLE",
        "AWS_SECRET_ACCESS_KEY": "s3cr3t-value"}
    assert delta_rs_uri("s3a://b/p/t") == "s3://b/p/t" and delta_rs_uri("/tmp/t") == "/tmp/t"
    assert spark_settings(DEFAULT_JARS_DIR, root="/tmp/store", environ={}) == ([], {})
    jars, conf = spark_settings(DEFAULT_JARS_DIR, root="s3a://b/store", environ={})
    assert [Path(j).name.split("-")[0] for j in jars] == ["hadoop", "bundle"] and conf == {}  # AWS default chain
    with pytest.raises(FeatureStoreError, match="FEATURESTORE_S3_SECRET_KEY"):
        S3Settings.from_env({"FEATURESTORE_S3_ACCESS_KEY": "AKIAEXAMPLE"})
    with pytest.raises(FeatureStoreError, match="FEATURESTORE_S3_PATH_STYLE"):
        S3Settings.from_env({"FEATURESTORE_S3_PATH_STYLE": "maybe"})


@pytest.fixture(scope="module")
def s3(tmp_path_factory):
    with seaweedfs_s3(tmp_path_factory.mktemp("seaweedfs")) as server:
        yield server


@pytest.mark.slow
def test_example_on_s3_matches_local_and_delta_rs_reads_it(s3, spark, tmp_path, example_reference):
    from deltalake import DeltaTable

    s3a_jars(DEFAULT_JARS_DIR)  # a clear error if setup did not fetch hadoop-aws and the SDK bundle
    out = tmp_path / "read_back"
    out.mkdir()
    conf = {"spark.sql.shuffle.partitions": "4", "spark.default.parallelism": "2", "spark.driver.memory": "1g"}
    env = {**os.environ, **s3.env("store"), "FEATURESTORE_SPARK_MASTER": "local[2]",
           "FEATURESTORE_SPARK_CONF": json.dumps(conf), "FEATURESTORE_ONLINE_PATH": str(tmp_path / "online.sqlite"),
           "DAGSTER_HOME": str(tmp_path / "dagster_home"), "PYSPARK_PYTHON": sys.executable}
    report, local_root = drive_beside_local("tests.test_object_storage", (str(out),), env, example_reference.root,
                                            "S3")
    assert report["filesystem"] == "org.apache.hadoop.fs.s3a.S3AFileSystem"
    assert all(run["success"] for run in report["runs"].values()), report
    online = report["runs"]["online_sync_job"]
    assert online["materialised"] == ["online/card", "online/consumer"] and not online["checks_failed"], online
    assert s3.secret_key not in report["output"]  # never logged

    settings = S3Settings(endpoint=s3.endpoint, region=s3.region, path_style=True, access_key=s3.access_key,
                          secret_key=s3.secret_key)
    for table in TABLES:
        drop = SYSTEM_TIME_COLUMNS if table.startswith("features/") else ()
        on_s3 = pq.read_table(out / (table.replace("/", "__") + ".parquet"))
        local = spark.read.format("delta").load(str(local_root / table)).toArrow()
        assert canonical_rows(on_s3, drop) == canonical_rows(local, drop), table
        assert on_s3.num_rows > 0, table
        by_delta_rs = DeltaTable(delta_rs_uri(f"{report['root']}/{table}"),
                                 storage_options=settings.storage_options()).to_pyarrow_table()
        assert canonical_rows(by_delta_rs) == canonical_rows(on_s3), f"delta-rs read of {table}"

    from featurestore.online.store import OnlineStore

    synced = OnlineStore(tmp_path / "online.sqlite")
    for group in ("consumer", "card"):
        assert synced.count(group) == spark.read.format("delta").load(
            str(local_root / f"features/{group}/latest")).count(), group
    synced.close()


if __name__ == "__main__":
    print(json.dumps(run_on_bucket(Path(sys.argv[1]))))
