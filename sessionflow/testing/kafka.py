"""Pick one real Kafka broker for a test run.

Order: ``KAFKA_BOOTSTRAP_SERVERS`` if set; a testcontainers Kafka if a Docker engine
answers; else a local KRaft broker on free loopback ports, its data in a temp dir and its
jars in the user cache (so only the first run downloads them).
"""

from __future__ import annotations

import os
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sessionflow.local_kafka import LocalKafka, LocalKafkaSettings
from sessionflow.settings import PathSettings

KAFKA_IMAGE = "apache/kafka:4.1.0"


def docker_available() -> bool:
    """True when a Docker engine answers a ping within two seconds."""
    try:
        import docker

        client = docker.from_env(timeout=2)
        try:
            return bool(client.ping())
        finally:
            client.close()
    except Exception:  # no client library, no socket, no engine: all mean "no Docker"
        return False


def free_ports(count: int) -> list[int]:
    """``count`` distinct loopback ports free right now (all held open while choosing)."""
    sockets = [socket.socket(socket.AF_INET, socket.SOCK_STREAM) for _ in range(count)]
    try:
        for sock in sockets:
            sock.bind(("127.0.0.1", 0))
        return [int(sock.getsockname()[1]) for sock in sockets]
    finally:
        for sock in sockets:
            sock.close()


@contextmanager
def local_broker(data_dir: Path | None = None) -> Iterator[str]:
    """A local broker on free ports for the duration of the block; yields bootstrap servers."""
    with tempfile.TemporaryDirectory(prefix="sessionflow-kafka-") as tmp:
        paths = PathSettings(cache_dir=PathSettings().cache_dir, data_dir=data_dir or Path(tmp))
        port, controller_port = free_ports(2)
        settings = LocalKafkaSettings(port=port, controller_port=controller_port)
        broker = LocalKafka(settings, paths)
        try:
            yield broker.up().bootstrap_servers
        finally:
            broker.down()


@contextmanager
def kafka_broker() -> Iterator[str]:
    """Yield the bootstrap servers of a real broker chosen as the module docstring says."""
    configured = os.environ.get("KAFKA_BOOTSTRAP_SERVERS")
    if configured:
        yield configured
        return
    if docker_available():
        from testcontainers.kafka import KafkaContainer

        with KafkaContainer(KAFKA_IMAGE).with_kraft() as container:
            yield str(container.get_bootstrap_server())
        return
    with local_broker() as servers:
        yield servers
