"""Pick one real Kafka broker for a test run.

Order: ``KAFKA_BOOTSTRAP_SERVERS`` if set; a testcontainers Kafka if a Docker engine
answers; else a local KRaft broker on free loopback ports, its data in a temp dir and its
jars in the user cache (so only the first run downloads them).
"""

from __future__ import annotations

import os
import random
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from sessionflow.core.errors import InfrastructureError
from sessionflow.core.local_kafka import LocalKafka, LocalKafkaSettings
from sessionflow.core.settings import KafkaSettings, PathSettings

# testcontainers' KafkaContainer drives Confluent's image scripts (/etc/confluent/docker),
# so it takes a cp-kafka image; 7.9 is Apache Kafka 3.9 in KRaft mode.
KAFKA_IMAGE = "confluentinc/cp-kafka:7.9.0"


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
    """``count`` distinct loopback ports, free now, below the kernel's ephemeral range.

    Ports from ``bind(0)`` come from the ephemeral range that outgoing client connections
    also draw from, so a busy test run can take one before the broker binds it; ports in
    20000-32767 are never handed out that way.
    """
    chosen: list[socket.socket] = []
    candidates = random.sample(range(20_000, 32_768), 200)
    try:
        for port in candidates:
            sock = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                sock.bind(("127.0.0.1", port))
            except OSError:
                sock.close()
                continue
            chosen.append(sock)
            if len(chosen) == count:
                return [int(s.getsockname()[1]) for s in chosen]
        raise InfrastructureError(f"no {count} free ports found in 20000-32767")
    finally:
        for sock in chosen:
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
def kafka_broker() -> Iterator[KafkaSettings]:
    """Yield settings reaching a real broker chosen as the module docstring says.

    With ``KAFKA_BOOTSTRAP_SERVERS`` set, every ``KAFKA_*`` variable (security included) is
    read from the environment; otherwise the started broker is reached in plaintext.
    """
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield KafkaSettings()
        return
    if docker_available():
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer(KAFKA_IMAGE).with_kraft() as container:
            yield KafkaSettings(bootstrap_servers=str(container.get_bootstrap_server()))
        return
    with local_broker() as servers:
        yield KafkaSettings(bootstrap_servers=servers)


def kafka_env(kafka: KafkaSettings) -> dict[str, str]:
    """``kafka`` as the ``KAFKA_*`` environment variables a sessionflow subprocess reads.

    For handing a test's broker to a child process; secrets are included in plain text, so
    use it for a child's environment only, never for output.
    """
    env: dict[str, str] = {}
    for name, value in kafka.model_dump().items():
        if value is None:
            continue
        plain = value.get_secret_value() if hasattr(value, "get_secret_value") else value
        env[f"KAFKA_{name.upper()}"] = str(plain)
    return env
