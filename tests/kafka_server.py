"""A real Kafka broker for tests: one KRaft node (broker + controller) from the jars `make setup` copies into
.kafka/ (org.apache.kafka:kafka_2.13, deps/kafka-broker/pom.xml), on 127.0.0.1 with free ports."""

from __future__ import annotations

import base64
import os
import shutil
import socket
import subprocess
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from tests.processes import free_port, stop_process_group, wait_until_up

PROJECT_ROOT = Path(__file__).resolve().parent.parent
BROKER_JARS = PROJECT_ROOT / ".kafka"
START_TIMEOUT = 90.0


def _java() -> str:
    home = os.environ.get("JAVA_HOME")
    found = str(Path(home) / "bin" / "java") if home else shutil.which("java")
    if not found:
        raise RuntimeError("java not found (Kafka 4 needs Java 17+)")
    return found


def _classpath() -> str:
    if not any(BROKER_JARS.glob("kafka_2.13-*.jar")):
        raise RuntimeError(f"Kafka broker jars not found in {BROKER_JARS}: run `make setup`")
    return str(BROKER_JARS / "*")


def _accepting(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@contextmanager
def kafka_broker(directory: Path) -> Iterator[str]:
    """Format a KRaft log dir, start `kafka.Kafka`, yield its bootstrap address; stop it on exit."""
    directory.mkdir(parents=True, exist_ok=True)
    port, controller = free_port(), free_port()
    config = directory / "server.properties"
    config.write_text("\n".join([
        "process.roles=broker,controller", "node.id=1",
        f"controller.quorum.voters=1@127.0.0.1:{controller}",
        f"listeners=PLAINTEXT://127.0.0.1:{port},CONTROLLER://127.0.0.1:{controller}",
        f"advertised.listeners=PLAINTEXT://127.0.0.1:{port}",
        "controller.listener.names=CONTROLLER", "inter.broker.listener.name=PLAINTEXT",
        "listener.security.protocol.map=PLAINTEXT:PLAINTEXT,CONTROLLER:PLAINTEXT",
        f"log.dirs={directory / 'logs'}", "num.partitions=1", "auto.create.topics.enable=true",
        "offsets.topic.replication.factor=1", "transaction.state.log.replication.factor=1",
        "transaction.state.log.min.isr=1", "group.initial.rebalance.delay.ms=0", ""]))
    java = [_java(), "-Xmx512m", "-cp", _classpath()]
    cluster_id = base64.urlsafe_b64encode(uuid.uuid4().bytes).decode().rstrip("=")
    subprocess.run([*java, "kafka.tools.StorageTool", "format", "-t", cluster_id, "-c", str(config)],
                   check=True, capture_output=True, timeout=120)
    log = open(directory / "kafka.log", "wb")  # noqa: SIM115 - closed below
    process = subprocess.Popen([*java, "kafka.Kafka", str(config)], stdout=log, stderr=subprocess.STDOUT,
                               stdin=subprocess.DEVNULL, start_new_session=True, cwd=directory)
    try:
        wait_until_up(lambda: _accepting(port), process, directory / "kafka.log", "Kafka", START_TIMEOUT)
        yield f"127.0.0.1:{port}"
    finally:
        stop_process_group(process)
        log.close()
