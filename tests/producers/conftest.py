"""Fixtures of the producer tests: a created topic of their own, and a reader of it."""

from __future__ import annotations

from typing import Any

import pytest

from sessionflow.core.settings import KafkaSettings
from sessionflow.core.topic_reader import read_topic
from sessionflow.producers.settings import ProducerSettings, TopicSettings
from sessionflow.producers.topics import create_topics


@pytest.fixture
async def events_kafka(kafka: KafkaSettings) -> KafkaSettings:
    """Kafka settings whose topic (6 partitions) and DLQ exist and belong to this test.

    Record timestamps are event times, so a test's old ``occurred_at`` would fall to the
    broker's retention check mid-test: these topics keep every record (``retention.ms=-1``).
    """
    await create_topics(kafka, TopicSettings(partitions=6, retention_ms=-1, dlq_retention_ms=-1))
    return kafka


@pytest.fixture
def producer_settings() -> ProducerSettings:
    """Producer settings for tests: the defaults, with a recognisable source."""
    return ProducerSettings(source="producer-tests")


async def read_all(kafka: KafkaSettings, *, timeout_s: float = 30.0) -> list[Any]:
    """Every record of ``kafka.topic`` up to its current end offsets, in partition order."""
    return await read_topic(kafka, kafka.topic, timeout_s=timeout_s)
