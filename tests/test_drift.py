"""quality.drift (Spark statistics, levels, pass count) and quality.report (static HTML)."""

from __future__ import annotations

import math
from datetime import date

import numpy as np
import pandas as pd
import pytest
from hypothesis import given
from hypothesis import strategies as st

from featurestore.columns import EVENT_DATE
from featurestore.errors import SpecError
from featurestore.spec import Feature, FeatureGroupSpec, Key
from quality import Level
from quality.drift import (MEAN_SHIFT, NULL_RATE, PSI, ROW_VOLUME, STD_RATIO, DriftThresholds, VolumeThresholds,
                           detect_drift, overall_level, psi)
from quality.report import write_drift_report

REFERENCE_DAYS = [date(2026, 1, d) for d in range(1, 6)]
NEW_DAY = [date(2026, 1, 6)]
FEATURES = ["amount", "qty", "score"]


def make_frame(spark, seed: int, days, rows_per_day: int = 1000, *, amount_scale: float = 1.0,
               score_null_rate: float = 0.01):
    """amount ~ lognormal, qty ~ Poisson (ties), score ~ normal with some NaN/null; seeded."""
    rng = np.random.default_rng(seed)
    parts = []
    for day in days:
        score = rng.normal(0, 1, rows_per_day)
        score[rng.random(rows_per_day) < score_null_rate] = np.nan
        parts.append(pd.DataFrame({EVENT_DATE: day, "customer_id": [f"c{i}" for i in range(rows_per_day)],
                                   "amount": rng.lognormal(3, 0.5, rows_per_day) * amount_scale,
                                   "qty": rng.poisson(3, rows_per_day).astype("int64"), "score": score}))
    return spark.createDataFrame(pd.concat(parts, ignore_index=True)).cache()


@pytest.fixture(scope="module")
def reference(spark):
    df = make_frame(spark, 1, REFERENCE_DAYS)
    yield df
    df.unpersist()


def by(outcomes, feature, statistic):
    return next(o for o in outcomes if o.feature == feature and o.statistic == statistic)


def run_counting_jobs(spark, label, fn):
    context = spark.sparkContext
    context.setJobGroup(label, label)
    try:
        result = fn()
    finally:
        context.setLocalProperty("spark.jobGroup.id", None)
    return result, len(context.statusTracker().getJobIdsForGroup(label))


def test_same_distribution_stays_ok_in_three_spark_jobs(spark, reference):
    current = make_frame(spark, 2, NEW_DAY)
    outcomes, jobs = run_counting_jobs(spark, "drift-same",
                                       lambda: detect_drift(current, reference, FEATURES, group="orders"))
    assert [o.summary() for o in outcomes if o.level is not Level.OK] == []
    assert overall_level(outcomes) is Level.OK
    assert len(outcomes) == 3 * 4 + 1
    assert jobs == 3  # reference moments+quantiles, reference histogram, current moments+histogram
    window = outcomes[0].reference_window
    assert "2026-01-01..2026-01-05" in window and "5000 rows, 5 partitions" in window
    bins = by(outcomes, "amount", PSI).bins
    assert len(bins) == 10 and bins[0].low is None and bins[-1].high is None
    assert math.isclose(sum(b.reference for b in bins), 1.0) and math.isclose(sum(b.current for b in bins), 1.0)
    volume = by(outcomes, None, ROW_VOLUME)
    assert volume.observed == pytest.approx(1.0) and volume.reference_value == 1000


def test_shifted_amount_distribution_is_detected(spark, reference):
    current = make_frame(spark, 3, NEW_DAY, amount_scale=2.0)
    outcomes = detect_drift(current, reference, FEATURES, group="orders")
    assert by(outcomes, "amount", PSI).level is Level.ERROR
    assert by(outcomes, "amount", MEAN_SHIFT).level is Level.ERROR
    assert by(outcomes, "amount", STD_RATIO).level is not Level.OK
    assert all(o.level is Level.OK for o in outcomes if o.feature != "amount")


def test_null_burst_is_detected(spark, reference):
    current = make_frame(spark, 4, NEW_DAY, score_null_rate=0.3)
    outcomes = detect_drift(current, reference, FEATURES, group="orders")
    nulls = by(outcomes, "score", NULL_RATE)
    assert nulls.level is Level.ERROR and nulls.observed == pytest.approx(0.29, abs=0.03)
    assert [o for o in outcomes if o.level is not Level.OK] == [nulls]


def test_too_few_rows_is_a_volume_error(spark, reference):
    current = make_frame(spark, 5, NEW_DAY, rows_per_day=150)
    outcomes = detect_drift(current, reference, FEATURES, group="orders")
    volume = by(outcomes, None, ROW_VOLUME)
    assert volume.level is Level.ERROR and volume.observed == pytest.approx(0.15)
    assert volume.current_value == 150 and volume.reference_value == 1000


def test_spec_features_per_feature_thresholds_fixed_edges_and_uncomputable(spark, reference):
    spec = FeatureGroupSpec(name="orders", description="", owner="data", keys=(Key("customer_id"),),
                            features=(Feature("amount", "double"), Feature("qty", "long"),
                                      Feature("score", "double"), Feature("channel", "string")),
                            transform=lambda inputs: None, sources=("raw",), grain="daily", start="2026-01-01")
    current = make_frame(spark, 6, NEW_DAY, amount_scale=1.2, score_null_rate=1.0)
    outcomes = detect_drift(current, reference, spec,
                            per_feature={"amount": DriftThresholds(psi=(0.5, 0.9), mean_shift_z=(2, 4),
                                                                   edges=(10, 20, 40))},
                            volume=VolumeThresholds(warn=(0.9, 1.1), error=(0.5, 2.0)),
                            reference_label="last 5 days")
    assert {o.feature for o in outcomes} == {"amount", "qty", "score", None}      # channel is not numeric
    amount_psi = by(outcomes, "amount", PSI)
    assert [b.low for b in amount_psi.bins] == [None, 10, 20, 40] and amount_psi.level is Level.OK
    assert by(outcomes, "amount", MEAN_SHIFT).level is Level.OK
    # score is all null now: the null rate is an ERROR, the rest cannot be computed -> WARN, never OK
    assert by(outcomes, "score", NULL_RATE).level is Level.ERROR
    for statistic in (MEAN_SHIFT, STD_RATIO, PSI):
        outcome = by(outcomes, "score", statistic)
        assert outcome.level is Level.WARN and outcome.observed is None and "no values" in outcome.note
    assert outcomes[0].reference_window.startswith("last 5 days (5000 rows, 5 partitions)")


def test_bad_inputs_are_spec_errors(spark, reference):
    with pytest.raises(SpecError, match="'nope'"):
        detect_drift(reference, reference, ["nope"], group="orders")
    with pytest.raises(SpecError, match="numeric"):
        detect_drift(reference, reference, ["customer_id"], group="orders")
    with pytest.raises(SpecError, match="unknown feature"):
        detect_drift(reference, reference, ["amount"], per_feature={"qty": DriftThresholds()})
    with pytest.raises(SpecError):
        DriftThresholds(psi=(0.3, 0.1))
    with pytest.raises(SpecError):
        DriftThresholds(edges=(3, 1))
    with pytest.raises(SpecError):
        VolumeThresholds(warn=(1.2, 2.0))


def test_report_is_a_self_contained_html_file(spark, reference, tmp_path):
    current = make_frame(spark, 7, NEW_DAY, amount_scale=2.0)
    outcomes = detect_drift(current, reference, FEATURES, group="orders")
    path = write_drift_report(outcomes, tmp_path / "reports", partition="2026-01-06", run_id="run-42")
    assert path.exists() and path.suffix == ".html" and "orders" in path.name
    html = path.read_text(encoding="utf-8")
    for text in ["amount", "qty", "score", "psi=", "mean_shift_z", "std_ratio", "null_rate_change",
                 "row_volume_ratio", "warn &gt; 0.1, error &gt; 0.25", "ERROR", "run-42", "<svg"]:
        assert text in html, text
    assert html.count("<svg") == 3
    assert "<script" not in html and "http://" not in html.replace("http://www.w3.org/2000/svg", "")


# ---- pure PSI ------------------------------------------------------------------------------------------

def test_psi_basics():
    assert psi([10, 20, 30], [1, 2, 3]) == pytest.approx(0.0)
    assert psi([0, 0], [1, 1]) is None and psi([1, 1], [0, 0]) is None
    assert math.isfinite(psi([100, 0], [0, 100]))           # empty bins use epsilon, not log(0)
    assert psi([50, 50], [90, 10]) > 0.25


@given(st.lists(st.tuples(st.integers(0, 1000), st.integers(0, 1000)), min_size=2, max_size=12))
def test_psi_is_non_negative_and_symmetric(pairs):
    ref, cur = [p[0] for p in pairs], [p[1] for p in pairs]
    value = psi(ref, cur)
    if sum(ref) == 0 or sum(cur) == 0:
        assert value is None
    else:
        assert value >= -1e-12
        assert value == pytest.approx(psi(cur, ref), rel=1e-9, abs=1e-12)
