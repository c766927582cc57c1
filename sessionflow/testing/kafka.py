"""Pick one real Kafka broker for a test run.

Order: ``KAFKA_BOOTSTRAP_SERVERS`` if set; a testcontainers Kafka if a Docker engine
answers (plaintext runs only); else a local KRaft broker on free loopback ports, with a
SASL_SSL listener next to PLAINTEXT, its data in a temp dir and its jars in the user cache
(so only the first run downloads them).
"""

from __future__ import annotations

import os
import random
import socket
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from sessionflow.core.errors import ConfigurationError, InfrastructureError
from sessionflow.core.local_kafka import LocalKafka, LocalKafkaSettings
from sessionflow.core.settings import KafkaSettings, PathSettings, kafka_child_environment

# testcontainers' KafkaContainer drives Confluent's image scripts (/etc/confluent/docker),
# so it takes a cp-kafka image; 7.9 is Apache Kafka 3.9 in KRaft mode.
KAFKA_IMAGE = "confluentinc/cp-kafka:7.9.0"

SECURITY_ENV = "SESSIONFLOW_TEST_KAFKA_SECURITY"
"""``PLAINTEXT`` (default) or ``SASL_SSL``: how the run's tests reach the local broker."""


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
def local_broker(data_dir: Path | None = None) -> Iterator[LocalKafka]:
    """A local broker on free ports for the duration of the block, with a SASL_SSL listener
    next to PLAINTEXT (same JVM; its CA, user and passwords in the data dir)."""
    with tempfile.TemporaryDirectory(prefix="sessionflow-kafka-") as tmp:
        paths = PathSettings(cache_dir=PathSettings().cache_dir, data_dir=data_dir or Path(tmp))
        port, controller_port, sasl_ssl_port = free_ports(3)
        settings = LocalKafkaSettings(
            port=port, controller_port=controller_port, sasl_ssl_port=sasl_ssl_port
        )
        broker = LocalKafka(settings, paths)
        try:
            broker.up()
            yield broker
        finally:
            broker.down()


@dataclass(frozen=True)
class KafkaUnderTest:
    """The broker of a test run: the settings tests use, and the local broker if it is one."""

    kafka: KafkaSettings
    """What the run's tests connect with (plaintext, or secured per ``SECURITY_ENV``)."""
    local: LocalKafka | None
    """The local broker (it has a SASL_SSL listener); None for one from the env or Docker."""


def requested_security() -> Literal["PLAINTEXT", "SASL_SSL"]:
    """The protocol ``SESSIONFLOW_TEST_KAFKA_SECURITY`` asks the run's tests to use."""
    value = os.environ.get(SECURITY_ENV, "PLAINTEXT").strip().upper() or "PLAINTEXT"
    if value not in ("PLAINTEXT", "SASL_SSL"):
        raise ConfigurationError(f"{SECURITY_ENV} must be PLAINTEXT or SASL_SSL (got {value!r})")
    return "SASL_SSL" if value == "SASL_SSL" else "PLAINTEXT"


@contextmanager
def kafka_under_test() -> Iterator[KafkaUnderTest]:
    """The run's broker, chosen as the module docstring says.

    With ``KAFKA_BOOTSTRAP_SERVERS`` set, every ``KAFKA_*`` variable (security included) is
    read from the environment. Otherwise a started broker is reached in plaintext, or, with
    ``SESSIONFLOW_TEST_KAFKA_SECURITY=SASL_SSL``, over the local broker's SASL_SSL listener
    (SCRAM-SHA-512 and a client certificate, so every security setting is exercised).
    """
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS"):
        yield KafkaUnderTest(KafkaSettings(), None)
        return
    secured = requested_security() == "SASL_SSL"
    if not secured and docker_available():
        from testcontainers.community.kafka import KafkaContainer

        with KafkaContainer(KAFKA_IMAGE).with_kraft() as container:
            servers = str(container.get_bootstrap_server())
            yield KafkaUnderTest(KafkaSettings(bootstrap_servers=servers), None)
        return
    with local_broker() as broker:
        kafka = (
            broker.secured_listener().kafka_settings("SCRAM-SHA-512", client_certificate=True)
            if secured
            else KafkaSettings(bootstrap_servers=broker.bootstrap_servers)
        )
        yield KafkaUnderTest(kafka, broker)


@contextmanager
def kafka_broker() -> Iterator[KafkaSettings]:
    """Settings reaching the run's broker (see :func:`kafka_under_test`)."""
    with kafka_under_test() as run:
        yield run.kafka


def kafka_env(kafka: KafkaSettings) -> dict[str, str]:
    """``kafka`` as the ``KAFKA_*`` environment of a child process (see
    :func:`sessionflow.core.settings.kafka_child_environment`)."""
    return kafka_child_environment(kafka)
