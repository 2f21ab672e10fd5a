"""Drift of a new partition (current) against earlier partitions (reference), computed in Spark.

Per numeric feature:
  mean_shift_z      (mean_cur - mean_ref) / std_ref: an effect size in reference standard deviations
  std_ratio         std_cur / std_ref
  psi               population stability index over bins (reference deciles or fixed edges)
  null_rate_change  null_rate_cur - null_rate_ref (NaN counts as null)
and per frame:
  row_volume_ratio  rows per current partition / mean rows per reference partition

Default thresholds (warn, error) and why:
  psi 0.1 / 0.25: the usual credit-scoring rule of thumb (<0.1 stable, >0.25 shifted).
  |z| 0.5 / 1.0: z is an effect size, not a test statistic, so it does not grow with row counts; for a
      normal feature a 0.5 sd shift gives PSI ~0.25, so z and PSI agree. (|z| 2 / 4 would only catch
      shifts PSI already reports as ERROR.)
  std ratio 1.5 / 2.0, symmetric: outside [1/1.5, 1.5] warns, outside [0.5, 2.0] errors.
  null rate change 0.05 / 0.15 absolute (5 / 15 percentage points), either direction.
  row volume ratio warn outside [0.5, 2.0], error outside [0.2, 5.0].
A statistic that cannot be computed (no values, constant reference...) is WARN with a note, never OK.

Spark work: one aggregation pass per frame for all features' moments (plus reference quantiles, partition
count), one more pass over the reference for the histogram counts; the current frame's histogram is in
its single pass since the edges are known by then. Cache the reference if it is expensive to read.
GX's ExpectColumnMeanToBeBetween / StdevToBeBetween / KLDivergenceToBeLessThan would each launch their
own jobs per feature and GX has no PSI, null-rate change or volume check, so everything is computed here.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from featurestore.columns import EVENT_DATE
from featurestore.errors import SpecError
from featurestore.types import NUMERIC, dtype_name
from quality import Level, worst

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from featurestore.spec import FeatureGroupSpec

MEAN_SHIFT = "mean_shift_z"
STD_RATIO = "std_ratio"
PSI = "psi"
NULL_RATE = "null_rate_change"
ROW_VOLUME = "row_volume_ratio"
PSI_EPSILON = 1e-4
QUANTILE_ACCURACY = 10_000
Bounds = tuple[float | None, float | None]


@dataclass(frozen=True)
class DriftThresholds:
    """(warn, error) per statistic for one feature, and how to bin it for PSI."""

    mean_shift_z: tuple[float, float] = (0.5, 1.0)
    std_ratio: tuple[float, float] = (1.5, 2.0)
    psi: tuple[float, float] = (0.1, 0.25)
    null_rate_change: tuple[float, float] = (0.05, 0.15)
    bins: int = 10
    edges: tuple[float, ...] | None = None

    def __post_init__(self) -> None:
        for name in ("mean_shift_z", "std_ratio", "psi", "null_rate_change"):
            warn, error = getattr(self, name)
            if not 0 <= warn <= error:
                raise SpecError(f"drift thresholds: {name} needs 0 <= warn <= error, got ({warn}, {error})")
        if self.std_ratio[0] < 1:
            raise SpecError(f"drift thresholds: std_ratio thresholds are factors >= 1, got {self.std_ratio}")
        if self.bins < 2:
            raise SpecError(f"drift thresholds: bins must be >= 2, got {self.bins}")
        if self.edges is not None:
            edges = tuple(float(e) for e in self.edges)
            if not edges or any(b <= a for a, b in zip(edges, edges[1:])) or not all(map(math.isfinite, edges)):
                raise SpecError(f"drift thresholds: edges must be finite and strictly increasing, got {self.edges}")
            object.__setattr__(self, "edges", edges)


@dataclass(frozen=True)
class VolumeThresholds:
    """Allowed ranges of rows-per-partition ratio (current / reference mean): OK inside `warn`."""

    warn: tuple[float, float] = (0.5, 2.0)
    error: tuple[float, float] = (0.2, 5.0)

    def __post_init__(self) -> None:
        if not (0 <= self.error[0] <= self.warn[0] <= 1 <= self.warn[1] <= self.error[1]):
            raise SpecError(f"volume thresholds: need error[0] <= warn[0] <= 1 <= warn[1] <= error[1], "
                            f"got warn {self.warn}, error {self.error}")


@dataclass(frozen=True)
class Bin:
    """One histogram bin [low, high) (None = open end) with reference and current proportions."""

    low: float | None
    high: float | None
    reference: float
    current: float


@dataclass(frozen=True)
class DriftOutcome:
    """One drift statistic of one feature (feature None: the whole frame). OK inside `warn_bounds`."""

    group: str
    feature: str | None
    statistic: str
    observed: float | None
    warn_bounds: Bounds
    error_bounds: Bounds
    level: Level
    reference_window: str
    reference_value: float | None = None
    current_value: float | None = None
    bins: tuple[Bin, ...] = field(default=(), repr=False)
    note: str = ""

    @property
    def thresholds(self) -> str:
        """Human-readable thresholds, e.g. 'warn > 0.1, error > 0.25'."""
        return f"warn {_bounds_text(self.warn_bounds)}, error {_bounds_text(self.error_bounds)}"

    def summary(self) -> str:
        what = self.feature or "rows"
        value = "n/a" if self.observed is None else f"{self.observed:.4g}"
        text = f"[{self.level.value}] {self.group}/{what} {self.statistic}={value} ({self.thresholds})"
        return f"{text}: {self.note}" if self.note else text


def detect_drift(current: DataFrame, reference: DataFrame, features: FeatureGroupSpec | Sequence[str], *,
                 group: str | None = None, thresholds: DriftThresholds | None = None,
                 per_feature: Mapping[str, DriftThresholds] | None = None,
                 volume: VolumeThresholds | None = VolumeThresholds(),
                 partition_column: str | None = EVENT_DATE, reference_partitions: int | None = None,
                 reference_label: str | None = None) -> list[DriftOutcome]:
    """Drift outcomes for every numeric feature (4 statistics each) and the row volume (unless `volume`
    is None). `features`: a FeatureGroupSpec (its numeric features) or column names.

    Partitions per frame: `reference_partitions` if given, else distinct values of `partition_column`
    where the frame has it, else 1. `reference_label` replaces the computed window description.
    """
    names, group = _features(features, group)
    default = thresholds or DriftThresholds()
    per_feature = dict(per_feature or {})
    unknown = sorted(set(per_feature) - set(names))
    if unknown:
        raise SpecError(f"feature group {group!r}: drift thresholds for unknown feature(s) {unknown}")
    _check_columns(group, names, reference, "reference")
    _check_columns(group, names, current, "current")
    config = {name: per_feature.get(name, default) for name in names}

    fixed = {n: list(c.edges) for n, c in config.items() if c.edges is not None}
    ref_part = partition_column if partition_column and partition_column in reference.columns else None
    quantiles = {n: [i / c.bins for i in range(1, c.bins)] for n, c in config.items() if n not in fixed}
    ref = _aggregate(reference, names, quantiles=quantiles, edges=fixed, partition_column=ref_part)
    edges = dict(fixed)
    for name in quantiles:
        edges[name] = _edges(ref["quantiles"].get(name))
    learned = {n: e for n, e in edges.items() if n not in fixed and e is not None}
    if learned:
        ref["hist"].update(_aggregate(reference, [], edges=learned)["hist"])
    cur_part = partition_column if partition_column and partition_column in current.columns else None
    cur = _aggregate(current, names, edges={n: e for n, e in edges.items() if e is not None},
                     partition_column=cur_part)

    ref_partitions = reference_partitions or ref["partitions"] or 1
    window = _window(ref, ref_partitions, ref_part, reference_label, assumed=not (reference_partitions or ref_part))
    outcomes = []
    for name in names:
        outcomes += _feature_outcomes(group, name, config[name], ref, cur, edges.get(name), window)
    if volume is not None:
        outcomes.append(_volume_outcome(group, volume, ref["rows"], ref_partitions, cur["rows"],
                                        max(cur["partitions"] or 1, 1), window))
    return outcomes


def overall_level(outcomes: Iterable[DriftOutcome]) -> Level:
    """The worst level among `outcomes` (OK for none)."""
    return worst(o.level for o in outcomes)


def psi(reference_counts: Sequence[float], current_counts: Sequence[float],
        epsilon: float = PSI_EPSILON) -> float | None:
    """Population stability index of two histograms over the same bins; empty bins count as `epsilon`.
    None if either histogram is empty."""
    ref_total, cur_total = sum(reference_counts), sum(current_counts)
    if not ref_total or not cur_total:
        return None
    value = 0.0
    for r, c in zip(reference_counts, current_counts):
        p, q = max(r / ref_total, epsilon), max(c / cur_total, epsilon)
        value += (q - p) * math.log(q / p)
    return value


# ---- Spark passes --------------------------------------------------------------------------------------

def _aggregate(df: DataFrame, names: Sequence[str], *, quantiles: Mapping[str, list[float]] | None = None,
               edges: Mapping[str, list[float]] | None = None, partition_column: str | None = None) -> dict:
    """ONE aggregation over `df`: row count, per-feature moments of `names`, quantiles, histogram counts
    for `edges`, partition count. Null and NaN values are excluded from moments, counted as null."""
    from pyspark.sql import functions as F

    def value(name: str):
        x = F.col(name).cast("double")
        return F.when(~F.isnan(x), x)

    slots = {name: f"c{i}" for i, name in enumerate(dict.fromkeys([*names, *(quantiles or {}), *(edges or {})]))}
    exprs = [F.count(F.lit(1)).alias("rows")]
    for name in names:
        v, slot = value(name), slots[name]
        exprs += [F.count(v).alias(f"{slot}_n"), F.mean(v).alias(f"{slot}_mean"),
                  F.stddev_samp(v).alias(f"{slot}_std")]
    for name, probabilities in (quantiles or {}).items():
        exprs.append(F.percentile_approx(value(name), probabilities, QUANTILE_ACCURACY).alias(f"{slots[name]}_q"))
    for name, cuts in (edges or {}).items():
        v = value(name)
        for j, (low, high) in enumerate(_intervals(cuts)):
            condition = v.isNotNull()
            if low is not None:
                condition &= v >= low
            if high is not None:
                condition &= v < high
            exprs.append(F.count(F.when(condition, 1)).alias(f"{slots[name]}_h{j}"))
    if partition_column:
        exprs += [F.size(F.collect_set(partition_column)).alias("partitions"),
                  F.min(partition_column).cast("string").alias("first_partition"),
                  F.max(partition_column).cast("string").alias("last_partition")]
    row = df.agg(*exprs).first().asDict()

    return {"rows": row["rows"], "partitions": row.get("partitions"), "first": row.get("first_partition"),
            "last": row.get("last_partition"),
            "features": {n: {"n": row[f"{slots[n]}_n"], "mean": row[f"{slots[n]}_mean"],
                             "std": row[f"{slots[n]}_std"]} for n in names},
            "quantiles": {n: row[f"{slots[n]}_q"] for n in quantiles or {}},
            "hist": {n: [row[f"{slots[n]}_h{j}"] for j in range(len(cuts) + 1)] for n, cuts in (edges or {}).items()}}


def _edges(quantile_values: Sequence[float] | None) -> list[float] | None:
    """Interior bin edges from reference quantiles: distinct, finite, increasing (ties merge bins)."""
    if not quantile_values:
        return None
    return sorted({float(v) for v in quantile_values if v is not None and math.isfinite(v)}) or None


def _intervals(edges: Sequence[float]) -> list[tuple[float | None, float | None]]:
    """(-inf, e1), [e1, e2), ..., [ek, inf) as (low, high) with None for the open ends."""
    bounds: list[float | None] = [None, *edges, None]
    return list(zip(bounds[:-1], bounds[1:]))


# ---- statistics ----------------------------------------------------------------------------------------

def _feature_outcomes(group: str, name: str, config: DriftThresholds, ref: dict, cur: dict,
                      edges: list[float] | None, window: str) -> list[DriftOutcome]:
    r, c = ref["features"][name], cur["features"][name]
    base = dict(group=group, feature=name, reference_window=window)
    outcomes = []

    z_warn, z_error = config.mean_shift_z
    z, note = None, ""
    if not r["n"] or not c["n"]:
        note = "no values in the " + ("reference" if not r["n"] else "current") + " partition(s)"
    elif r["std"] is None:
        note = "reference has fewer than 2 values"
    elif r["std"] == 0:
        z = 0.0 if c["mean"] == r["mean"] else math.copysign(math.inf, c["mean"] - r["mean"])
        note = "reference is constant" if z else ""
    else:
        z = (c["mean"] - r["mean"]) / r["std"]
    outcomes.append(_outcome(base, MEAN_SHIFT, z, (-z_warn, z_warn), (-z_error, z_error), r["mean"], c["mean"], note))

    s_warn, s_error = config.std_ratio
    ratio, note = None, ""
    if r["std"] is None or c["std"] is None:
        which = "reference" if r["std"] is None else "current"
        count = r["n"] if r["std"] is None else c["n"]
        note = f"{'no' if not count else 'fewer than 2'} values in the {which} partition(s)"
    elif r["std"] == 0:
        ratio = 1.0 if c["std"] == 0 else math.inf
        note = "reference is constant" if c["std"] else ""
    else:
        ratio = c["std"] / r["std"]
    outcomes.append(_outcome(base, STD_RATIO, ratio, (1 / s_warn, s_warn), (1 / s_error, s_error),
                             r["std"], c["std"], note))

    p_warn, p_error = config.psi
    bins: tuple[Bin, ...] = ()
    value, note = None, "no values to bin"
    if edges is not None:
        ref_counts, cur_counts = ref["hist"][name], cur["hist"][name]
        value = psi(ref_counts, cur_counts)
        note = "" if value is not None else "no values in the " + (
            "reference" if not sum(ref_counts) else "current") + " partition(s)"
        ref_total, cur_total = sum(ref_counts) or 1, sum(cur_counts) or 1
        bins = tuple(Bin(low, high, rc / ref_total, cc / cur_total)
                     for (low, high), rc, cc in zip(_intervals(edges), ref_counts, cur_counts))
    outcome = _outcome(base, PSI, value, (None, p_warn), (None, p_error), None, None, note)
    outcomes.append(replace(outcome, bins=bins))

    n_warn, n_error = config.null_rate_change
    ref_rate = 1 - r["n"] / ref["rows"] if ref["rows"] else None
    cur_rate = 1 - c["n"] / cur["rows"] if cur["rows"] else None
    change = cur_rate - ref_rate if ref_rate is not None and cur_rate is not None else None
    note = "" if change is not None else "no rows in the " + ("reference" if ref_rate is None else "current")
    outcomes.append(_outcome(base, NULL_RATE, change, (-n_warn, n_warn), (-n_error, n_error),
                             ref_rate, cur_rate, note))
    return outcomes


def _volume_outcome(group: str, volume: VolumeThresholds, ref_rows: int, ref_partitions: int,
                    cur_rows: int, cur_partitions: int, window: str) -> DriftOutcome:
    ref_mean = ref_rows / ref_partitions
    cur_mean = cur_rows / cur_partitions
    ratio = cur_mean / ref_mean if ref_mean else None
    note = "" if ratio is not None else "reference has no rows"
    return _outcome(dict(group=group, feature=None, reference_window=window), ROW_VOLUME, ratio,
                    volume.warn, volume.error, ref_mean, cur_mean, note)


def _outcome(base: dict, statistic: str, observed: float | None, warn: Bounds, error: Bounds,
             reference_value: Any, current_value: Any, note: str) -> DriftOutcome:
    return DriftOutcome(**base, statistic=statistic, observed=observed, warn_bounds=warn, error_bounds=error,
                        level=_level(observed, warn, error), reference_value=_float(reference_value),
                        current_value=_float(current_value), note=note)


def _level(value: float | None, warn: Bounds, error: Bounds) -> Level:
    """ERROR outside `error`, WARN outside `warn` or not computable, OK otherwise."""
    if value is None or math.isnan(value):
        return Level.WARN
    if _outside(value, error):
        return Level.ERROR
    return Level.WARN if _outside(value, warn) else Level.OK


def _outside(value: float, bounds: Bounds) -> bool:
    low, high = bounds
    return (low is not None and value < low) or (high is not None and value > high)


def _bounds_text(bounds: Bounds) -> str:
    low, high = bounds
    if low is None:
        return f"> {high:g}"
    if high is None:
        return f"< {low:g}"
    return f"outside [{low:.3g}, {high:.3g}]"


def _float(value: Any) -> float | None:
    return None if value is None else float(value)


def _window(ref: dict, partitions: int, partition_column: str | None, label: str | None,
            assumed: bool) -> str:
    counts = f"{ref['rows']} rows, {partitions} partition{'s' if partitions != 1 else ''}"
    if assumed:
        counts += " (assumed)"
    if label:
        return f"{label} ({counts})"
    if partition_column and ref["first"] is not None:
        return f"{partition_column} {ref['first']}..{ref['last']} ({counts})"
    return f"reference ({counts})"


# ---- inputs --------------------------------------------------------------------------------------------

def _features(features: FeatureGroupSpec | Sequence[str], group: str | None) -> tuple[list[str], str]:
    if hasattr(features, "features") and hasattr(features, "name"):
        names = [f.name for f in features.features if f.dtype in NUMERIC]
        return names, group or features.name
    names = list(dict.fromkeys(features))
    return names, group or "features"


def _check_columns(group: str, names: Sequence[str], df: DataFrame, which: str) -> None:
    types = {f.name: dtype_name(f.dataType) for f in df.schema.fields}
    for name in names:
        if name not in types:
            raise SpecError(f"feature group {group!r}: feature {name!r} is not in the {which} data "
                            f"(it has {sorted(types)})")
        if types[name] not in NUMERIC | {"short", "byte"} and not types[name].startswith("decimal"):
            raise SpecError(f"feature group {group!r}: drift needs a numeric feature; {name!r} is {types[name]} "
                            f"in the {which} data")


@dataclass(frozen=True)
class DriftCheckConfig:
    """A group's drift check (FeatureGroupSpec.drift): each written partition against the ones before it.

    `reference`: length of the window just before the evaluated partition(s), e.g. "7d" = the previous 7
    daily (or 168 hourly) partitions, clipped at the group's start. `features`: the features to compare
    (default every numeric one). `thresholds`, `per_feature`, `volume`: as for `detect_drift`. Feature
    statistics are not evaluated when the current or reference frame has fewer than `min_rows` rows
    (PSI on a few dozen values is noise); nothing is evaluated with fewer than `min_reference_partitions`
    reference partitions (a group's first partitions). Not evaluated is reported as such, not as drift.
    """

    reference: timedelta | str = "7d"
    features: tuple[str, ...] | None = None
    thresholds: DriftThresholds = field(default_factory=DriftThresholds)
    per_feature: Mapping[str, DriftThresholds] = field(default_factory=dict, hash=False)
    volume: VolumeThresholds | None = field(default_factory=VolumeThresholds)
    min_rows: int = 100
    min_reference_partitions: int = 1

    def __post_init__(self) -> None:
        from featurestore.durations import parse_duration

        object.__setattr__(self, "reference", parse_duration(self.reference, what="drift check: reference"))
        if self.features is not None:
            object.__setattr__(self, "features", tuple(self.features))
        object.__setattr__(self, "per_feature", dict(self.per_feature))
        if self.min_rows < 1 or self.min_reference_partitions < 1:
            raise SpecError("drift check: min_rows and min_reference_partitions must be >= 1")

    def feature_names(self, spec: FeatureGroupSpec) -> list[str]:
        """The features this config compares for `spec`; SpecError naming the group for unknown or
        non-numeric ones."""
        numeric = [f.name for f in spec.features if f.dtype in NUMERIC]
        names = list(self.features) if self.features is not None else numeric
        for name in [*names, *self.per_feature]:
            if name not in numeric:
                raise SpecError(f"feature group {spec.name!r}: drift check on {name!r}, which is not a numeric "
                                f"feature; numeric features: {numeric}")
        unused = sorted(set(self.per_feature) - set(names))
        if unused:
            raise SpecError(f"feature group {spec.name!r}: drift thresholds for {unused}, not among the "
                            f"compared features {names}")
        return names


__all__ = ["Bin", "DriftCheckConfig", "DriftOutcome", "DriftThresholds", "MEAN_SHIFT", "NULL_RATE", "PSI",
           "ROW_VOLUME", "STD_RATIO", "VolumeThresholds", "detect_drift", "overall_level", "psi"]
