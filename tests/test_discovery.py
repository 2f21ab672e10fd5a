"""A new feature group is one new file: discovered, and given its own asset, job and schedule."""

from __future__ import annotations

import sys
import textwrap

from dagster import AssetKey

from featurestore.registry import discover
from orchestration.definitions import build_definitions

NEW_GROUP = textwrap.dedent('''
    from featurestore.aggregations import Window
    from featurestore.spec import FeatureGroupSpec, Key, SourceSpec

    events = SourceSpec(name="events", description="raw events", event_time_column="event_time",
                        start="2026-01-01", load=lambda spark, start, end: None)
    merchant = FeatureGroupSpec(
        name="merchant", description="Merchant activity", owner="team@example.com",
        keys=(Key("merchant_id", "string"),),
        windows=(Window(None, "row_count", "1d", name="num_trans_last_1d"), Window("amount", "avg", "7d")),
        sources=("events",), grain="daily", cron="30 1 * * *", start="2026-01-01", ttl="1d",
    )
''')


def test_a_new_module_becomes_an_asset_with_its_own_schedule(tmp_path, monkeypatch):
    package = tmp_path / "my_groups"
    package.mkdir()
    (package / "__init__.py").write_text("")
    (package / "merchant.py").write_text(NEW_GROUP)
    monkeypatch.syspath_prepend(str(tmp_path))
    try:
        registry = discover("my_groups")
        defs = build_definitions(registry)
        graph = defs.resolve_asset_graph()
        assert AssetKey(["features", "merchant"]) in graph.get_all_asset_keys()
        assert defs.resolve_schedule_def("merchant_schedule").cron_schedule == "30 1 * * *"
        assert registry.group("merchant").feature_names == ["num_trans_last_1d", "avg_amount_7d"]
    finally:
        for name in [m for m in sys.modules if m == "my_groups" or m.startswith("my_groups.")]:
            del sys.modules[name]
