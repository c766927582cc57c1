"""Fixtures of the processor tests: the domain topics of the test, simulated sessions on them."""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime, timedelta

import pytest

from sessionflow.core.settings import KafkaSettings
from sessionflow.processors.domain import Record
from sessionflow.producers import ProducerSettings, SessionEventProducer
from sessionflow.producers.settings import TopicSettings
from sessionflow.producers.simulator import AnomalyKind, Simulation, SimulationPlan, simulate
from sessionflow.producers.topics import create_topics
from sessionflow.schemas import EventCodec
from sessionflow.testing import read_topic, unique_name

CODEC = EventCodec()


@pytest.fixture
def app_id() -> str:
    """A processor app id (consumer group, changelog prefix) of this test's own."""
    return unique_name("test-proc")


@pytest.fixture
def topics(kafka: KafkaSettings) -> KafkaSettings:
    """The test's domain topic (6 partitions) and DLQ, created, kept forever (no retention)."""
    settings = TopicSettings(partitions=6, retention_ms=-1, dlq_retention_ms=-1)
    asyncio.run(create_topics(kafka, settings))
    return kafka


def recent_plan(sessions: int, seed: int, anomalies: int) -> SimulationPlan:
    """A plan whose events all lie in the last hour (event time the broker keeps)."""
    return SimulationPlan(
        sessions=sessions, seed=seed, anomalies=dict.fromkeys(AnomalyKind, anomalies),
        end=datetime.now(UTC) - timedelta(seconds=1),
    )  # fmt: skip


def send(kafka: KafkaSettings, sim: Simulation) -> None:
    """Send every record of ``sim`` through the SDK's bulk path."""

    async def run() -> None:
        async with SessionEventProducer(kafka, ProducerSettings(source="tests")) as producer:
            await producer.send_encoded(r.encoded(CODEC.encode) for r in sim.records)

    asyncio.run(run())


def topic_records(kafka: KafkaSettings, topic: str | None = None) -> list[Record]:
    """Every record now on ``topic`` (default: the domain topic) as the fold sees them."""
    raw = asyncio.run(read_topic(kafka, topic or kafka.topic))
    return [
        Record(r.topic, r.partition, r.offset, r.key, r.value or b"", r.timestamp,
               tuple((k, v) for k, v in (r.headers or ())))
        for r in raw
    ]  # fmt: skip


SimulationFactory = Callable[[int, int, int], Simulation]


@pytest.fixture
def simulated(topics: KafkaSettings) -> SimulationFactory:
    """Simulate (sessions, seed, anomalies per kind) recent sessions and send them."""

    def make(sessions: int, seed: int, anomalies: int) -> Simulation:
        sim = simulate(recent_plan(sessions, seed, anomalies), CODEC.encode)
        send(topics, sim)
        return sim

    return make
