"""Declarative expectations for a feature group, checked against the group's spec when the suite is built.

An `ExpectationSpec` is a small frozen record (name, GX expectation class name, arguments, columns,
severity); `to_gx()` makes a fresh Great Expectations object from it at run time. Builders below make
the common ones; `default_suite(spec)` derives the structural checks from a FeatureGroupSpec and adds the
extras the group declares. Column names are the stored ones: keys, features and the system columns
(event time is stored as `EVENT_TIME` whatever the spec's `event_time_column` is called).
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from typing import TYPE_CHECKING, Any

from featurestore.columns import EVENT_DATE, EVENT_TIME, IS_DELETED, WRITE_TIME
from featurestore.errors import SpecError
from featurestore.types import NUMERIC, SPARK_TYPES, spark_type_name
from quality import Severity

if TYPE_CHECKING:
    from great_expectations.expectations import Expectation

    from featurestore.spec import FeatureGroupSpec

SYSTEM_TYPES: dict[str, str] = {EVENT_TIME: "timestamp", WRITE_TIME: "timestamp", IS_DELETED: "bool",
                                EVENT_DATE: "date"}
_ORDERED = NUMERIC | {"date", "timestamp"}
_GX_SEVERITY = {Severity.ERROR: "critical", Severity.WARN: "warning"}


@dataclass(frozen=True)
class ExpectationSpec:
    """One declared check: a unique `name`, a GX expectation class name and its keyword arguments.

    `columns` lists every column the check reads (validated against the spec at build time).
    """

    name: str
    expectation_type: str
    kwargs: Mapping[str, Any] = field(default_factory=dict, hash=False)
    columns: tuple[str, ...] = ()
    severity: Severity = Severity.ERROR

    def __post_init__(self) -> None:
        if not isinstance(self.name, str) or not self.name.strip():
            raise SpecError(f"expectation {self.name!r}: needs a non-empty name")
        try:
            object.__setattr__(self, "severity", Severity(self.severity))
        except ValueError:
            raise SpecError(f"expectation {self.name!r}: severity must be WARN or ERROR, "
                            f"not {self.severity!r}") from None
        object.__setattr__(self, "kwargs", dict(self.kwargs))
        object.__setattr__(self, "columns", tuple(self.columns))

    def with_severity(self, severity: Severity | str) -> ExpectationSpec:
        """The same check with another severity."""
        return replace(self, severity=Severity(severity))

    def to_gx(self) -> Expectation:
        """A fresh GX expectation; its description and meta carry `name` so results map back to it."""
        import great_expectations.expectations as gxe

        cls = getattr(gxe, self.expectation_type, None)
        if cls is None:
            raise SpecError(f"expectation {self.name!r}: Great Expectations has no expectation "
                            f"{self.expectation_type!r}")
        return cls(**self.kwargs, description=self.name, meta={"check": self.name},
                   severity=_GX_SEVERITY[self.severity])


# ---- builders ------------------------------------------------------------------------------------------

def column_types_match(column: str, dtype: str, *, severity: Severity = Severity.ERROR) -> ExpectationSpec:
    """`column` exists and has the Spark type of spec dtype `dtype` ('long', 'double', 'timestamp', ...)."""
    if dtype not in SPARK_TYPES:
        raise SpecError(f"expectation 'type:{column}': unknown dtype {dtype!r}; use one of {sorted(SPARK_TYPES)}")
    return ExpectationSpec(f"type:{column}", "ExpectColumnValuesToBeOfType",
                           {"column": column, "type_": spark_type_name(dtype)}, (column,), severity)


def columns_present(columns: Sequence[str], *, exact: bool = False,
                    severity: Severity = Severity.ERROR) -> ExpectationSpec:
    """All `columns` exist (and, if `exact`, no others do)."""
    return ExpectationSpec("columns", "ExpectTableColumnsToMatchSet",
                           {"column_set": list(columns), "exact_match": exact}, tuple(columns), severity)


def not_null(column: str, *, mostly: float = 1.0, severity: Severity = Severity.ERROR) -> ExpectationSpec:
    """At least `mostly` of the rows have a non-null `column`."""
    return ExpectationSpec(f"not_null:{column}", "ExpectColumnValuesToNotBeNull",
                           {"column": column, "mostly": _mostly(mostly, column)}, (column,), severity)


def between(column: str, min_value: Any = None, max_value: Any = None, *, mostly: float = 1.0,
            strict: bool = False, severity: Severity = Severity.ERROR) -> ExpectationSpec:
    """At least `mostly` of the non-null values lie in [min_value, max_value] (open ends if `strict`)."""
    name = f"between:{column}"
    if min_value is None and max_value is None:
        raise SpecError(f"expectation {name!r}: give min_value, max_value or both")
    try:
        inverted = min_value is not None and max_value is not None and min_value > max_value
    except TypeError:
        raise SpecError(f"expectation {name!r}: bounds {min_value!r} and {max_value!r} are not comparable") from None
    if inverted:
        raise SpecError(f"expectation {name!r}: min_value {min_value!r} > max_value {max_value!r}")
    kwargs = {"column": column, "min_value": min_value, "max_value": max_value,
              "mostly": _mostly(mostly, column)}
    if strict:
        kwargs.update(strict_min=min_value is not None, strict_max=max_value is not None)
    return ExpectationSpec(name, "ExpectColumnValuesToBeBetween", kwargs, (column,), severity)


def in_set(column: str, values: Iterable[Any], *, mostly: float = 1.0,
           severity: Severity = Severity.ERROR) -> ExpectationSpec:
    """At least `mostly` of the non-null values of `column` are among the allowed `values`."""
    allowed = list(dict.fromkeys(values))
    if not allowed:
        raise SpecError(f"expectation 'in_set:{column}': the allowed set is empty")
    return ExpectationSpec(f"in_set:{column}", "ExpectColumnValuesToBeInSet",
                           {"column": column, "value_set": allowed, "mostly": _mostly(mostly, column)},
                           (column,), severity)


def unique_together(columns: Sequence[str], *, severity: Severity = Severity.ERROR) -> ExpectationSpec:
    """No two rows share the same values of all `columns` (a compound key)."""
    columns = list(columns)
    if not columns:
        raise SpecError("expectation 'unique': needs at least one column")
    return ExpectationSpec(f"unique:{','.join(columns)}", "ExpectCompoundColumnsToBeUnique",
                           {"column_list": columns}, tuple(columns), severity)


def row_count_between(min_rows: int | None = None, max_rows: int | None = None, *,
                      severity: Severity = Severity.ERROR) -> ExpectationSpec:
    """The frame has between `min_rows` and `max_rows` rows (either may be open)."""
    if min_rows is None and max_rows is None:
        raise SpecError("expectation 'row_count': give min_rows, max_rows or both")
    if min_rows is not None and max_rows is not None and min_rows > max_rows:
        raise SpecError(f"expectation 'row_count': min_rows {min_rows} > max_rows {max_rows}")
    return ExpectationSpec("row_count", "ExpectTableRowCountToBeBetween",
                           {"min_value": min_rows, "max_value": max_rows}, (), severity)


def expectation(expectation_type: str, *, name: str, columns: Sequence[str] = (),
                severity: Severity = Severity.ERROR, **kwargs: Any) -> ExpectationSpec:
    """Any other GX expectation by class name, e.g. expectation("ExpectColumnMeanToBeBetween",
    name="mean:amount", columns=["amount"], column="amount", min_value=0, max_value=100)."""
    return ExpectationSpec(name, expectation_type, kwargs, tuple(columns), severity)


def _mostly(mostly: float, column: str) -> float:
    if not (isinstance(mostly, (int, float)) and 0 < mostly <= 1 and not math.isnan(mostly)):
        raise SpecError(f"expectation on {column!r}: mostly must be in (0, 1], not {mostly!r}")
    return float(mostly)


# ---- suites --------------------------------------------------------------------------------------------

def group_columns(spec: FeatureGroupSpec, *, system_columns: bool = True) -> dict[str, str]:
    """Stored column name -> spec dtype: keys, EVENT_TIME, [WRITE_TIME, IS_DELETED], features."""
    columns = {k.name: k.dtype for k in spec.keys}
    columns[EVENT_TIME] = "timestamp"
    if system_columns:
        columns.update({WRITE_TIME: "timestamp", IS_DELETED: "bool"})
    columns.update({f.name: f.dtype for f in spec.features})
    return columns


def default_suite(spec: FeatureGroupSpec, extra: Iterable[ExpectationSpec] = (), *,
                  system_columns: bool = True, exact_columns: bool = False,
                  severity: Severity = Severity.ERROR) -> list[ExpectationSpec]:
    """Structural checks derived from `spec` plus the group's declared extras, validated against the spec.

    Derived (all with `severity`, ERROR by default): the stored columns exist, each has its declared
    type, keys and event time are non-null, (keys, event_time[, write_time]) is unique. `system_columns`
    is True for stored history rows (write_time, is_deleted present), False for conformed transform
    output. Extras come from `extra` and from a `spec.expectations` attribute if the spec has one.
    """
    columns = group_columns(spec, system_columns=system_columns)
    unique_on = spec.key_names + [EVENT_TIME] + ([WRITE_TIME] if system_columns else [])
    derived = [columns_present(list(columns), exact=exact_columns, severity=severity)]
    derived += [column_types_match(name, dtype, severity=severity) for name, dtype in columns.items()]
    derived += [not_null(name, severity=severity) for name in spec.key_names + [EVENT_TIME]]
    derived.append(unique_together(unique_on, severity=severity))
    declared = list(extra) + list(getattr(spec, "expectations", None) or ())
    return validate_suite(spec, derived + declared, system_columns=system_columns)


def validate_suite(spec: FeatureGroupSpec, checks: Iterable[ExpectationSpec], *,
                   system_columns: bool = True) -> list[ExpectationSpec]:
    """`checks` as a list, after checking names are unique and every column exists in `spec` with a
    type the check can work on; SpecError naming the group, the check and the column otherwise."""
    what = f"feature group {spec.name!r}"
    known = group_columns(spec, system_columns=system_columns)
    known.setdefault(EVENT_DATE, SYSTEM_TYPES[EVENT_DATE])
    checks = list(checks)
    seen: set[str] = set()
    for check in checks:
        if not isinstance(check, ExpectationSpec):
            raise SpecError(f"{what}: {check!r} is not an ExpectationSpec")
        if check.name in seen:
            raise SpecError(f"{what}: two expectations are named {check.name!r}; names must be unique")
        seen.add(check.name)
        for column in check.columns:
            if column not in known:
                hint = (f" (event time is stored as {EVENT_TIME!r})"
                        if column == spec.event_time_column else "")
                raise SpecError(f"{what}: expectation {check.name!r} refers to unknown column {column!r}"
                                f"{hint}; the group has {sorted(known)}")
        _check_value_types(what, check, known)
    return checks


def _check_value_types(what: str, check: ExpectationSpec, known: Mapping[str, str]) -> None:
    """Catch at build time what would fail inside GX at run time (Spark 4 ANSI casts raise)."""
    column = check.kwargs.get("column")
    dtype = known.get(column) if isinstance(column, str) else None
    if dtype is None:
        return
    if check.expectation_type == "ExpectColumnValuesToBeBetween" and dtype not in _ORDERED:
        raise SpecError(f"{what}: expectation {check.name!r}: column {column!r} is {dtype}; "
                        "ranges need a numeric, date or timestamp column")
    if check.expectation_type == "ExpectColumnValuesToBeInSet":
        bad = [v for v in check.kwargs.get("value_set", []) if not _value_fits(v, dtype)]
        if bad:
            raise SpecError(f"{what}: expectation {check.name!r}: value(s) {bad[:5]} do not fit "
                            f"column {column!r} of type {dtype}")


def _value_fits(value: Any, dtype: str) -> bool:
    if dtype in NUMERIC:
        return isinstance(value, (int, float)) and not isinstance(value, bool)
    if dtype == "string":
        return isinstance(value, str)
    if dtype == "bool":
        return isinstance(value, bool)
    return True


__all__ = ["ExpectationSpec", "SYSTEM_TYPES", "between", "column_types_match", "columns_present",
           "default_suite", "expectation", "group_columns", "in_set", "not_null", "row_count_between",
           "unique_together", "validate_suite"]
