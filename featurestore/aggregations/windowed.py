"""Groups declared by their window features: the features and the snapshot transform derived from Windows."""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING

from featurestore.aggregations import Window
from featurestore.durations import format_duration
from featurestore.errors import SpecError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from featurestore.spec import Feature, TransformInput

_STATIC_TYPES = {"long": "long", "double": "double"}


def window_features(group: str, windows: Sequence[Window], declared: Sequence[Feature],
                    feature_type: type) -> tuple:
    """The group's features: each window's, typed from its aggregation unless declared, then the others."""
    by_name = {f.name: f for f in declared}
    features = []
    for window in windows:
        if group and window.group_by is not None:
            raise SpecError(f"feature group {group!r}: window {window.name!r} is bucketed (group_by); "
                            "map-valued features are not stored in groups yet")
        dtype = _STATIC_TYPES.get(window.aggregation.output)
        if window.name in by_name:
            feature = by_name.pop(window.name)
            if dtype is not None and feature.dtype != dtype:
                raise SpecError(f"feature group {group!r}: feature {window.name!r} is declared {feature.dtype} "
                                f"but {window.agg} yields {dtype}")
            features.append(feature)
        elif dtype is None:
            raise SpecError(f"feature group {group!r}: window {window.name!r} ({window.agg}) takes its column's "
                            "type; declare Feature(name, dtype) for it")
        else:
            span = f"the last {format_duration(window.size)}" if window.size else "all time"
            features.append(feature_type(window.name, dtype, f"{window.agg} of {window.column or 'rows'} over {span}"))
    return tuple(features) + tuple(by_name.values())


def largest_window(windows: Sequence[Window]) -> timedelta | None:
    """The longest window's size; None if any window is unbounded."""
    sizes = [w.size for w in windows]
    return None if None in sizes else max(sizes)


@dataclass(frozen=True)
class WindowedTransform:
    """The snapshot transform of a windowed group: its windows over one source at every snapshot time."""

    source: str
    time_column: str
    keys: tuple[str, ...]
    windows: tuple[Window, ...]

    def __call__(self, ctx: TransformInput) -> DataFrame:
        from featurestore.aggregations import snapshot_aggregates

        return snapshot_aggregates(ctx.sources[self.source], keys=list(self.keys), time_column=self.time_column,
                                   windows=self.windows, snapshot_times=ctx.snapshot_times(),
                                   event_id_column=getattr(ctx, "event_ids", {}).get(self.source))


def windowed_transform(source: str, time_column: str, keys: Sequence[str],
                       windows: Sequence[Window]) -> Callable[[TransformInput], DataFrame]:
    return WindowedTransform(source, time_column, tuple(keys), tuple(windows))
