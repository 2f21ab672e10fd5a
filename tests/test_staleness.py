"""Stale training sets (rows that would change with history written since the build) and incremental extension."""

from __future__ import annotations

import pytest

from featurestore.errors import FeatureStoreError
from featurestore.training.incremental import extend_training_set
from featurestore.training.sets import build_training_set, rebuild_training_set, recorded_inputs, training_set_frame
from featurestore.training.staleness import staleness
from tests.training_fixture import ACCT, REGISTRY, TRAINING, day, loaded_store


def _rows(df):
    return sorted((tuple(r) for r in df.collect()), key=repr)


@pytest.fixture(scope="module")
def loaded(spark, tmp_path_factory):
    loaded = loaded_store(spark, tmp_path_factory.mktemp("staleness"))
    build_training_set(loaded.store, TRAINING, REGISTRY)
    return loaded


def test_extension_appends_only_new_entity_rows_and_equals_a_full_build(loaded, spark):
    store = loaded.store
    version = store.version(store.table_path("training_sets", TRAINING.name))
    loaded.write([("a", day(2), 7.0, 7)], 8)                                        # features for the new day
    loaded.labels([("a", day(2.5), 1), ("b", day(2.25), 0), ("b", day(2.25), 0)], 2, 3)  # new labels (a duplicate)
    extension = extend_training_set(store, TRAINING, REGISTRY)
    assert extension.rows_appended == 3 and extension.previous_version == version
    assert extension.table_version == version + 1                                    # one commit
    extended = spark.read.format("delta").load(store.table_path("training_sets", TRAINING.name))
    full = training_set_frame(store, TRAINING, REGISTRY, recorded_inputs(store, TRAINING.name))
    assert _rows(extended) == _rows(full) and extended.count() == 7
    assert _rows(rebuild_training_set(store, TRAINING, REGISTRY)) == _rows(extended)
    assert staleness(store, TRAINING, REGISTRY).changed_rows == 0


def test_staleness_counts_rows_that_corrections_late_data_and_deletes_change(loaded):
    store = loaded.store
    fresh = staleness(store, TRAINING, REGISTRY)
    assert (fresh.rows, fresh.changed_rows) == (7, 0)
    loaded.write([("a", day(1), 30.0, 3)], 9)             # correction: label rows of a at 1.25 and 1.5 change
    loaded.write([("c", day(-5), 1.0, 1)], 9.5)           # late data outside the 2-day TTL of c's row: no change
    store.soft_delete(ACCT, [{"account_id": "b"}], at=day(2.3), now=day(10))  # b's row at 2.25 is before: no change
    stale = staleness(store, TRAINING, REGISTRY)
    assert stale.changed_rows == 2 and stale.candidate_rows >= 2
    assert stale.history_rows_since == {"acct": 3}
    assert stale.pinned_versions["acct"] < stale.current_versions["acct"]
    with pytest.raises(FeatureStoreError, match="is stale: 2 of its rows"):
        extend_training_set(store, TRAINING, REGISTRY)
    build_training_set(store, TRAINING, REGISTRY)         # rebuild refreshes it
    assert staleness(store, TRAINING, REGISTRY).changed_rows == 0
