"""`featurestore`: the catalog from the command line (list, describe, training-set, lookup).

Every command goes through `featurestore.FeatureStore` with the settings of featurestore.settings (flags win).
On the duckdb engine (the default for a local root) nothing starts a JVM: list, describe and lookup read the
Delta logs and tables with delta-rs, training-set joins in DuckDB. Arguments (timestamps, group and
training-set names, keys, the root) are checked before any engine starts. Exit codes: 0 ok, 1 runtime error,
2 usage error (unknown name, bad argument, a root that is not a store; the message says what exists).
"""

from __future__ import annotations

import argparse
import json
import os
import sys
from collections.abc import Sequence
from datetime import datetime, timezone
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from featurestore.feature_store import FeatureStore
    from featurestore.spec import FeatureGroupSpec


class UsageError(Exception):
    """A wrong name or argument: exit code 2."""


# ---- arguments ------------------------------------------------------------------------------------------
def build_parser() -> argparse.ArgumentParser:
    common = argparse.ArgumentParser(add_help=False)
    common.add_argument("--root", help="store root (default: settings root: $FEATURESTORE_ROOT, "
                                       "featurestore.yaml, or <project>/data/store)")
    common.add_argument("--package", help="package holding the specs (default: $FEATURESTORE_GROUPS_PACKAGE "
                                          "or feature_groups)")
    common.add_argument("--engine", choices=("auto", "duckdb", "spark"),
                        help="read engine (default: $FEATURESTORE_ENGINE or auto: duckdb for a local root)")
    common.add_argument("--master", help="Spark master (default: $FEATURESTORE_SPARK_MASTER or local[*])")
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
    training = commands.add_parser("training-set", parents=[common], help="build a registered training set",
                                   description="Build a registered training set into the store "
                                               "(training_sets/<name>, inputs pinned to their current Delta "
                                               "versions and recorded), the same code as the Dagster asset.")
    training.add_argument("spec", help="training set name")
    training.add_argument("--as-known-at", help="ignore history written after this ISO time (naive = UTC)")
    training.add_argument("--out", help="also export the built set as Parquet to this file")
    training.add_argument("--ignore-checks", action="store_true",
                          help="build even if a failed ERROR check on a partition it reads blocks the set "
                               "(gate read from the Dagster instance at $DAGSTER_HOME, if any)")
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
def open_store(args: argparse.Namespace) -> FeatureStore:
    """The FeatureStore the settings and flags describe (nothing is started yet)."""
    from featurestore.feature_store import FeatureStore
    from featurestore.settings import Settings

    settings = Settings.resolve(root=args.root, engine=args.engine, spark_master=args.master,
                                groups_package=args.package, online_path=getattr(args, "online_path", None))
    store = FeatureStore(settings=settings)
    try:
        store.registry  # noqa: B018 - imports the specs (no engine)
    except Exception as error:
        raise UsageError(str(error)) from None
    return store


def _group(store: FeatureStore, name: str) -> FeatureGroupSpec:
    groups = store.registry.groups
    if name not in groups:
        raise UsageError(f"unknown feature group {name!r}; known: {', '.join(groups) or '(none)'}")
    return groups[name]


def _check_root(store: FeatureStore) -> None:
    from featurestore.errors import FeatureStoreError

    try:
        store.check_root()
    except FeatureStoreError as error:
        raise UsageError(str(error)) from None


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


def _freshness(row: dict, now: datetime) -> dict:
    """Times as ISO strings ('never' if none) with their ages."""
    last, newest = row.pop("last_materialised"), row.pop("newest_event_time")
    row.pop("first_write", None)
    return {**row, "last_materialised": last.isoformat() if last else "never",
            "newest_event_time": newest.isoformat() if newest else "never",
            "freshness": _age(newest, now), "last_materialised_age": _age(last, now)}


def _when(moment: str, age: str) -> str:
    return moment if moment == "never" else f"{moment} ({age})"


def _print_json(value: Any) -> None:
    print(json.dumps(value, indent=2, default=str))


# ---- commands -------------------------------------------------------------------------------------------
def cmd_list(args: argparse.Namespace, store: FeatureStore) -> int:
    _check_root(store)
    now = datetime.now(timezone.utc)
    rows = [_freshness(row, now) for row in store.list_groups()]
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


def cmd_describe(args: argparse.Namespace, store: FeatureStore) -> int:
    spec = _group(store, args.group)
    _check_root(store)
    info = _freshness(store.describe(spec.name), datetime.now(timezone.utc))
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


def cmd_training_set(args: argparse.Namespace, store: FeatureStore) -> int:
    from featurestore.times import to_utc_or_none

    training_sets = store.registry.training_sets
    if args.spec not in training_sets:
        raise UsageError(f"unknown training set {args.spec!r}; known: {', '.join(training_sets) or '(none)'}")
    as_known_at = _parsed(lambda: to_utc_or_none(args.as_known_at, "--as-known-at"))
    _check_root(store)
    warning = _gate_warning(args, store)
    result = store.build_training_set(args.spec, as_known_at=as_known_at)
    if args.out:
        _export(store, args.spec, result.table_version, args.out)
    summary = {"training_set": result.name, "path": result.path, "delta_version": result.table_version,
               "rows": result.rows, "engine": store.engine, "input_versions": result.input_versions,
               "entity_source_version": result.entity_source_version, "as_known_at": result.as_known_at,
               "exported_to": args.out, "null_rates": result.null_rates}
    if warning:
        summary["warning"] = warning
    if args.json:
        _print_json(summary)
    else:
        print(f"{result.name}: {result.rows:,} rows written to {result.path} (Delta v{result.table_version}, "
              f"{store.engine} engine); inputs {result.input_versions}, entity source "
              f"v{result.entity_source_version}" + (f"; exported to {args.out}" if args.out else ""))
        if warning:
            print(warning)
    return 0


def _gate_warning(args: argparse.Namespace, store: FeatureStore) -> str | None:
    """The orchestration layer's check gate (the training-set asset's own), when a Dagster instance exists at
    $DAGSTER_HOME: a FeatureStoreError if a failed ERROR check blocks the set, else the warning to print
    with --ignore-checks. Dagster is imported only here, and only when there is an instance."""
    home = os.environ.get("DAGSTER_HOME")
    if not home or not os.path.isdir(home):
        return None
    from orchestration.gate import instance_gate

    gate = instance_gate(store.registry.training_sets[args.spec], store.registry, home)
    if gate is None or not gate.blocked:
        return None
    if not args.ignore_checks:
        from featurestore.errors import FeatureStoreError

        raise FeatureStoreError(f"{gate.message()}\n(--ignore-checks builds it anyway)")
    return f"WARNING: built despite failed checks (--ignore-checks).\n{gate.message()}"


def _export(store: FeatureStore, name: str, version: int, out: str) -> None:
    """The built table (at the version just written) as one Parquet file."""
    table = store.read_training_set(name, version)
    if store.engine == "spark":
        table = table.toArrow()
    import pyarrow.parquet as pq

    pq.write_table(table, out)


def _parsed(parse: Any) -> Any:
    from featurestore.errors import SpecError

    try:
        return parse()
    except SpecError as error:
        raise UsageError(str(error)) from None


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


def cmd_lookup(args: argparse.Namespace, store: FeatureStore) -> int:
    from featurestore.errors import FeatureStoreError
    from featurestore.online.store import key_tuples, keys_from_text

    spec = _group(store, args.group)
    keys = [parse_key(spec, text) for text in args.keys]
    try:
        keys = keys_from_text(spec, keys)  # '3' -> 3 for an int key, never '3.7'
        key_tuples(spec, keys)
    except FeatureStoreError as error:
        raise UsageError(str(error)) from None
    if args.online:
        from pathlib import Path

        path = store.online_store().path
        if not Path(path).exists():
            raise FeatureStoreError(f"no online store at {path}; sync it first (online/{spec.name} asset)")
    else:
        _check_root(store)
    rows = store.get_online_features(spec.name, keys, online=args.online, include_event_time=True)
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
    from featurestore.errors import FeatureStoreError

    try:
        store = open_store(args)
        return COMMANDS[args.command](args, store)
    except UsageError as error:
        print(f"featurestore {args.command}: error: {error}", file=sys.stderr)
        return 2
    except FeatureStoreError as error:
        print(f"featurestore {args.command}: error: {error}", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
