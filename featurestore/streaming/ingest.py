"""Streaming ingestion: a Structured Streaming DataFrame written into a group's Delta history, exactly once.

Each micro-batch goes through `OfflineStore.write_features` (schema checks, system columns, latest-values MERGE)
inside `foreachBatch`. Exactly once rests on two things: the checkpoint records which input each batch covers
(and which batches committed), and a batch re-delivered after a crash is a no-op, because `write_features`
appends only rows whose values changed for their (key, event_time). Within one batch, two rows for the same
(key, event_time) are ambiguous: by default the batch fails with a clear error; `keep_last_by=<column>`
keeps the row with the greatest value of that column instead (e.g. a Kafka offset or an ingestion time).

Columns whose name starts with `_stream_` are bookkeeping (corrupt-record text, file name, Kafka offset): they
are used for error messages and ordering and dropped before the write.
"""

from __future__ import annotations

import copy
import csv
import json
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import TYPE_CHECKING, Any

from featurestore.columns import WRITE_TIME
from featurestore.errors import FeatureStoreError, SchemaMismatchError
from featurestore.offline.store import OfflineStore, WriteResult

if TYPE_CHECKING:
    from pyspark.sql import DataFrame, SparkSession
    from pyspark.sql.streaming import StreamingQuery
    from pyspark.sql.types import StructType

    from featurestore.spec import FeatureGroupSpec

AUX_PREFIX = "_stream_"
CORRUPT_RECORD = "_stream_corrupt_record"
SOURCE_FILE = "_stream_file"
KAFKA_OFFSET = "_stream_kafka_offset"
AVAILABLE_NOW: dict[str, Any] = {"availableNow": True}
FILE_FORMATS = ("json", "csv", "parquet")


class StreamBatchError(FeatureStoreError):
    """A micro-batch could not be written; nothing was written for it and the query stopped."""


# ---- reading ---------------------------------------------------------------------------------------------
def stream_schema(spec: FeatureGroupSpec, *, corrupt_record: bool = False) -> StructType:
    """The group's transform-output schema (keys, event-time column, features), optionally + corrupt record."""
    from pyspark.sql import types as T

    from featurestore.types import spark_type

    fields = [T.StructField(k.name, spark_type(k.dtype)) for k in spec.keys]
    fields.append(T.StructField(spec.event_time_column, T.TimestampType()))
    fields += [T.StructField(f.name, spark_type(f.dtype)) for f in spec.features]
    if corrupt_record:
        fields.append(T.StructField(CORRUPT_RECORD, T.StringType()))
    return T.StructType(fields)


def read_file_stream(spark: SparkSession, spec: FeatureGroupSpec, path: str, *, fmt: str = "json",
                     options: Mapping[str, str] | None = None) -> DataFrame:
    """A stream of the files landing in directory `path` (json lines, csv with header, or parquet).

    Read with the group's schema; for json/csv a value of the wrong type is kept as corrupt-record text so the
    batch fails with an error naming the group, the column and the file (instead of silently becoming null).
    """
    from pyspark.sql import functions as F

    if fmt not in FILE_FORMATS:
        raise FeatureStoreError(f"feature group {spec.name!r}: stream format {fmt!r} is not one of {FILE_FORMATS}"
                                " (use read_kafka_stream for Kafka)")
    textual = fmt != "parquet"
    reader = spark.readStream.format(fmt).schema(stream_schema(spec, corrupt_record=textual))
    if textual:
        reader = reader.option("mode", "PERMISSIVE").option("columnNameOfCorruptRecord", CORRUPT_RECORD)
    if fmt == "csv":
        reader = reader.option("header", "true")
    for key, value in (options or {}).items():
        reader = reader.option(key, value)
    return reader.load(path).withColumn(SOURCE_FILE, F.col("_metadata.file_path"))


def read_kafka_stream(spark: SparkSession, spec: FeatureGroupSpec, options: Mapping[str, str]) -> DataFrame:
    """A stream of JSON records from Kafka (`options`: kafka.bootstrap.servers, subscribe, ...).

    Needs the spark-sql-kafka-0-10_2.13 jars, which `make setup` copies into `.jars/kafka/` (on the classpath of
    every session `build_spark_session` makes). Each record's value is parsed with the group's schema; the
    Kafka offset is kept as `_stream_kafka_offset` (usable as `keep_last_by` when a key always goes to the same
    partition).
    """
    from pyspark.sql import functions as F

    raw = spark.readStream.format("kafka").options(**dict(options)).load()
    parsed = F.from_json(F.col("value").cast("string"), stream_schema(spec, corrupt_record=True),
                         {"mode": "PERMISSIVE", "columnNameOfCorruptRecord": CORRUPT_RECORD})
    return raw.select(parsed.alias("r"), F.col("offset").alias(KAFKA_OFFSET),
                      F.concat_ws("/", F.col("topic"), F.col("partition")).alias(SOURCE_FILE)).select(
        "r.*", KAFKA_OFFSET, SOURCE_FILE)


# ---- validation of one batch -----------------------------------------------------------------------------
def _python_type_ok(value: Any, dtype: str) -> bool:
    if value is None:
        return True
    if dtype in ("int", "long"):
        return isinstance(value, int) and not isinstance(value, bool)
    if dtype in ("float", "double"):
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if dtype == "bool":
        return isinstance(value, bool)
    if dtype in ("timestamp", "date"):
        if not isinstance(value, str):
            return False
        try:
            datetime.fromisoformat(value.replace("Z", "+00:00"))
        except ValueError:
            return False
        return True
    return isinstance(value, str)


def _csv_value_ok(text: str, dtype: str) -> bool:
    if text == "":
        return True
    try:
        if dtype in ("int", "long"):
            int(text)
        elif dtype in ("float", "double"):
            float(text)
        elif dtype == "bool":
            return text.lower() in ("true", "false")
        elif dtype in ("timestamp", "date"):
            datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def bad_columns(spec: FeatureGroupSpec, raw: str) -> list[str]:
    """Columns of a corrupt json or csv record whose value does not fit the declared type ([] if unknown)."""
    declared = [(k.name, k.dtype) for k in spec.keys] + [(spec.event_time_column, "timestamp")] + \
        [(f.name, f.dtype) for f in spec.features]
    try:
        record = json.loads(raw)
    except ValueError:
        record = None
    if isinstance(record, dict):
        return [name for name, dtype in declared if not _python_type_ok(record.get(name), dtype)]
    values = next(csv.reader([raw]), [])
    return [name for (name, dtype), text in zip(declared, values) if not _csv_value_ok(text, dtype)]


def _check_corrupt(spec: FeatureGroupSpec, batch: DataFrame, batch_id: int) -> None:
    from pyspark.sql import functions as F

    if CORRUPT_RECORD not in batch.columns:
        return
    corrupt = batch.filter(F.col(CORRUPT_RECORD).isNotNull())
    example = corrupt.limit(1).collect()
    if not example:
        return
    raw = example[0][CORRUPT_RECORD]
    if KAFKA_OFFSET in batch.columns:
        where = f" (Kafka topic/partition {example[0][SOURCE_FILE]}, offset {example[0][KAFKA_OFFSET]})"
    else:
        where = f" (file {example[0][SOURCE_FILE]})" if SOURCE_FILE in batch.columns else ""
    columns = bad_columns(spec, raw)
    types = {c.name: c.dtype for c in spec.keys + spec.features} | {spec.event_time_column: "timestamp"}
    what = (", ".join(f"column {c!r} (declared {types[c]})" for c in columns) if columns
            else "a record that is not valid for the declared schema")
    raise SchemaMismatchError(
        f"feature group {spec.name!r}: stream batch {batch_id} has {corrupt.count()} record(s) with wrong-typed "
        f"values: {what}{where}, e.g. {raw.strip()[:200]!r}; nothing was written for this batch")


def _keep_last(spec: FeatureGroupSpec, batch: DataFrame, order_column: str) -> DataFrame:
    """One row per (key, event time): the greatest `order_column`, ties broken by the feature values."""
    from pyspark.sql import functions as F
    from pyspark.sql.window import Window

    if order_column not in batch.columns:
        raise FeatureStoreError(f"feature group {spec.name!r}: keep_last_by column {order_column!r} is not in "
                                f"the stream (it has {batch.columns})")
    order = [F.col(order_column).desc_nulls_last()] + [F.col(f).desc_nulls_last() for f in spec.feature_names]
    window = Window.partitionBy(*spec.key_names, spec.event_time_column).orderBy(*order)
    return batch.withColumn("__stream_rank", F.row_number().over(window)).filter("__stream_rank = 1") \
        .drop("__stream_rank")


def feature_columns(spec: FeatureGroupSpec, df: DataFrame, keep_last_by: str | None = None) -> DataFrame:
    """`df` without the bookkeeping columns (`_stream_*` and the keep_last_by column unless it is declared)."""
    declared = set(spec.key_names + spec.feature_names + [spec.event_time_column])
    dropped = [c for c in df.columns if c.startswith(AUX_PREFIX) or (c == keep_last_by and c not in declared)]
    return df.drop(*dropped)


# ---- the foreachBatch sink -------------------------------------------------------------------------------
@dataclass
class BatchWriter:
    """The foreachBatch function: validate, optionally deduplicate, write; remembers results and the error."""

    store: OfflineStore
    spec: FeatureGroupSpec
    keep_last_by: str | None = None
    stream_name: str = ""
    results: list[tuple[int, WriteResult]] = field(default_factory=list)
    error: BaseException | None = None

    def __call__(self, batch: DataFrame, batch_id: int) -> None:
        # The store on the batch's own session (a clone of the query's), keeping the store's other settings.
        store = copy.copy(self.store)
        store.spark = batch.sparkSession
        batch = batch.persist()
        try:
            _check_corrupt(self.spec, batch, batch_id)
            rows = _keep_last(self.spec, batch, self.keep_last_by) if self.keep_last_by else batch
            rows = feature_columns(self.spec, rows, self.keep_last_by)
            if rows.isEmpty():
                return
            metadata = {"batch_id": batch_id, "stream": self.stream_name}
            result = store.write_features(self.spec, rows, metadata=metadata)
            if result.rows_written == 0:
                _repair_latest(store, self.spec)
            self.results.append((batch_id, result))
        except FeatureStoreError as error:
            self.error = error
            raise
        except Exception as error:  # a Spark read error (e.g. a parquet file with another type): name the group
            self.error = StreamBatchError(f"feature group {self.spec.name!r}: stream batch {batch_id} failed, "
                                          f"nothing was written for it: {_first_line(error)}")
            raise self.error from error
        finally:
            batch.unpersist()


def _first_line(error: BaseException) -> str:
    """The informative first line of an error (for a Py4J error, the Java exception's, e.g. the Parquet
    column type mismatch naming column and file)."""
    java = getattr(error, "java_exception", None)
    text = str(java.toString()) if java is not None else str(error)
    lines = [line.strip(" :") for line in text.splitlines()]
    useful = [line for line in lines if line and not line.startswith("An error occurred while calling")]
    return useful[0] if useful else type(error).__name__


def _repair_latest(store: OfflineStore, spec: FeatureGroupSpec) -> None:
    """After a re-delivered batch (nothing new): MERGE into latest if a crash left it behind the history."""
    from pyspark.sql import functions as F

    if not store.exists(store.latest_path(spec.name)):
        store.sync_latest(spec)
        return
    newest = store.read_history(spec.name).agg(F.max(WRITE_TIME)).first()[0]
    synced = store.spark.read.format("delta").load(store.latest_path(spec.name)).agg(F.max(WRITE_TIME)).first()[0]
    if newest is not None and (synced is None or newest > synced):
        store.sync_latest(spec)


def _check_stream_schema(spec: FeatureGroupSpec, stream_df: DataFrame, keep_last_by: str | None) -> None:
    """Fail before starting on a stream whose schema does not match the group (missing/extra/wrong type)."""
    from featurestore.offline.conform import conform

    if not stream_df.isStreaming:
        raise FeatureStoreError(f"feature group {spec.name!r}: start_stream needs a streaming DataFrame "
                                "(spark.readStream...); use OfflineStore.write_features for a batch DataFrame")
    conform(spec, feature_columns(spec, stream_df, keep_last_by))


def _start(store: OfflineStore, spec: FeatureGroupSpec, stream_df: DataFrame, checkpoint_location: str,
           trigger: Mapping[str, Any], writer: BatchWriter, query_name: str | None) -> StreamingQuery:
    _check_stream_schema(spec, stream_df, writer.keep_last_by)
    stream = (stream_df.writeStream.foreachBatch(writer).option("checkpointLocation", checkpoint_location)
              .trigger(**dict(trigger)))
    if query_name:
        stream = stream.queryName(query_name)
    return stream.start()


def start_stream(store: OfflineStore, spec: FeatureGroupSpec, stream_df: DataFrame, checkpoint_location: str, *,
                 trigger: Mapping[str, Any] | None = None, keep_last_by: str | None = None,
                 query_name: str | None = None) -> StreamingQuery:
    """Start writing `stream_df` into the group's history; returns the running query.

    `trigger` is passed to DataStreamWriter.trigger (default availableNow: process what is there, then stop;
    e.g. {"processingTime": "1 minute"} for a long-running query). One checkpoint per (stream, group).
    """
    writer = BatchWriter(store, spec, keep_last_by, query_name or checkpoint_location)
    return _start(store, spec, stream_df, checkpoint_location, trigger or AVAILABLE_NOW, writer, query_name)


@dataclass(frozen=True)
class StreamRunResult:
    """What one availableNow run did: the batches it committed and the rows they appended."""

    group: str
    batches: list[int]
    rows_written: int
    rows_corrected: int
    rows_unchanged: int
    history_version: int | None


def run_available_now(store: OfflineStore, spec: FeatureGroupSpec, stream_df: DataFrame, checkpoint_location: str,
                      *, keep_last_by: str | None = None, query_name: str | None = None,
                      timeout_seconds: float | None = None) -> StreamRunResult:
    """Process everything that has arrived since the checkpoint, then stop; raise the batch's error if any."""
    from pyspark.errors import StreamingQueryException

    writer = BatchWriter(store, spec, keep_last_by, query_name or checkpoint_location)
    query = _start(store, spec, stream_df, checkpoint_location, AVAILABLE_NOW, writer, query_name)
    try:
        finished = query.awaitTermination(timeout_seconds) if timeout_seconds else query.awaitTermination()
    except StreamingQueryException as error:
        if writer.error is not None:
            raise writer.error from None
        raise StreamBatchError(f"feature group {spec.name!r}: stream stopped: {str(error).splitlines()[0]}") from error
    if finished is False:
        query.stop()
        raise StreamBatchError(f"feature group {spec.name!r}: stream did not finish within {timeout_seconds}s "
                               f"(stopped; committed batches: {[b for b, _ in writer.results]})")
    results = [r for _, r in writer.results]
    return StreamRunResult(group=spec.name, batches=[b for b, _ in writer.results],
                           rows_written=sum(r.rows_written for r in results),
                           rows_corrected=sum(r.rows_corrected for r in results),
                           rows_unchanged=sum(r.rows_unchanged for r in results),
                           history_version=store.version(store.history_path(spec.name)))


__all__ = ["AVAILABLE_NOW", "BatchWriter", "StreamBatchError", "StreamRunResult", "read_file_stream",
           "read_kafka_stream", "run_available_now", "start_stream", "stream_schema"]
