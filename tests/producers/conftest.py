"""Fixtures of the producer tests: a created topic of their own, and a reader of it."""

from __future__ import annotations

import time
from typing import Any

import pytest
from aiokafka import AIOKafkaConsumer, TopicPartition

from producers.settings import ProducerSettings, TopicSettings
from producers.topics import create_topics, describe_topics
from sessionflow.settings import KafkaSettings


@pytest.fixture
async def events_kafka(kafka_bootstrap: str, topic_name: str) -> KafkaSettings:
    """Kafka settings whose topic (6 partitions) and DLQ exist and belong to this test."""
    kafka = KafkaSettings(
        bootstrap_servers=kafka_bootstrap, topic=topic_name, dlq_topic=f"{topic_name}.dlq"
    )
    await create_topics(kafka, TopicSettings(partitions=6))
    return kafka


@pytest.fixture
def producer_settings() -> ProducerSettings:
    """Producer settings for tests: the defaults, with a recognisable source."""
    return ProducerSettings(source="producer-tests")


async def read_all(kafka: KafkaSettings, *, timeout_s: float = 30.0) -> list[Any]:
    """Every record of ``kafka.topic`` up to its current end offsets, in partition order."""
    (description,) = await describe_topics(kafka, [kafka.topic])
    ends = {TopicPartition(kafka.topic, p): end for p, end in description.end_offsets.items()}
    consumer = AIOKafkaConsumer(bootstrap_servers=kafka.bootstrap_servers, enable_auto_commit=False)
    await consumer.start()
    try:
        consumer.assign(list(ends))
        await consumer.seek_to_beginning(*ends)
        return await _read_until(consumer, ends, timeout_s)
    finally:
        await consumer.stop()


async def _read_until(
    consumer: AIOKafkaConsumer, ends: dict[TopicPartition, int], timeout_s: float
) -> list[Any]:
    records: dict[TopicPartition, list[Any]] = {tp: [] for tp in ends}
    deadline = time.monotonic() + timeout_s

    def behind() -> bool:
        return any(
            (records[tp][-1].offset + 1 if records[tp] else 0) < end for tp, end in ends.items()
        )

    while behind():
        if time.monotonic() > deadline:
            raise TimeoutError(f"topic not read to its end within {timeout_s}s")
        batch = await consumer.getmany(timeout_ms=500)
        for tp, items in batch.items():
            records[tp].extend(items)
    return [r for tp in sorted(records, key=lambda t: t.partition) for r in records[tp]]
