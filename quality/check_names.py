"""Check names and the partitions an evaluation covers (no Spark, GX or store import: the CLI's gate uses them).

A suite check is named after its expectation ('between:avg_amt' -> 'between_avg_amt'); a drift check is
`drift_<feature>` or `drift_row_volume`. An evaluation over a partition range records `first_partition` and
`last_partition` in its metadata.
"""

from __future__ import annotations

import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from featurestore.durations import format_duration
from featurestore.errors import SpecError
from quality.drift import DriftCheckConfig
from quality.expectations import ExpectationSpec, default_suite

if TYPE_CHECKING:
    from featurestore.spec import FeatureGroupSpec

DRIFT_PREFIX = "drift_"
VOLUME_CHECK = "drift_row_volume"
PARTITIONS, FIRST_PARTITION, LAST_PARTITION = "partitions", "first_partition", "last_partition"


def check_name(expectation: str) -> str:
    """A check name for an expectation name: 'between:avg_amt' -> 'between_avg_amt'."""
    return re.sub(r"[^A-Za-z0-9_]+", "_", expectation).strip("_") or "check"


def suite_for(spec: FeatureGroupSpec) -> list[ExpectationSpec]:
    """The group's expectations: structural ones from the spec plus spec.expectations."""
    return default_suite(spec)


def suite_check_names(suite: Sequence[ExpectationSpec]) -> dict[str, str]:
    """Expectation name -> unique check name."""
    names: dict[str, str] = {}
    for check in suite:
        base = check_name(check.name)
        if base.startswith(DRIFT_PREFIX):  # drift_* names belong to the drift checks
            base = f"gx_{base}"
        name, n = base, 2
        while name in names.values():
            name, n = f"{base}_{n}", n + 1
        names[check.name] = name
    return names


def drift_config(spec: FeatureGroupSpec) -> DriftCheckConfig | None:
    if spec.drift is not None and not isinstance(spec.drift, DriftCheckConfig):
        raise SpecError(f"feature group {spec.name!r}: drift must be a quality.drift.DriftCheckConfig, "
                        f"not {type(spec.drift).__name__}")
    return spec.drift


def drift_check_names(spec: FeatureGroupSpec) -> dict[str | None, str]:
    """Compared feature (None: row volume) -> check name; empty without a drift config."""
    config = drift_config(spec)
    if config is None:
        return {}
    names: dict[str | None, str] = {f: f"{DRIFT_PREFIX}{f}" for f in config.feature_names(spec)}
    if config.volume is not None:
        names[None] = VOLUME_CHECK
    return names


def reference_description(spec: FeatureGroupSpec, config: DriftCheckConfig) -> str:
    """'previous 7 daily partitions' (or the duration when it is not a whole number of partitions)."""
    count, rest = divmod(config.reference, spec.step)
    if rest:
        return f"previous {format_duration(config.reference)} of partitions"
    return f"previous {count} {spec.grain} partition{'s' if count != 1 else ''}"


def covered_partitions(partition: str | None, metadata: Mapping[str, Any]) -> tuple[str, str] | None:
    """(first, last) partition key an evaluation covers: its own partition, or the window in its metadata."""
    if partition:
        return partition, partition
    first, last = metadata.get(FIRST_PARTITION), metadata.get(LAST_PARTITION)
    return (str(first), str(last)) if first is not None and last is not None else None


def covered_label(partition: str | None, metadata: Mapping[str, Any]) -> str:
    """'2026-10-09' or '2026-10-01..2026-10-09' for an evaluation; '(unpartitioned)' when unknown."""
    bounds = covered_partitions(partition, metadata)
    if bounds is None:
        return "(unpartitioned)"
    return bounds[0] if bounds[0] == bounds[1] else f"{bounds[0]}..{bounds[1]}"
