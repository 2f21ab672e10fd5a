"""Online lookups: current feature values for one key or a batch of keys.

Two backends behind one function, `get_online_features`:
- the offline store's latest-values Delta tables, read through Spark (authoritative, ~100s of ms);
- `OnlineStore`, an embedded SQLite file kept in sync with those tables (`OnlineStore.sync`, incremental by
  write_time), for millisecond lookups without Spark.
Deleted or unknown keys get None for every feature. Feature names are as in training sets: the feature's name
(`group__feature` for every feature with `full_feature_names=True`); a name two requested groups share is a
SpecError naming both (featurestore.engines.pit.resolve_output_names).
"""

from __future__ import annotations

import json
import logging
import math
import numbers
import os
import random
import re
import sqlite3
import struct
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, timedelta, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any, Union

from featurestore.columns import EVENT_TIME, IS_DELETED, WRITE_TIME
from featurestore.errors import FeatureStoreError, InvalidKeyError, SpecError

if TYPE_CHECKING:
    from pyspark.sql import DataFrame

    from featurestore.offline.store import OfflineStore
    from featurestore.spec import FeatureGroupSpec

log = logging.getLogger(__name__)
KeyTuple = tuple
_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_SQL_TYPES = {"string": "TEXT", "int": "INTEGER", "long": "INTEGER", "bool": "INTEGER", "float": "REAL",
              "double": "REAL", "date": "TEXT", "timestamp": "INTEGER"}
_FLOATS = ("float", "double")
_NAN_TEXT = "NaN"
_INT_RANGE = {"int": (-2**31, 2**31 - 1), "long": (-2**63, 2**63 - 1)}
_CHUNK = 500  # keys per SQL statement (well under SQLite's variable limit)
ONLINE_PATH_ENV = "FEATURESTORE_ONLINE_PATH"


# ---- value conversions (SQLite <-> Python, identical for both backends) -----------------------------------
def micros_to_datetime(micros: int | None) -> datetime | None:
    """Microseconds since the epoch -> aware UTC datetime (exact)."""
    if micros is None:
        return None
    return _EPOCH + timedelta(microseconds=int(micros))


def datetime_to_micros(moment: datetime) -> int:
    """An instant as epoch microseconds (featurestore.times rule: naive means UTC)."""
    from featurestore.times import to_micros

    return to_micros(moment)


def _to_sql(value: Any, dtype: str) -> Any:
    if value is None:
        return None
    if dtype == "date":
        return value.isoformat()
    if dtype == "bool":
        return int(value)
    if dtype == "timestamp" and isinstance(value, datetime):
        return datetime_to_micros(value)
    if dtype in _FLOATS and isinstance(value, float) and math.isnan(value):
        return _NAN_TEXT  # SQLite stores a NaN REAL as NULL; this text keeps it apart from a null value
    return value


def _from_sql(value: Any, dtype: str) -> Any:
    if value is None:
        return None
    if dtype == "timestamp":
        return micros_to_datetime(value)
    if dtype == "date":
        return date.fromisoformat(value)
    if dtype == "bool":
        return bool(value)
    if dtype in _FLOATS and value == _NAN_TEXT:
        return math.nan
    return value


def _key_value(spec: FeatureGroupSpec, name: str, dtype: str, value: Any) -> Any:
    """A lookup key value of the declared type, exactly; InvalidKeyError naming the group and key otherwise.

    Accepted: a string key takes `str`; an int/long key Python or numpy integers in range (never a bool,
    a float such as 3.0 or 3.7, or a string such as '3'); a float/double key a real number or an integer
    (exact below 2**53; a float key is rounded to 32 bits as stored), never NaN, a bool or a string; a bool
    key `bool` or numpy bool only; a date key a `date` (not a datetime) or an ISO date string; a timestamp
    key a datetime (naive = UTC), pandas Timestamp or ISO-8601 string. Nothing is coerced otherwise.
    """
    def refuse(why: str) -> InvalidKeyError:
        return InvalidKeyError(f"feature group {spec.name!r}: key {name!r} is {dtype}; {why}")

    kind = f"{type(value).__name__} {value!r}"
    if value is None:
        raise refuse("got None (keys are never null)")
    boolean = isinstance(value, bool) or getattr(getattr(value, "dtype", None), "kind", None) == "b"
    if dtype == "string":
        if isinstance(value, str):
            return str(value)
        raise refuse(f"got {kind}; pass the key as a string")
    if dtype in _INT_RANGE:
        if boolean or not isinstance(value, numbers.Integral):
            hint = " (no rounding or parsing)" if isinstance(value, (numbers.Real, str)) and not boolean else ""
            raise refuse(f"got {kind}; pass an integer{hint}")
        low, high = _INT_RANGE[dtype]
        if not low <= int(value) <= high:
            raise refuse(f"got {value!r}, outside the {dtype} range [{low}, {high}]")
        return int(value)
    if dtype in _FLOATS:
        if boolean or not isinstance(value, numbers.Real):
            raise refuse(f"got {kind}; pass a number")
        if isinstance(value, numbers.Integral) and abs(int(value)) > 2**53:
            raise refuse(f"got the integer {value!r}, which a {dtype} cannot hold exactly")
        number = float(value)
        if math.isnan(number):
            raise refuse("got NaN, which is never a key (rows with a NaN key are not served online)")
        return struct.unpack("f", struct.pack("f", number))[0] if dtype == "float" else number
    if dtype == "bool":
        if boolean:
            return bool(value)
        raise refuse(f"got {kind}; pass True or False")
    if dtype == "date":
        if isinstance(value, date) and not isinstance(value, datetime):
            return value
        if isinstance(value, str):
            try:
                return date.fromisoformat(value)
            except ValueError:
                pass
        raise refuse(f"got {kind}; pass a date or an ISO date like '2026-01-31'")
    if dtype == "timestamp":
        from featurestore.times import to_utc

        if isinstance(value, (datetime, str)) or hasattr(value, "to_pydatetime"):
            try:
                return to_utc(value, f"feature group {spec.name!r}: key {name!r} is timestamp")
            except SpecError as error:
                raise InvalidKeyError(str(error)) from None
        raise refuse(f"got {kind}; pass a datetime or an ISO-8601 string")
    return value


_INT_TEXT = re.compile(r"[+-]?[0-9]+")
_TRUE, _FALSE = ("true", "1", "yes"), ("false", "0", "no")


def key_from_text(spec: FeatureGroupSpec, name: str, dtype: str, text: str) -> Any:
    """A key value parsed from text (command line, query string) by its declared type, strictly:
    '3' for an int key, never '3.7'; 'true'/'false' for a bool key; InvalidKeyError otherwise."""
    def refuse(what: str) -> InvalidKeyError:
        return InvalidKeyError(f"feature group {spec.name!r}: key {name!r} is {dtype}; {text!r} is not {what}")

    if dtype in _INT_RANGE:
        if not _INT_TEXT.fullmatch(text.strip()):
            raise refuse("an integer")
        return _key_value(spec, name, dtype, int(text))
    if dtype in _FLOATS:
        try:
            number = float(text)
        except ValueError:
            raise refuse("a number") from None
        return _key_value(spec, name, dtype, number)
    if dtype == "bool":
        folded = text.strip().lower()
        if folded not in _TRUE + _FALSE:
            raise refuse("true or false")
        return folded in _TRUE
    return _key_value(spec, name, dtype, text)


def keys_from_text(spec: FeatureGroupSpec, rows: Sequence[Mapping[str, str]]) -> list[dict[str, Any]]:
    """Entity rows of text values (as `featurestore lookup` parses them) typed by the group's key types."""
    types = {k.name: k.dtype for k in spec.keys}
    return [{name: key_from_text(spec, name, types[name], value) if name in types and isinstance(value, str)
             else value for name, value in row.items()} for row in rows]


def key_tuples(spec: FeatureGroupSpec, keys: Sequence[Mapping[str, Any]]) -> list[KeyTuple]:
    """The group's key columns of each entity row, typed, as tuples in key order."""
    tuples = []
    for row in keys:
        missing = [k for k in spec.key_names if k not in row]
        if missing:
            raise InvalidKeyError(f"feature group {spec.name!r}: key column(s) {missing} missing from {dict(row)}")
        tuples.append(tuple(_key_value(spec, k.name, k.dtype, row[k.name]) for k in spec.keys))
    return tuples


def output_names(groups: Sequence[FeatureGroupSpec], full_feature_names: bool = False) -> list[dict[str, str]]:
    """Per group, feature -> output name, by the training-set rule (featurestore.engines.pit.resolve_output_names):
    plain names, or `group__feature` with full_feature_names; a clash is a SpecError naming both groups."""
    from featurestore.engines.pit import FeatureQuery, resolve_output_names

    keys = list(dict.fromkeys(k for spec in groups for k in spec.key_names))
    queries = [FeatureQuery(spec.name, None, spec.key_names, spec.feature_names) for spec in groups]
    return resolve_output_names(keys, queries, full_feature_names=full_feature_names)


# ---- the embedded online store ----------------------------------------------------------------------------
@dataclass(frozen=True)
class SyncResult:
    """What one sync copied: rows upserted and deleted, the new watermark, the latest-table version synced."""

    group: str
    upserted: int
    deleted: int
    full: bool
    watermark: datetime | None
    delta_version: int | None
    seconds: float
    skipped: int = 0
    """Rows not copied because their key cannot be stored or looked up (a NaN float key, or a row SQLite
    refused); the rest of the group is synced all the same."""
    skipped_examples: tuple = ()
    """Up to five of them: ({key: value}, reason)."""


def _fingerprint(spec: FeatureGroupSpec) -> str:
    return json.dumps([[k.name, k.dtype] for k in spec.keys] + [[f.name, f.dtype] for f in spec.features])


def _table(group: str) -> str:
    return f'"fg_{group}"'


def _quote(name: str) -> str:
    return '"' + name.replace('"', '""') + '"'


class OnlineStore:
    """A SQLite file holding the current values of each synced group: one table per group, keyed by its keys."""

    def __init__(self, path: str | os.PathLike):
        self.path = str(path)
        self._local = threading.local()

    @classmethod
    def for_store(cls, store: OfflineStore | str, path: str | os.PathLike | None = None) -> OnlineStore:
        """The online store of an offline store: `path`, the online_path setting ($FEATURESTORE_ONLINE_PATH),
        or <root>/online.sqlite."""
        from featurestore.settings import Settings, is_remote_root

        root = store if isinstance(store, str) else store.root
        chosen = path or Settings.resolve().online_path
        if not chosen:
            if is_remote_root(root):
                raise FeatureStoreError(f"the store root {root} is remote: give the online store a local path "
                                        f"(path=... or ${ONLINE_PATH_ENV})")
            chosen = os.path.join(root.removeprefix("file:"), "online.sqlite")
        return cls(chosen)

    # ---- connection and bookkeeping
    def connection(self) -> sqlite3.Connection:
        """This thread's connection (WAL: readers never wait for a sync)."""
        conn = getattr(self._local, "conn", None)
        if conn is None:
            Path(self.path).parent.mkdir(parents=True, exist_ok=True)
            conn = sqlite3.connect(self.path, isolation_level=None, cached_statements=256)
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            conn.execute("CREATE TABLE IF NOT EXISTS _sync_state (grp TEXT PRIMARY KEY, fingerprint TEXT, "
                         "watermark INTEGER, delta_version INTEGER, synced_at TEXT)")
            self._local.conn = conn
        return conn

    def close(self) -> None:
        conn = getattr(self._local, "conn", None)
        if conn is not None:
            conn.close()
            self._local.conn = None

    def state(self, group: str) -> dict | None:
        """Fingerprint, watermark (micros), synced Delta version and time of the group's last sync; None if never."""
        row = self.connection().execute("SELECT fingerprint, watermark, delta_version, synced_at FROM _sync_state "
                                        "WHERE grp = ?", (group,)).fetchone()
        return None if row is None else dict(zip(("fingerprint", "watermark", "delta_version", "synced_at"), row))

    def count(self, group: str) -> int:
        if self.state(group) is None:
            return 0
        return self.connection().execute(f"SELECT COUNT(*) FROM {_table(group)}").fetchone()[0]

    def _create(self, conn: sqlite3.Connection, spec: FeatureGroupSpec) -> None:
        columns = [f"{_quote(c.name)} {_SQL_TYPES[c.dtype]}" for c in spec.keys]
        columns += [f"{_quote(EVENT_TIME)} INTEGER", f"{_quote(WRITE_TIME)} INTEGER"]
        columns += [f"{_quote(f.name)} {_SQL_TYPES[f.dtype]}" for f in spec.features]
        primary = ", ".join(_quote(k) for k in spec.key_names)
        conn.execute(f"DROP TABLE IF EXISTS {_table(spec.name)}")
        conn.execute(f"CREATE TABLE {_table(spec.name)} ({', '.join(columns)}, PRIMARY KEY ({primary})) WITHOUT ROWID")

    # ---- sync
    def sync(self, store: OfflineStore, spec: FeatureGroupSpec, *, full: bool = False) -> SyncResult:
        """Copy rows of the group's latest-values table changed since the last sync (by write_time).

        Deleted keys are removed. A new table, a changed schema, `full=True` or a latest table older than the
        synced version (recreated) copies everything. One SQLite transaction: readers see before or after.
        """
        started = time.perf_counter()
        latest_path = store.latest_path(spec.name)
        version = store.version(latest_path)
        if version is None:
            raise FeatureStoreError(f"feature group {spec.name!r}: no latest-values table at {latest_path}; "
                                    "materialise the group first")
        state = self.state(spec.name)
        full = (full or state is None or state["fingerprint"] != _fingerprint(spec)
                or state["delta_version"] is None or state["delta_version"] > version)
        watermark = None if full else state["watermark"]
        rows = _changed_rows(store, spec, latest_path, version, watermark)
        conn = self.connection()
        upserted = deleted = 0
        new_watermark = watermark
        keys = ", ".join(_quote(k) for k in spec.key_names)
        columns = spec.key_names + [EVENT_TIME, WRITE_TIME] + spec.feature_names
        insert = (f"INSERT OR REPLACE INTO {_table(spec.name)} ({', '.join(_quote(c) for c in columns)}) "
                  f"VALUES ({', '.join('?' * len(columns))})")
        delete = f"DELETE FROM {_table(spec.name)} WHERE ({keys}) = ({', '.join('?' * len(spec.key_names))})"
        dtypes = [c.dtype for c in spec.keys] + ["timestamp", "timestamp"] + [f.dtype for f in spec.features]
        float_keys = [k.name for k in spec.keys if k.dtype in _FLOATS]
        skipped: list[tuple[dict, str]] = []

        def skip(row: dict, reason: str) -> None:
            skipped.append(({k: row[k] for k in spec.key_names}, reason))

        conn.execute("BEGIN IMMEDIATE")
        try:
            if full:
                self._create(conn, spec)
            for chunk in _chunks(rows, 5_000):
                puts, drops = [], []
                for row in chunk:
                    new_watermark = row[WRITE_TIME] if new_watermark is None else max(new_watermark, row[WRITE_TIME])
                    if any(row[k] is not None and math.isnan(row[k]) for k in float_keys):
                        skip(row, "NaN key")  # never a lookup key: see _key_value
                    elif row[IS_DELETED]:
                        drops.append((row, tuple(_to_sql(row[k.name], k.dtype) for k in spec.keys)))
                    else:
                        puts.append((row, tuple(_to_sql(row[c], t) for c, t in zip(columns, dtypes))))
                upserted += _apply(conn, insert, puts, skip)
                deleted += _apply(conn, delete, drops, skip)
            conn.execute("INSERT OR REPLACE INTO _sync_state VALUES (?, ?, ?, ?, ?)",
                         (spec.name, _fingerprint(spec), new_watermark, version,
                          datetime.now(timezone.utc).isoformat()))
            conn.execute("COMMIT")
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        if skipped:
            log.warning("feature group %r: %d row(s) not synced to the online store (%s), e.g. %s",
                        spec.name, len(skipped), ", ".join(sorted({why for _, why in skipped})), skipped[0][0])
        return SyncResult(spec.name, upserted, deleted, full, micros_to_datetime(new_watermark), version,
                          time.perf_counter() - started, len(skipped), tuple(skipped[:5]))

    # ---- reads
    def get(self, spec: FeatureGroupSpec, keys: Sequence[KeyTuple]) -> dict[KeyTuple, dict]:
        """Stored rows (event_time + features, typed) of the given key tuples; absent keys are left out.
        Each tuple is checked against the key types (InvalidKeyError: True is not key 1)."""
        return self._lookup(spec, _checked_tuples(spec, keys))

    def _lookup(self, spec: FeatureGroupSpec, keys: Sequence[KeyTuple]) -> dict[KeyTuple, dict]:
        if self.state(spec.name) is None:
            raise FeatureStoreError(f"feature group {spec.name!r} has never been synced to the online store "
                                    f"{self.path}; run OnlineStore.sync (or the online/{spec.name} asset)")
        conn = self.connection()
        n = len(spec.key_names)
        columns = spec.key_names + [EVENT_TIME] + spec.feature_names
        dtypes = ["timestamp"] + [f.dtype for f in spec.features]
        select = f"SELECT {', '.join(_quote(c) for c in columns)} FROM {_table(spec.name)} WHERE "
        wanted = list(dict.fromkeys(tuple(_to_sql(v, k.dtype) for v, k in zip(t, spec.keys)) for t in keys))
        names = columns[n:]
        converted = [i for i, t in enumerate(dtypes) if t in ("timestamp", "date", "bool", *_FLOATS)]
        plain_keys = all(k.dtype not in ("timestamp", "date", "bool") for k in spec.keys)
        found: dict[KeyTuple, dict] = {}
        for start in range(0, len(wanted), _CHUNK):
            chunk = wanted[start:start + _CHUNK]
            if n == 1:
                sql = select + f"{_quote(spec.key_names[0])} IN ({', '.join('?' * len(chunk))})"
                params = [t[0] for t in chunk]
            else:
                row = "(" + ", ".join("?" * n) + ")"
                key_list = ", ".join(_quote(k) for k in spec.key_names)
                sql = select + f"({key_list}) IN (VALUES {', '.join([row] * len(chunk))})"
                params = [v for t in chunk for v in t]
            for record in conn.execute(sql, params):
                if plain_keys:
                    key = record[:n]
                else:
                    key = tuple(_from_sql(v, k.dtype) for v, k in zip(record[:n], spec.keys))
                values = record[n:]
                row = dict(zip(names, values))
                for i in converted:
                    row[names[i]] = _from_sql(values[i], dtypes[i])
                found[key] = row
        return found

    def sample_keys(self, spec: FeatureGroupSpec, size: int, seed: int | None = None) -> list[KeyTuple]:
        """Up to `size` stored keys picked at random."""
        conn = self.connection()
        keys = [tuple(_from_sql(v, k.dtype) for v, k in zip(r, spec.keys)) for r in conn.execute(
            f"SELECT {', '.join(_quote(k) for k in spec.key_names)} FROM {_table(spec.name)}")]
        return random.Random(seed).sample(keys, min(size, len(keys)))


def _apply(conn: sqlite3.Connection, sql: str, rows: list[tuple[dict, tuple]], skip: Callable[[dict, str], None]) -> int:
    """Run `sql` for every row (one executemany); if SQLite refuses one, run them one by one in a savepoint
    and skip (report) the refused ones. The number of rows applied."""
    if not rows:
        return 0
    conn.execute("SAVEPOINT chunk")
    try:
        conn.executemany(sql, [params for _, params in rows])
        conn.execute("RELEASE chunk")
        return len(rows)
    except (sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.DataError, OverflowError):
        conn.execute("ROLLBACK TO chunk")
        conn.execute("RELEASE chunk")
    applied = 0
    for row, params in rows:
        try:
            conn.execute(sql, params)
            applied += 1
        except (sqlite3.IntegrityError, sqlite3.InterfaceError, sqlite3.DataError, OverflowError) as error:
            skip(row, f"refused by SQLite: {error}")
    return applied


def _chunks(rows: Iterator[dict], size: int) -> Iterator[list[dict]]:
    chunk: list[dict] = []
    for row in rows:
        chunk.append(row)
        if len(chunk) == size:
            yield chunk
            chunk = []
    if chunk:
        yield chunk


def _spark_select(spec: FeatureGroupSpec, df: DataFrame, system: Sequence[str] = ()) -> DataFrame:
    """Keys, event_time, the `system` columns and features; timestamps as epoch microseconds (exact, no
    dependence on the Python process's time zone)."""
    from pyspark.sql import functions as F

    def column(name: str, dtype: str):
        return F.unix_micros(F.col(name)).alias(name) if dtype == "timestamp" else F.col(name)

    types = {WRITE_TIME: "timestamp", IS_DELETED: "bool"}
    return df.select(*[column(k.name, k.dtype) for k in spec.keys], column(EVENT_TIME, "timestamp"),
                     *[column(c, types[c]) for c in system], *[column(f.name, f.dtype) for f in spec.features])


def _changed_rows(store: OfflineStore, spec: FeatureGroupSpec, path: str, version: int,
                  watermark: int | None) -> Iterator[dict]:
    from pyspark.sql import functions as F

    df = store.spark.read.format("delta").option("versionAsOf", version).load(path)
    if watermark is not None:
        df = df.filter(F.unix_micros(F.col(WRITE_TIME)) > F.lit(watermark))
    for row in _spark_select(spec, df, (WRITE_TIME, IS_DELETED)).toLocalIterator(prefetchPartitions=True):
        yield row.asDict()


# ---- lookups from Delta --------------------------------------------------------------------------------------
def delta_get(store: OfflineStore, spec: FeatureGroupSpec, keys: Sequence[KeyTuple], *,
              version: int | None = None, include_deleted: bool = False) -> dict[KeyTuple, dict]:
    """Like OnlineStore.get, from the latest-values Delta table (at `version`); deleted keys left out
    (or, with include_deleted, returned with `is_deleted`). Key tuples are checked like OnlineStore.get's."""
    return _delta_lookup(store, spec, _checked_tuples(spec, keys), version=version,
                         include_deleted=include_deleted)


def _checked_tuples(spec: FeatureGroupSpec, keys: Sequence[KeyTuple]) -> list[KeyTuple]:
    checked = []
    for key in keys:
        key = tuple(key)
        if len(key) != len(spec.keys):
            raise InvalidKeyError(f"feature group {spec.name!r}: key tuple {key!r} does not have one value per "
                                  f"key column {spec.key_names}")
        checked.append(tuple(_key_value(spec, k.name, k.dtype, v) for k, v in zip(spec.keys, key)))
    return checked


def _delta_lookup(store: OfflineStore, spec: FeatureGroupSpec, keys: Sequence[KeyTuple], *,
                  version: int | None = None, include_deleted: bool = False) -> dict[KeyTuple, dict]:
    from pyspark.sql import functions as F

    wanted = list(dict.fromkeys(keys))
    if not wanted:
        return {}
    df = store.spark.read.format("delta")
    if version is not None:
        df = df.option("versionAsOf", version)
    df = df.load(store.latest_path(spec.name))
    if not include_deleted:
        df = df.filter(~F.col(IS_DELETED))
    names = spec.key_names
    if len(names) == 1:
        df = df.filter(F.col(names[0]).isin([t[0] for t in wanted]))
    else:
        from featurestore.types import spark_type

        schema = ", ".join(f"`{k.name}` {spark_type(k.dtype).simpleString()}" for k in spec.keys)
        df = df.join(F.broadcast(store.spark.createDataFrame(wanted, schema)), on=names)
    selected = _spark_select(spec, df, (IS_DELETED,) if include_deleted else ())
    dtypes = {**{k.name: k.dtype for k in spec.keys}, EVENT_TIME: "timestamp", IS_DELETED: "bool",
              **{f.name: f.dtype for f in spec.features}}
    found = {}
    for row in selected.collect():
        values = {c: (micros_to_datetime(v) if dtypes[c] == "timestamp" else v) for c, v in row.asDict().items()}
        found[tuple(values.pop(k) for k in names)] = values
    return found


# ---- the API ---------------------------------------------------------------------------------------------
Backend = Union["OfflineStore", OnlineStore]


def get_online_features(store_or_online: Backend, groups: FeatureGroupSpec | Sequence[FeatureGroupSpec],
                        keys: Mapping[str, Any] | Sequence[Mapping[str, Any]], *,
                        include_event_time: bool = False, full_feature_names: bool = False) -> list[dict]:
    """Current feature values for each entity row in `keys` (one mapping or a list), in the same order.

    Each result holds the row's key columns and every feature of `groups` (None if the key is unknown or
    deleted), named as in training sets (see `output_names`); with include_event_time also
    `<group>__event_time`, the time the values are as of. `store_or_online` is an OfflineStore (Spark), an
    OnlineStore (SQLite) or any object with OnlineStore's `get` (e.g. the delta-rs backend of FeatureStore).
    """
    specs = [groups] if hasattr(groups, "feature_names") else list(groups)
    if not specs:
        raise SpecError("no feature groups requested")
    rows = [keys] if isinstance(keys, Mapping) else list(keys)
    names = output_names(specs, full_feature_names)
    key_columns = list(dict.fromkeys(k for spec in specs for k in spec.key_names))
    results = [{k: row.get(k) for k in key_columns} for row in rows]
    for spec, renamed in zip(specs, names):
        tuples = key_tuples(spec, rows)
        if isinstance(store_or_online, OnlineStore):
            found = store_or_online._lookup(spec, tuples)  # tuples typed by key_tuples
        elif hasattr(store_or_online, "get"):  # another backend with the same get(spec, tuples)
            found = store_or_online.get(spec, tuples)
        else:
            found = _delta_lookup(store_or_online, spec, tuples)
        for result, key in zip(results, tuples):
            values = found.get(key)
            for feature, output in renamed.items():
                result[output] = None if values is None else values[feature]
            if include_event_time:
                result[f"{spec.name}__event_time"] = None if values is None else values[EVENT_TIME]
    return results


# ---- consistency ----------------------------------------------------------------------------------------------
@dataclass(frozen=True)
class ConsistencyReport:
    """SQLite vs the Delta latest table at the version SQLite was synced to, on a sample of keys."""

    group: str
    synced_version: int | None
    current_version: int | None
    sampled: int
    online_rows: int
    offline_rows: int
    mismatches: list[dict] = field(default_factory=list)
    unservable_rows: int = 0
    """Live rows of the Delta table whose key is NaN: never synced, so not counted in offline_rows."""

    @property
    def ok(self) -> bool:
        return self.synced_version is not None and not self.mismatches and self.online_rows == self.offline_rows

    @property
    def lag_versions(self) -> int | None:
        """Delta versions of the latest table not yet synced (0: up to date)."""
        if self.synced_version is None or self.current_version is None:
            return None
        return self.current_version - self.synced_version


def check_consistency(store: OfflineStore, online: OnlineStore, spec: FeatureGroupSpec, *,
                      sample_size: int = 100, seed: int | None = None) -> ConsistencyReport:
    """Compare `sample_size` keys sampled from Delta (deleted ones included) and as many from SQLite.

    The comparison is against the Delta version SQLite was last synced to, so writes since then are lag
    (reported), not mismatches. Row counts are compared too.
    """
    from pyspark.sql import functions as F

    current = store.version(store.latest_path(spec.name))
    state = online.state(spec.name)
    if state is None:
        return ConsistencyReport(spec.name, None, current, 0, 0, 0,
                                 [{"problem": "never synced to the online store"}])
    version = state["delta_version"]
    table = store.spark.read.format("delta").option("versionAsOf", version).load(store.latest_path(spec.name))
    nan_key = F.lit(False)
    for key in spec.keys:
        if key.dtype in _FLOATS:
            nan_key = nan_key | F.isnan(F.col(key.name))
    unservable = table.filter(~F.col(IS_DELETED) & nan_key).count() if any(k.dtype in _FLOATS for k in spec.keys) else 0
    table = table.filter(~nan_key)  # rows with a NaN key are never synced (SyncResult.skipped)
    offline_rows = table.filter(~F.col(IS_DELETED)).count()
    rng_seed = seed if seed is not None else random.randrange(2**31)
    sampled_rows = table.select(*spec.key_names).orderBy(F.rand(rng_seed)).limit(sample_size).collect()
    keys = [tuple(r) for r in sampled_rows] + online.sample_keys(spec, sample_size, rng_seed)
    keys = list(dict.fromkeys(keys))
    offline = _delta_lookup(store, spec, keys, version=version, include_deleted=True)
    stored = online._lookup(spec, keys)
    mismatches = []
    for key in keys:
        expected = offline.get(key)
        if expected is not None and expected.pop(IS_DELETED):
            expected = None
        actual = stored.get(key)
        if not _same(expected, actual):
            mismatches.append({"key": dict(zip(spec.key_names, key)), "offline": expected, "online": actual})
    return ConsistencyReport(spec.name, version, current, len(keys), online.count(spec.name), offline_rows,
                             mismatches, unservable)


def _same(offline: dict | None, online: dict | None) -> bool:
    """Equal rows, NaN equal to NaN (it round-trips through SQLite as NaN)."""
    if offline is None or online is None or offline.keys() != online.keys():
        return offline == online
    return all(a == b or (isinstance(a, float) and isinstance(b, float) and math.isnan(a) and math.isnan(b))
               for a, b in ((offline[c], online[c]) for c in offline))


__all__ = ["ConsistencyReport", "OnlineStore", "SyncResult", "check_consistency", "delta_get",
           "get_online_features", "key_from_text", "key_tuples", "keys_from_text"]
