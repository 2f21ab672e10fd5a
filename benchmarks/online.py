"""Online lookup latency: Delta latest-values table through Spark vs the SQLite online store.

    .venv/bin/python benchmarks/online.py [--keys 100000] [--quick]

Writes a group of `--keys` keys (4 features) through the offline store, syncs SQLite, then times
`get_online_features` for one key and for batches of 1,000 keys on both backends (random keys, 5% of them
unknown), and the full and incremental syncs. Results go to BENCHMARKS.md, section "Online lookups".
"""

from __future__ import annotations

import argparse
import os
import random
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import datetime, timedelta, timezone
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parent.parent))

from benchmarks.common import machine_info, write_section  # noqa: E402
from featurestore.spec import Feature, FeatureGroupSpec, Key  # noqa: E402

T0 = datetime(2026, 1, 1, tzinfo=timezone.utc)
SPEC = FeatureGroupSpec(
    name="bench_users", description="benchmark group", owner="bench@example.com", keys=(Key("user_id"),),
    features=(Feature("clicks", "long"), Feature("score", "double"), Feature("ratio", "double"),
              Feature("active", "bool")),
    transform=lambda ctx: None, sources=("events",), grain="daily", start="2026-01-01")


def timed(fn: Callable[[], object], repeats: int) -> list[float]:
    """Wall times in milliseconds of `repeats` calls (after one warm-up call)."""
    fn()
    times = []
    for _ in range(repeats):
        started = time.perf_counter()
        fn()
        times.append((time.perf_counter() - started) * 1000)
    return times


def summary(times: list[float]) -> str:
    ordered = sorted(times)
    p95 = ordered[min(len(ordered) - 1, int(round(0.95 * (len(ordered) - 1))))]
    return f"{statistics.median(ordered):.2f} | {p95:.2f} | {len(ordered)}"


def rows_frame(spark, keys: range, day: int, bump: int = 0):
    from pyspark.sql import functions as F

    return spark.range(keys.start, keys.stop).select(
        F.format_string("u%08d", F.col("id")).alias("user_id"),
        F.lit(T0 + timedelta(days=day)).cast("timestamp").alias("event_time"),
        (F.col("id") % 97 + bump).alias("clicks"), (F.col("id") / 7.0 + bump).alias("score"),
        (F.col("id") % 13 / 13.0).alias("ratio"), (F.col("id") % 2 == 0).alias("active"))


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--keys", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="fewer repetitions")
    args = parser.parse_args()
    from featurestore.offline.store import OfflineStore
    from featurestore.online.store import OnlineStore, get_online_features
    from featurestore.session import build_spark_session

    spark = build_spark_session("local[2]", app_name="bench-online",
                                conf={"spark.sql.shuffle.partitions": "4", "spark.driver.memory": "2g"})
    workdir = Path(tempfile.mkdtemp(prefix="bench_online_"))
    store = OfflineStore(spark, str(workdir / "store"))
    online = OnlineStore(workdir / "online.sqlite")
    n = args.keys
    load_before = os.getloadavg()[0]
    started = time.perf_counter()
    store.write_features(SPEC, rows_frame(spark, range(n), 0))
    write_seconds = time.perf_counter() - started
    full = online.sync(store, SPEC)
    changed = max(1, n // 100)
    store.write_features(SPEC, rows_frame(spark, range(changed), 1, bump=1))
    store.soft_delete(SPEC, [{"user_id": f"u{i:08d}"} for i in range(changed, changed + changed // 10)],
                      at=T0 + timedelta(days=1))
    incremental = online.sync(store, SPEC)

    rng = random.Random(7)

    def keys(count: int) -> list[dict]:
        return [{"user_id": f"u{rng.randrange(int(n * 1.05)):08d}"} for _ in range(count)]

    reps = {"delta_one": 5 if args.quick else 20, "delta_batch": 3 if args.quick else 10,
            "sqlite_one": 300 if args.quick else 3000, "sqlite_batch": 30 if args.quick else 300}
    def lookups(backend, size: int, repeats: int) -> list[float]:
        batches = iter([keys(size) for _ in range(repeats + 1)])  # keys made before timing
        return timed(lambda: get_online_features(backend, SPEC, next(batches)), repeats)

    results = {
        "Delta via Spark, 1 key": lookups(store, 1, reps["delta_one"]),
        "Delta via Spark, 1,000 keys": lookups(store, 1000, reps["delta_batch"]),
        "SQLite, 1 key": lookups(online, 1, reps["sqlite_one"]),
        "SQLite, 1,000 keys": lookups(online, 1000, reps["sqlite_batch"]),
    }
    sample = keys(1000)
    assert get_online_features(online, SPEC, sample) == get_online_features(store, SPEC, sample)

    size_mib = sum(p.stat().st_size for p in workdir.glob("online.sqlite*")) / 2**20
    lines = [f"`benchmarks/online.py --keys {n}{' --quick' if args.quick else ''}`: one group of {n:,} keys "
             "(string key, 4 features), random keys with 5% unknown, `get_online_features` end to end (key "
             "checks, query, typed dicts). Spark local[2], warm session (one warm-up call per row).",
             "", f"Machine: {machine_info()}; load average {load_before:.1f} at start, "
             f"{os.getloadavg()[0]:.1f} at end (a shared machine: other Spark jobs ran meanwhile).", "",
             "| Lookup | median ms | p95 ms | calls |", "|---|---:|---:|---:|"]
    lines += [f"| {name} | {summary(times)} |" for name, times in results.items()]
    lines += ["", "| Sync to SQLite | rows upserted | rows deleted | seconds |", "|---|---:|---:|---:|",
              f"| full (first) | {full.upserted:,} | {full.deleted:,} | {full.seconds:.2f} |",
              f"| incremental (1% updated, 0.1% deleted) | {incremental.upserted:,} | {incremental.deleted:,} "
              f"| {incremental.seconds:.2f} |",
              "", f"Initial offline write of {n:,} rows: {write_seconds:.1f} s. SQLite file: {size_mib:.1f} MiB "
              "(with WAL). The SQLite and Delta answers for a 1,000-key sample were checked equal. Delta lookups scan the latest table's files "
              "(filter on the key) and pay Spark's per-query planning and scheduling; SQLite answers from its "
              "primary-key index in-process."]
    body = "\n".join(lines)
    print(body)
    write_section("Online lookups", body)
    spark.stop()


if __name__ == "__main__":
    main()
