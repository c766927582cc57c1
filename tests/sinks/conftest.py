"""Fixtures of the sink tests."""

from __future__ import annotations

import asyncio

import pytest

from sessionflow.core.settings import KafkaSettings
from sessionflow.producers.settings import TopicSettings
from sessionflow.producers.topics import create_topics


@pytest.fixture
def topics(kafka: KafkaSettings) -> KafkaSettings:
    """The test's domain topic (6 partitions) and DLQ, created, kept forever (no retention)."""
    settings = TopicSettings(partitions=6, retention_ms=-1, dlq_retention_ms=-1)
    asyncio.run(create_topics(kafka, settings))
    return kafka
