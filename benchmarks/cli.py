"""Cold-process times of each `featurestore` command on the demo store (`make demo` first).

    .venv/bin/python benchmarks/cli.py [--repeat 3] [--root data/store] [--no-write]

Each command runs `--repeat` times as a fresh process of the installed console script (duckdb engine, the
default for a local root); the table shows the median and the best, against the targets (list / describe /
lookup < 2 s, training-set < 10 s), plus warm lookups through one FeatureStore. Section "CLI" of BENCHMARKS.md.
"""

from __future__ import annotations

import argparse
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = Path(sys.executable).parent / "featurestore"
COMMANDS = (("list", ["list"], 2.0), ("describe card", ["describe", "card"], 2.0),
            ("lookup card <key>", ["lookup", "card", "4000000000000001"], 2.0),
            ("training-set fraud_training", ["training-set", "fraud_training"], 10.0))


def cold(argv: list[str], root: str) -> float:
    started = time.perf_counter()
    done = subprocess.run([str(SCRIPT), *argv, "--root", root], capture_output=True, text=True, timeout=600)
    elapsed = time.perf_counter() - started
    if done.returncode != 0:
        raise SystemExit(f"featurestore {' '.join(argv)} failed: {done.stderr}")
    return elapsed


def warm_lookup_ms(root: str, calls: int = 50) -> float:
    from featurestore import FeatureStore

    fs = FeatureStore(root=root, engine="duckdb")
    fs.get_online_features("card", [{"cc_num": "4000000000000001"}])
    started = time.perf_counter()
    for i in range(calls):
        fs.get_online_features("card", [{"cc_num": f"4{1 + i % 3999:015d}"}])
    return (time.perf_counter() - started) / calls * 1000


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--root", default=str(ROOT / "data" / "store"))
    parser.add_argument("--no-write", action="store_true")
    args = parser.parse_args(argv)
    from benchmarks.common import machine_info, write_section

    load_before = _load()
    lines = [f"Machine: {machine_info()}. Load average before the run: {load_before}.", "",
             f"Run: `benchmarks/cli.py --repeat {args.repeat}` on the demo store (10 days, 200k transactions; "
             "duckdb engine; each run a fresh process of `.venv/bin/featurestore`, Python start included).", "",
             "| command | median s | best s | target | met |", "|---|---|---|---|---|"]
    for label, command, target in COMMANDS:
        times = [cold(command, args.root) for _ in range(args.repeat)]
        median = statistics.median(times)
        lines.append(f"| `featurestore {label}` | {median:.2f} | {min(times):.2f} | < {target:.0f} s "
                     f"| {'yes' if median < target else 'no'} |")
        print(lines[-1], flush=True)
    baseline = [_python_start() for _ in range(args.repeat)]
    lines.append(f"| baseline: `python -c pass` (same interpreter; shows the machine's load) "
                 f"| {statistics.median(baseline):.2f} | {min(baseline):.2f} | | |")
    warm = warm_lookup_ms(args.root)
    lines.append(f"| warm `FeatureStore.get_online_features('card', key)` (delta-rs) | {warm:.1f} ms | | < 100 ms "
                 f"| {'yes' if warm < 100 else 'no'} |")
    lines += ["", f"Load average after the run: {_load()} (the machine is shared: figures are indicative)."]
    table = "\n".join(lines)
    print(table)
    if not args.no_write:
        write_section("CLI", table)
    return 0


def _python_start() -> float:
    started = time.perf_counter()
    subprocess.run([sys.executable, "-c", "pass"], check=True)
    return time.perf_counter() - started


def _load() -> str:
    import os

    return ", ".join(f"{v:.2f}" for v in os.getloadavg())


if __name__ == "__main__":
    sys.path.insert(0, str(ROOT))
    sys.exit(main())
