"""Reserved and invalid names are refused when a spec is built (no Spark needed): every name the store uses
internally, system names in any case, columns differing only in case, and group/source/training-set names
that are not plain lower_snake_case (a trailing newline included)."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

from featurestore.columns import INTERNAL_COLUMNS, SYSTEM_COLUMNS, is_reserved, reserved_reason
from featurestore.errors import SpecError
from featurestore.spec import Feature, FeatureGroupSpec, Key, SourceSpec
from featurestore.training.sets import TrainingSetSpec

ROOT = Path(__file__).resolve().parent.parent


def group(**overrides) -> FeatureGroupSpec:
    fields = dict(name="clicks", description="d", owner="o@example.com", keys=(Key("user_id", "long"),),
                  features=(Feature("n", "long"),), transform=lambda ctx: None, sources=("events",),
                  grain="daily", start="2026-01-01")
    return FeatureGroupSpec(**{**fields, **overrides})


INTERNAL = sorted(INTERNAL_COLUMNS) + ["__cur_n", "__pit_source", "__fs_t", "_stream_x", "_private"]
CASE_VARIANTS = ["Write_Time", "IS_DELETED", "EVENT_TIME", "Event_Date", "write_TIME"]


@pytest.mark.parametrize("name", INTERNAL + CASE_VARIANTS + ["orders__amount", "a__b"])
def test_a_reserved_name_is_refused_as_a_feature_and_as_a_key(name):
    with pytest.raises(SpecError, match=rf"feature group 'clicks': column {re.escape(repr(name))} is a reserved"):
        group(features=(Feature("n", "long"), Feature(name, "double")))
    with pytest.raises(SpecError, match=rf"feature group 'clicks': column {re.escape(repr(name))} is a reserved"):
        group(keys=(Key(name, "long"),))


def test_system_names_in_another_case_say_so():
    with pytest.raises(SpecError, match=r"'EVENT_TIME' is a reserved name: it is the system column 'event_time' "
                                        r"in another case"):
        group(keys=(Key("EVENT_TIME", "long"),))
    for name in SYSTEM_COLUMNS:
        assert all(is_reserved(variant) for variant in (name, name.upper(), name.title()))
    for name in ("user_id", "amount_sum_7d", "n", "eventtime", "deleted"):
        assert reserved_reason(name) is None


@pytest.mark.parametrize("keys, features, message", [
    ((Key("user_id", "long"),), (Feature("Amount", "double"), Feature("amount", "double")),
     r"column names \['Amount', 'amount'\] differ only in case"),
    ((Key("user_id", "long"),), (Feature("USER_ID", "long"),), r"column names \['USER_ID', 'user_id'\] differ only in case"),
    ((Key("user_id", "long"),), (Feature("n", "long"), Feature("n", "long")), r"duplicate column name\(s\) \['n'\]"),
])
def test_columns_differing_only_in_case_are_refused(keys, features, message):
    with pytest.raises(SpecError, match=rf"feature group 'clicks': {message}"):
        group(keys=keys, features=features)


def test_the_event_time_column_is_checked_case_insensitively():
    with pytest.raises(SpecError, match=r"event-time column 'N' is also a key or feature \(ignoring case\)"):
        group(event_time_column="N")
    with pytest.raises(SpecError, match=r"event-time column 'Write_Time' is a reserved name"):
        group(event_time_column="Write_Time")
    with pytest.raises(SpecError, match=r"event-time column 'ts\\n' is not a valid identifier"):
        group(event_time_column="ts\n")
    assert group(event_time_column="ts").event_time_column == "ts"
    assert group(event_time_column="EVENT_TIME").event_time_column == "EVENT_TIME"  # it is the event time


@pytest.mark.parametrize("name", ["n\n", "amount ", "Ä", "1n", "a-b", ""])
def test_column_names_are_ascii_identifiers(name):
    with pytest.raises(SpecError, match=r"feature group 'clicks': column name .* is not a valid identifier"):
        group(features=(Feature(name, "long"),))


BAD_NAMES = ["abc\n", "abc\t", "abc ", " abc", "Abc", "1abc", "a-b", "a.b", "", "abc\r\n", "ab\nc"]


@pytest.mark.parametrize("name", BAD_NAMES)
def test_group_source_and_training_set_names_are_plain_snake_case(name):
    with pytest.raises(SpecError, match=r"must be lower_snake_case"):
        group(name=name)
    with pytest.raises(SpecError, match=r"must be lower_snake_case"):
        SourceSpec(name=name, description="d", event_time_column="t", start="2026-01-01", load=lambda *a: None)
    with pytest.raises(SpecError, match=r"must be lower_snake_case"):
        TrainingSetSpec(name=name, description="d", entity_source="events", timestamp_column="ts",
                        entity_columns=("user_id",), features=("clicks:n",))


def test_every_internal_column_literal_in_the_code_is_reserved():
    """Scan the store's code for the column names it makes up (string literals and f-string heads that start
    with an underscore and are used as columns) and check a spec could not reuse any of them."""
    found = set()
    for path in [*(ROOT / "featurestore").rglob("*.py"), *(ROOT / "quality").glob("*.py")]:
        for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
            if isinstance(node, ast.JoinedStr) and node.values and isinstance(node.values[0], ast.Constant):
                node = node.values[0]
            if isinstance(node, ast.Constant) and isinstance(node.value, str) \
                    and re.fullmatch(r"_{1,2}[a-z][a-z0-9_]*", node.value) \
                    and not re.fullmatch(r"__[a-z]+__", node.value):  # dunders are Python's
                found.add(node.value)
    assert {"__write_status", "__rank", "__cur_", "__pit_", "__fs_t", "_stream_"} <= found
    leaked = sorted(name for name in found if not is_reserved(name + "x" if name.endswith("_") else name))
    assert not leaked
