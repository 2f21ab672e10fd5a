"""`featurestore`: the catalog from the command line (list, describe, training-set, lookup).

Spark starts only when a command has to read Delta tables: `--help`, unknown names, a store with no tables yet
and `lookup --online` (SQLite) answer without it. Exit codes: 0 ok, 1 runtime error, 2 usage error or unknown
name (the message lists the known names).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from featurestore.registry import Registry
    from featurestore.spec import FeatureGroupSpec
    from featurestore.store import OfflineStore

PACKAGE_ENV = "FEATURESTORE_GROUPS_PACKAGE"
DEFAULT_PACKAGE = "feature_groups"


class UsageError(Exception):
    """A wrong name or argument: exit code 2."""


# ---- arguments ------------------------------------------------------------------------------------------
def default_root() -> str:
    from featurestore.session import PROJECT_ROOT

    return os.environ.get("FEATURESTORE_ROOT") or str(PROJECT_ROOT / "data" / "store")


def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", help="store root (default: $FEATURESTORE_ROOT or <project>/data/store)")
    common.add_argument("--package", default=os.environ.get(PACKAGE_ENV, DEFAULT_PACKAGE),
                        help=f"package holding the specs (default: ${PACKAGE_ENV} or {DEFAULT_PACKAGE})")
    common.add_argument("--master", default=os.environ.get("FEATURESTORE_SPARK_MASTER", "local[*]"),
                        help="Spark master (default: $FEATURESTORE_SPARK_MASTER or local[*])")
    common.add_argument("--json", action="store_true", help="print JSON instead of text")
    parser = argparse.ArgumentParser(prog="featurestore", description="Feature store catalog and lookups.")
    commands = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")
    commands.add_parser("list", parents=[common], help="feature groups with owner, keys, TTL, schedule, freshness",
                        description="List feature groups: owner, description, keys, TTL, schedule, last "
                                    "materialisation (newest write_time) and freshness (newest event_time).")
    describe = commands.add_parser("describe", parents=[common], help="everything about one feature group",
                                   description="One group: spec, features with types, table paths, Delta "
                                               "versions, row counts, freshness, online-store state.")
    describe.add_argument("group", help="feature group name")
    training = commands.add_parser("training-set", parents=[common], help="build a registered training set to PATH",
                                   description="Build a registered training set outside Dagster (inputs pinned "
                                               "to their current Delta versions) and write it to --out.")
    training.add_argument("spec", help="training set name")
    training.add_argument("--out", required=True, help="output path (a directory)")
    training.add_argument("--format", choices=("parquet", "delta"), default="parquet", help="default parquet")
    training.add_argument("--as-known-at", help="ignore history written after this ISO time (UTC)")
    lookup = commands.add_parser(
        "lookup", parents=[common], help="current feature values of keys",
        description="Current values of a group for each KEY: 'v' (single key), 'v1,v2' (composite, in key "
                    "order) or 'k1=v1,k2=v2'. Unknown and deleted keys print null features.")
    lookup.add_argument("group", help="feature group name")
    lookup.add_argument("keys", nargs="+", metavar="KEY", help="key value(s)")
    lookup.add_argument("--online", action="store_true", help="read the SQLite online store instead of Delta")
    lookup.add_argument("--online-path", help="SQLite file (default: $FEATURESTORE_ONLINE_PATH or "
                                              "<root>/online.sqlite)")
    return parser


# ---- helpers --------------------------------------------------------------------------------------------
def _registry(package: str) -> Registry:
    from featurestore.registry import discover

    try:
        return discover(package)
    except ModuleNotFoundError as error:
        raise UsageError(f"cannot import spec package {package!r}: {error}") from None


def _group(registry: Registry, name: str) -> FeatureGroupSpec:
    if name not in registry.groups:
        raise UsageError(f"unknown feature group {name!r}; known: {', '.join(registry.groups) or '(none)'}")
    return registry.groups[name]


def _spark_store(args: argparse.Namespace) -> OfflineStore:
    from featurestore.session import build_spark_session
    from featurestore.store import OfflineStore

    conf = json.loads(os.environ.get("FEATURESTORE_SPARK_CONF") or "{}")
    spark = build_spark_session(args.master, app_name="featurestore-cli", conf=conf)
    return OfflineStore(spark, args.root)


def _local_tables_absent(root: str, groups: Sequence[str]) -> bool:
    """True when `root` is a local folder holding no table of these groups (answer without Spark)."""
    if "://" in root and not root.startswith("file:"):
        return False
    base = Path(root.removeprefix("file:"))
    return not any((base / "features" / g / "history" / "_delta_log").is_dir() for g in groups)


def _age(moment: datetime | None, now: datetime) -> str:
    if moment is None:
        return "never"
    seconds = int((now - moment).total_seconds())
    if seconds < 0:
        return "in the future"
    days, rest = divmod(seconds, 86_400)
    hours, rest = divmod(rest, 3_600)
    parts = [f"{days}d"] * bool(days) + [f"{hours}h"] * bool(hours) + [f"{rest // 60}m"] * (not days)
    return " ".join(parts) + " ago"


def _utc(moment: datetime | None) -> datetime | None:
    return None if moment is None else (moment if moment.tzinfo else moment.replace(tzinfo=timezone.utc))


def _spec_summary(spec: FeatureGroupSpec) -> dict:
    from featurestore.durations import format_duration

    return {"group": spec.name, "owner": spec.owner, "description": spec.description,
            "keys": {k.name: k.dtype for k in spec.keys}, "ttl": format_duration(spec.ttl),
            "schedule": {"grain": spec.grain, "cron": spec.cron},
            "features": [f.name for f in spec.features]}


def _freshness(store: OfflineStore | None, spec: FeatureGroupSpec, now: datetime) -> dict:
    """Newest write_time (last materialisation) and event_time of the group's history; 'never' if none."""
    last_write = newest_event = None
    if store is not None and store.exists(store.history_path(spec.name)):
        from pyspark.sql import functions as F

        from featurestore.columns import EVENT_TIME, WRITE_TIME

        row = store.read_history(spec.name).agg(F.max(WRITE_TIME), F.max(EVENT_TIME)).first()
        last_write, newest_event = _utc(row[0]), _utc(row[1])
    return {"last_materialised": last_write.isoformat() if last_write else "never",
            "newest_event_time": newest_event.isoformat() if newest_event else "never",
            "freshness": _age(newest_event, now), "last_materialised_age": _age(last_write, now)}


def _when(moment: str, age: str) -> str:
    return moment if moment == "never" else f"{moment} ({age})"


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


# ---- commands -------------------------------------------------------------------------------------------
def cmd_list(args: argparse.Namespace, registry: Registry) -> int:
    now = datetime.now(timezone.utc)
    store = None if _local_tables_absent(args.root, list(registry.groups)) else _spark_store(args)
    rows = [{**_spec_summary(spec), **_freshness(store, spec, now)} for spec in registry.groups.values()]
    if args.json:
        _print_json(rows)
        return 0
    for row in rows:
        keys = ", ".join(f"{k} {t}" for k, t in row["keys"].items())
        print(f"{row['group']}  ({row['owner']})  {row['description']}")
        print(f"  keys: {keys}   ttl: {row['ttl']}   schedule: {row['schedule']['grain']} "
              f"({row['schedule']['cron']})")
        print(f"  last materialised: {_when(row['last_materialised'], row['last_materialised_age'])}   "
              f"newest event_time: {_when(row['newest_event_time'], row['freshness'])}")
        print(f"  features: {', '.join(row['features'])}")
    return 0


def _table_info(store: OfflineStore | None, path: str, *, latest: bool) -> dict:
    if store is None or not store.exists(path):
        return {"path": path, "version": None, "rows": 0}
    from pyspark.sql import functions as F

    from featurestore.columns import IS_DELETED

    df = store.spark.read.format("delta").load(path)
    info = {"path": path, "version": store.version(path)}
    if latest:
        counts = df.agg(F.count(F.lit(1)), F.sum(F.col(IS_DELETED).cast("long"))).first()
        info.update(rows=counts[0] - (counts[1] or 0), deleted_keys=counts[1] or 0)
    else:
        info["rows"] = df.count()
    return info


def _online_info(root: str, spec: FeatureGroupSpec) -> dict:
    from featurestore.online import OnlineStore

    try:
        online = OnlineStore.for_store(root)
    except Exception:  # noqa: BLE001 - a remote root without an online path: nothing to show
        return {"path": None, "synced": False}
    if not Path(online.path).exists():
        return {"path": online.path, "synced": False}
    state = online.state(spec.name)
    if state is None:
        return {"path": online.path, "synced": False}
    return {"path": online.path, "synced": True, "synced_delta_version": state["delta_version"],
            "synced_at": state["synced_at"], "rows": online.count(spec.name)}


def cmd_describe(args: argparse.Namespace, registry: Registry) -> int:
    spec = _group(registry, args.group)
    now = datetime.now(timezone.utc)
    store = None if _local_tables_absent(args.root, [spec.name]) else _spark_store(args)
    from featurestore.store import OfflineStore

    paths = store or OfflineStore(None, args.root)  # paths only: no session needed
    info = {**_spec_summary(spec), **_freshness(store, spec, now),
            "features": [{"name": f.name, "type": f.dtype, "description": f.description} for f in spec.features],
            "keys": [{"name": k.name, "type": k.dtype, "description": k.description} for k in spec.keys],
            "event_time_column": spec.event_time_column, "sources": list(spec.sources), "start": spec.start,
            "tags": dict(spec.tags),
            "history": _table_info(store, paths.history_path(spec.name), latest=False),
            "latest": _table_info(store, paths.latest_path(spec.name), latest=True),
            "online": _online_info(args.root, spec)}
    if args.json:
        _print_json(info)
        return 0
    print(f"{spec.name}: {spec.description}")
    print(f"  owner: {spec.owner}   ttl: {info['ttl']}   schedule: {spec.grain} ({spec.cron})   start: {spec.start}")
    print(f"  sources: {', '.join(spec.sources)}   event time column: {spec.event_time_column}")
    print(f"  last materialised: {_when(info['last_materialised'], info['last_materialised_age'])}")
    print(f"  newest event_time: {_when(info['newest_event_time'], info['freshness'])}")
    print("  keys:")
    for key in info["keys"]:
        print(f"    {key['name']:24s} {key['type']:10s} {key['description']}")
    print("  features:")
    for feature in info["features"]:
        print(f"    {feature['name']:24s} {feature['type']:10s} {feature['description']}")
    for kind in ("history", "latest"):
        table = info[kind]
        version = "no table" if table["version"] is None else f"v{table['version']}"
        extra = f", {table['deleted_keys']} deleted keys" if table.get("deleted_keys") else ""
        print(f"  {kind:8s} {version:9s} {table['rows']:>10,} rows{extra}  {table['path']}")
    online = info["online"]
    state = f"synced v{online['synced_delta_version']}, {online['rows']} rows" if online["synced"] else "not synced"
    print(f"  online   {state}  {online['path'] or ''}")
    return 0


def cmd_training_set(args: argparse.Namespace, registry: Registry) -> int:
    if args.spec not in registry.training_sets:
        raise UsageError(f"unknown training set {args.spec!r}; known: "
                         f"{', '.join(registry.training_sets) or '(none)'}")
    spec = registry.training_sets[args.spec]
    store = _spark_store(args)
    from featurestore import training

    inputs = training.current_inputs(store, spec, as_known_at=args.as_known_at)
    result = training.training_set_frame(store, spec, registry, inputs)
    versions, entity_version = inputs["input_versions"], inputs["entity_source_version"]
    result.write.format(args.format).mode("overwrite").save(args.out)
    rows = store.spark.read.format(args.format).load(args.out).count()
    summary = {"training_set": spec.name, "path": args.out, "format": args.format, "rows": rows,
               "input_versions": versions, "entity_source_version": entity_version,
               "as_known_at": inputs["as_known_at"]}
    if args.json:
        _print_json(summary)
    else:
        print(f"{spec.name}: {rows:,} rows written to {args.out} ({args.format}); inputs {versions}, "
              f"entity source v{entity_version}")
    return 0


def parse_key(spec: FeatureGroupSpec, text: str) -> dict[str, str]:
    """'v', 'v1,v2' (key order) or 'k1=v1,k2=v2' -> {key: value}; UsageError naming the key columns."""
    names = spec.key_names
    parts = text.split(",")
    if "=" in text:
        pairs = dict(part.split("=", 1) for part in parts if "=" in part)
        if len(pairs) != len(parts) or sorted(pairs) != sorted(names):
            raise UsageError(f"key {text!r} for group {spec.name!r}: give every key column exactly once as "
                             f"{','.join(n + '=...' for n in names)}")
        return pairs
    if len(parts) != len(names):
        raise UsageError(f"key {text!r} for group {spec.name!r}: expected {len(names)} value(s) in key order "
                         f"({', '.join(names)})")
    return dict(zip(names, parts))


def cmd_lookup(args: argparse.Namespace, registry: Registry) -> int:
    from featurestore.errors import FeatureStoreError
    from featurestore.online import OnlineStore, get_online_features, key_tuples, keys_from_text

    spec = _group(registry, args.group)
    keys = [parse_key(spec, text) for text in args.keys]
    try:
        keys = keys_from_text(spec, keys)  # '3' -> 3 for an int key, never '3.7'
        key_tuples(spec, keys)
    except FeatureStoreError as error:
        raise UsageError(str(error)) from None
    if args.online:
        backend = OnlineStore.for_store(args.root, args.online_path)
        if not Path(backend.path).exists():
            raise FeatureStoreError(f"no online store at {backend.path}; sync it first (online/{spec.name} asset)")
    else:
        backend = _spark_store(args)
        if not backend.exists(backend.latest_path(spec.name)):
            raise FeatureStoreError(f"feature group {spec.name!r} has no latest-values table under {args.root}; "
                                    "materialise it first")
    rows = get_online_features(backend, spec, keys, include_event_time=True)
    if args.json:
        _print_json(rows)
    else:
        for row in rows:
            print(json.dumps(row, default=str))
    return 0


COMMANDS = {"list": cmd_list, "describe": cmd_describe, "training-set": cmd_training_set, "lookup": cmd_lookup}


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the `featurestore` script."""
    args = build_parser().parse_args(argv)
    args.root = args.root or default_root()
    if "://" not in args.root:
        args.root = str(Path(args.root).resolve())
    from featurestore.errors import FeatureStoreError

    try:
        return COMMANDS[args.command](args, _registry(args.package))
    except UsageError as error:
        print(f"featurestore {args.command}: error: {error}", file=sys.stderr)
        return 2
    except FeatureStoreError as error:
        print(f"featurestore {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
