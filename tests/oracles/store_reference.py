"""Reference model of the offline store's write contract, in plain Python (no Spark, no Delta).

A history is a list of versions: (key, event_time, write, is_deleted, features), `write` the ordinal of the write
that stored it. A write appends, for each incoming row, a version only if its (key, event_time) has none
('new') or the newest one differs — another feature value, or it is a delete marker ('correction'); a rerun
appends nothing. A delete marker is new or a correction unless the newest version is already a marker. The
latest table holds, per key, the version with the greatest (event_time, write). Keys and values compare as
Spark compares them: NaN equals NaN, -0.0 equals 0.0, None equals only None.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field


def normal(value: object) -> object:
    """A value as Spark compares it (every NaN one value, -0.0 the same as 0.0)."""
    if isinstance(value, float):
        if math.isnan(value):
            return "NaN"
        if value == 0.0:
            return 0.0
    return value


def same(row: tuple) -> tuple:
    return tuple(normal(v) for v in row)


@dataclass
class Version:
    key: tuple
    event_time: object
    write: int
    is_deleted: bool
    features: tuple


@dataclass
class ReferenceStore:
    history: list[Version] = field(default_factory=list)
    writes: int = 0

    def _newest(self, key: tuple, event_time: object) -> Version | None:
        versions = [v for v in self.history if same(v.key) == same(key) and v.event_time == event_time]
        return max(versions, key=lambda v: v.write, default=None)

    def write(self, rows: list[tuple[tuple, object, tuple]]) -> dict[str, int]:
        """Rows (key, event_time, features); returns the counts of new, corrected and unchanged rows."""
        return self._append([(key, time, False, features) for key, time, features in rows])

    def soft_delete(self, keys: list[tuple], at: object, features: int) -> dict[str, int]:
        return self._append([(key, at, True, (None,) * features) for key in keys])

    def _append(self, rows: list[tuple]) -> dict[str, int]:
        counts = {"new": 0, "correction": 0, "unchanged": 0}
        added = []
        for key, time, deleted, features in rows:
            newest = self._newest(key, time)
            if newest is None:
                status = "new"
            elif deleted:
                status = "unchanged" if newest.is_deleted else "correction"
            else:
                status = "correction" if newest.is_deleted or same(newest.features) != same(features) else "unchanged"
            counts[status] += 1
            if status != "unchanged":
                added.append(Version(key, time, self.writes + 1, deleted, features))
        if added:
            self.writes += 1
            self.history += added
        return counts

    def latest(self) -> dict[tuple, Version]:
        """The newest version of each key by (event_time, write), delete markers included."""
        best: dict[tuple, Version] = {}
        for version in self.history:
            key = same(version.key)
            if key not in best or (version.event_time, version.write) > (best[key].event_time, best[key].write):
                best[key] = version
        return best
