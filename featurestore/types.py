"""Feature value types: the names a spec may use and the Spark types they stand for."""

from __future__ import annotations

from collections.abc import Iterator, Mapping
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from pyspark.sql import types as T

# spec dtype -> name of the pyspark.sql.types class (imported only when a Spark type is asked for, so that
# declaring and discovering specs never imports pyspark)
TYPE_NAMES: dict[str, str] = {
    "string": "StringType", "int": "IntegerType", "long": "LongType", "float": "FloatType",
    "double": "DoubleType", "bool": "BooleanType", "date": "DateType", "timestamp": "TimestampType",
}


class _SparkTypes(Mapping):
    """dtype name -> Spark type, built on first access (membership and iteration need no pyspark)."""

    def __getitem__(self, dtype: str) -> T.DataType:
        from pyspark.sql import types

        return getattr(types, TYPE_NAMES[dtype])()

    def __iter__(self) -> Iterator[str]:
        return iter(TYPE_NAMES)

    def __len__(self) -> int:
        return len(TYPE_NAMES)

    def __contains__(self, dtype: object) -> bool:
        return dtype in TYPE_NAMES


SPARK_TYPES: Mapping[str, T.DataType] = _SparkTypes()

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


def spark_type_name(dtype: str) -> str:
    """Name of the Spark type class of a spec dtype ('long' -> 'LongType'), without importing pyspark."""
    return TYPE_NAMES[dtype]


def dtype_name(data_type: T.DataType) -> str:
    """Spec-style name of a Spark type ('long', 'double', ...), or its simpleString."""
    simple = data_type.simpleString()
    return {"bigint": "long", "boolean": "bool", "integer": "int", "smallint": "short",
            "tinyint": "byte"}.get(simple, simple)
