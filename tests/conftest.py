"""Session-wide real infrastructure: one Kafka broker and one ClickHouse client per run."""

from __future__ import annotations

import os
from collections.abc import Iterator
from typing import Any

import pytest
from hypothesis import settings

from sessionflow.core.settings import KafkaSettings
from sessionflow.testing import clickhouse_client, kafka_broker, temporary_database, unique_name

# No per-example deadline (a loaded CI machine is no bug); CI explores a fixed sequence of
# examples so a run is reproducible, developers' runs explore new ones each time.
settings.register_profile("dev", deadline=None)
settings.register_profile("ci", deadline=None, derandomize=True)
settings.load_profile("ci" if os.environ.get("CI") else "dev")


@pytest.fixture(scope="session")
def kafka_settings() -> Iterator[KafkaSettings]:
    """How to reach the run's broker (env, testcontainers or the local launcher)."""
    with kafka_broker() as kafka:
        yield kafka


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
