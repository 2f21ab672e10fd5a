"""Feature value types: the names a spec may use and the Spark types they stand for."""

from __future__ import annotations

from pyspark.sql import types as T

SPARK_TYPES: dict[str, T.DataType] = {
    "string": T.StringType(),
    "int": T.IntegerType(),
    "long": T.LongType(),
    "float": T.FloatType(),
    "double": T.DoubleType(),
    "bool": T.BooleanType(),
    "date": T.DateType(),
    "timestamp": T.TimestampType(),
}

# Safe widenings applied on write: the value survives exactly.
SAFE_CASTS: dict[str, set[str]] = {
    "long": {"int", "short", "byte"},
    "int": {"short", "byte"},
    "double": {"float", "int", "short", "byte"},
    "float": {"short", "byte"},
}

NUMERIC = {"int", "long", "float", "double"}


def spark_type(dtype: str) -> T.DataType:
    """Spark type of a spec dtype name."""
    return SPARK_TYPES[dtype]


def dtype_name(data_type: T.DataType) -> str:
    """Spec-style name of a Spark type ('long', 'double', ...), or its simpleString."""
    simple = data_type.simpleString()
    return {"bigint": "long", "boolean": "bool", "integer": "int", "smallint": "short",
            "tinyint": "byte"}.get(simple, simple)
