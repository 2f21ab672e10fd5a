"""Helpers for the servers tests start (S3, Kafka, Spark standalone and Connect): free ports, waiting until a
server answers, stopping its whole process group."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from pathlib import Path


def free_port() -> int:
    """A TCP port on 127.0.0.1 free right now (the OS picks it)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def wait_until_up(ready: Callable[[], bool], process: subprocess.Popen, log: Path, what: str,
                  timeout: float) -> None:
    """Poll `ready` until it is true; a clear error with the log's tail if the process dies or time runs out."""
    deadline = time.monotonic() + timeout
    while not ready():
        if process.poll() is not None or time.monotonic() > deadline:
            raise RuntimeError(f"{what} did not come up:\n" + log.read_text(errors="replace")[-3000:])
        time.sleep(0.3)


def stop_process_group(process: subprocess.Popen, grace: float = 15.0) -> None:
    """Kill the process group started for a server or driver (a JVM and its children): TERM, then KILL after
    `grace` seconds."""
    for sig in (signal.SIGTERM, signal.SIGKILL):
        try:
            os.killpg(process.pid, sig)
        except ProcessLookupError:
            return
        try:
            process.wait(timeout=grace if sig == signal.SIGTERM else 15)
            return
        except subprocess.TimeoutExpired:
            continue
