"""Shared benchmark helpers: machine description, peak-memory sampling of a process tree, BENCHMARKS.md sections."""

from __future__ import annotations

import os
import platform
import re
import subprocess
import threading
import time
from dataclasses import dataclass
from datetime import date
from pathlib import Path

BENCHMARKS_FILE = Path(__file__).resolve().parent.parent / "BENCHMARKS.md"


def machine_info() -> str:
    """One line: cores, memory, CPU model, Python, today's date."""
    import psutil

    cpu = platform.processor() or "unknown CPU"
    try:
        for line in Path("/proc/cpuinfo").read_text().splitlines():
            if line.startswith("model name"):
                cpu = line.split(":", 1)[1].strip()
                break
    except OSError:
        pass
    memory = psutil.virtual_memory().total / 2**30
    return (f"{os.cpu_count()} cores (nproc), {memory:.0f} GiB RAM, {cpu}, Python {platform.python_version()}, "
            f"{date.today().isoformat()}")


def write_section(heading: str, markdown_body: str, path: Path = BENCHMARKS_FILE) -> None:
    """Put `## heading` with `markdown_body` into the file, replacing only that section if it exists."""
    text = path.read_text() if path.exists() else "# Benchmarks\n"
    section = f"## {heading}\n\n{markdown_body.strip()}\n"
    pattern = re.compile(rf"^## {re.escape(heading)}[ \t]*\n.*?(?=^## |\Z)", re.DOTALL | re.MULTILINE)
    if pattern.search(text):
        text = pattern.sub(lambda _: section + "\n", text, count=1).rstrip() + "\n"
    else:
        text = text.rstrip() + "\n\n" + section
    path.write_text(text)


@dataclass
class ProcessResult:
    """A finished (or killed) child: its output, exit code, wall time, peak RSS of its process tree."""

    stdout: str
    stderr: str
    returncode: int | None
    seconds: float
    peak_rss_bytes: int
    timed_out: bool
    cpu_seconds: float  # of the tree's processes alive at the last sample: a lower bound


def tree_rss(process) -> int:
    """Resident memory of a psutil process and all its descendants (e.g. python + the JVM it started)."""
    import psutil

    total = 0
    try:
        for member in [process, *process.children(recursive=True)]:
            try:
                total += member.memory_info().rss
            except (psutil.NoSuchProcess, psutil.AccessDenied):
                pass
    except psutil.NoSuchProcess:
        pass
    return total


def tree_cpu_seconds(process=None) -> float:
    """User + system CPU seconds of a process (default: this one) and its live descendants."""
    import psutil

    process = process or psutil.Process()
    total = 0.0
    for member in [process, *process.children(recursive=True)]:
        try:
            times = member.cpu_times()
            total += times.user + times.system
        except (psutil.NoSuchProcess, psutil.AccessDenied):
            pass
    return total


def run_measured(command: list[str], timeout_seconds: float, interval: float = 0.1,
                 env: dict[str, str] | None = None) -> ProcessResult:
    """Run a command, sampling the RSS of its process tree; kill that tree (only it) after the timeout."""
    import psutil

    started = time.perf_counter()
    child = subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
                             env=env, start_new_session=True)
    watched = psutil.Process(child.pid)
    peak, cpu = 0, 0.0
    stop = threading.Event()

    def sample() -> None:
        nonlocal peak, cpu
        while not stop.is_set():
            peak = max(peak, tree_rss(watched))
            try:
                cpu = max(cpu, tree_cpu_seconds(watched))
            except psutil.NoSuchProcess:
                pass
            stop.wait(interval)

    sampler = threading.Thread(target=sample, daemon=True)
    sampler.start()
    timed_out = False
    try:
        stdout, stderr = child.communicate(timeout=timeout_seconds)
    except subprocess.TimeoutExpired:
        timed_out = True
        for member in [*watched.children(recursive=True), watched]:
            try:
                member.kill()
            except psutil.NoSuchProcess:
                pass
        stdout, stderr = child.communicate()
    stop.set()
    sampler.join()
    return ProcessResult(stdout, stderr, child.returncode, time.perf_counter() - started, peak, timed_out, cpu)
