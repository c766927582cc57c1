"""Session-wide real infrastructure: one Kafka broker and one ClickHouse client per run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings

from sessionflow.core.local_kafka import LocalKafka
from sessionflow.core.settings import KafkaSettings
from sessionflow.testing import (
    KafkaUnderTest,
    clickhouse_client,
    kafka_under_test,
    local_broker,
    temporary_database,
    unique_name,
)

# No per-example deadline (a loaded CI machine is no bug); CI explores a fixed sequence of
# examples so a run is reproducible, developers' runs explore new ones each time.
settings.register_profile("dev", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session")
def kafka_run() -> Iterator[KafkaUnderTest]:
    """The run's broker (env, testcontainers or the local launcher with a SASL_SSL listener)."""
    with kafka_under_test() as run:
        yield run


@pytest.fixture(scope="session")
def kafka_settings(kafka_run: KafkaUnderTest) -> KafkaSettings:
    """How to reach the run's broker: plaintext, or SASL_SSL with
    ``SESSIONFLOW_TEST_KAFKA_SECURITY=SASL_SSL``."""
    return kafka_run.kafka


@pytest.fixture(scope="session")
def secured_broker(kafka_run: KafkaUnderTest) -> Iterator[LocalKafka]:
    """A local broker with a SASL_SSL listener: the run's own if local, else one started here."""
    if kafka_run.local is not None:
        yield kafka_run.local
        return
    with local_broker() as broker:
        yield broker


@pytest.fixture(scope="session")
def secured_kafka_settings(secured_broker: LocalKafka) -> KafkaSettings:
    """Settings reaching :func:`secured_broker` over SASL_SSL (SCRAM-SHA-512, its CA)."""
    return secured_broker.secured_listener().kafka_settings("SCRAM-SHA-512")


@pytest.fixture
def kafka(kafka_settings: KafkaSettings, topic_name: str) -> KafkaSettings:
    """The run's broker, with this test's own topic and dead-letter topic names."""
    return kafka_settings.model_copy(update={"topic": topic_name, "dlq_topic": f"{topic_name}.dlq"})


@pytest.fixture
def topic_name() -> str:
    """A topic name no other test uses."""
    return unique_name("test-events")


@pytest.fixture
def group_id() -> str:
    """A consumer group no other test uses."""
    return unique_name("test-group")


@pytest.fixture(scope="session")
def ch_client() -> Iterator[Any]:
    """The run's clickhouse-connect client (chdb allows one per process)."""
    with clickhouse_client() as client:
        yield client


@pytest.fixture
def ch_database(ch_client: Any) -> Iterator[str]:
    """A database of this test's own, dropped afterwards."""
    with temporary_database(ch_client) as name:
        yield name
