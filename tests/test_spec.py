"""Spec validation: bad specs fail when they are built, with errors naming the group and the column."""

from __future__ import annotations

from datetime import timedelta

import pytest

from featurestore.cron import validate_cron
from featurestore.durations import format_duration, parse_duration
from featurestore.errors import SpecError
from featurestore.registry import discover
from featurestore.spec import Feature, FeatureGroupSpec, Key


def _group(**overrides) -> FeatureGroupSpec:
    fields = dict(name="clicks", description="d", owner="o@example.com", keys=(Key("user_id"),),
                  features=(Feature("n", "long"),), transform=lambda ctx: None, sources=("events",),
                  grain="hourly", start="2026-01-01", ttl="2h")
    return FeatureGroupSpec(**{**fields, **overrides})


def test_a_valid_spec_gets_defaults_and_parsed_durations():
    spec = _group()
    assert spec.ttl == timedelta(hours=2)
    assert spec.cron == "5 * * * *"
    assert spec.schedule_offsets == (5, None)
    assert spec.key_names == ["user_id"] and spec.feature_names == ["n"]


@pytest.mark.parametrize("overrides, message", [
    ({"features": (Feature("n", "long"), Feature("n", "double"))}, r"'clicks': duplicate column name\(s\) \['n'\]"),
    ({"keys": (Key("n"),)}, r"'clicks': duplicate column name\(s\) \['n'\]"),
    ({"features": (Feature("n", "decimal"),)}, r"'clicks': column 'n' has unknown type 'decimal'"),
    ({"features": (Feature("write_time", "long"),)}, r"'clicks': column 'write_time' is a reserved"),
    ({"keys": ()}, r"'clicks': needs at least one entity key"),
    ({"features": ()}, r"'clicks': needs at least one feature"),
    ({"event_time_column": "n"}, r"event-time column 'n' is also a key or feature"),
    ({"grain": "weekly"}, r"grain must be 'hourly' or 'daily'"),
    ({"cron": "61 * * * *"}, r"'clicks'.*minute '61' outside 0-59"),
    ({"cron": "* * *"}, r"'clicks'.*must have 5 fields"),
    ({"cron": "5 2 * * *"}, r"'clicks': cron '5 2 \* \* \*' does not fit the hourly grain"),
    ({"ttl": "-1d"}, r"'clicks': ttl: cannot parse duration '-1d'"),
    ({"ttl": "soon"}, r"'clicks': ttl: cannot parse duration 'soon'"),
    ({"ttl": timedelta(0)}, r"'clicks': ttl: duration must be positive"),
    ({"name": "Bad Name"}, r"name 'Bad Name' must be lower_snake_case"),
    ({"start": "yesterday"}, r"'clicks': start 'yesterday' is not an ISO date"),
    ({"sources": ()}, r"'clicks': needs at least one source"),
])
def test_invalid_specs_are_refused_at_definition_time(overrides, message):
    with pytest.raises(SpecError, match=message):
        _group(**overrides)


def test_feature_lookup_names_the_group():
    with pytest.raises(SpecError, match=r"feature group 'clicks' has no feature 'nope'"):
        _group().feature("nope")


def test_durations_round_trip():
    assert parse_duration("90s") == timedelta(seconds=90)
    assert parse_duration("2w") == timedelta(days=14)
    assert format_duration(timedelta(days=7)) == "1w" and format_duration(timedelta(hours=36)) == "36h"
    assert format_duration(None) == "unlimited"


@pytest.mark.parametrize("cron", ["*/15 * * * *", "0 0-6/2 1,15 * 1-5", "30 1 * * *"])
def test_valid_crons_pass(cron):
    assert validate_cron(cron, what="x") == cron


def test_discovery_finds_the_example_specs():
    registry = discover("feature_groups")
    assert set(registry.groups) >= {"consumer", "card"}
    assert "transactions" in registry.sources
    assert registry.group("card").grain == "hourly" and registry.group("consumer").grain == "daily"
    with pytest.raises(SpecError, match=r"unknown feature group 'nope'"):
        registry.group("nope")


def test_a_windowed_group_derives_features_transform_and_lookback():
    from featurestore.aggregations import Window

    windows = (Window(None, "row_count", "1h", name="n_1h"), Window("amount", "avg", "7d"),
               Window("amount", "max", "1d", name="max_1d"))
    spec = _group(features=(Feature("max_1d", "double", "largest"),), transform=None, windows=windows)
    assert [(f.name, f.dtype) for f in spec.features] == [("n_1h", "long"), ("avg_amount_7d", "double"),
                                                         ("max_1d", "double")]
    assert spec.source_lookback == timedelta(days=7) and callable(spec.transform)
    with pytest.raises(SpecError, match=r"'clicks': window 'max_1d' \(max\) takes its column's type"):
        _group(features=(), transform=None, windows=windows)
    with pytest.raises(SpecError, match=r"'clicks': feature 'n_1h' is declared double but row_count yields long"):
        _group(features=(Feature("n_1h", "double"),), transform=None, windows=windows[:1])
    with pytest.raises(SpecError, match=r"reads exactly one source"):
        _group(features=(), transform=None, windows=windows[:1], sources=("a", "b"))
