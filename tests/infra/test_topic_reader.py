"""topic_reader on the real broker: a range ends by position, even after a transaction marker."""

from __future__ import annotations

import time

import pytest

from sessionflow.core.errors import InfrastructureError
from sessionflow.core.kafka_clients import new_admin, new_producer
from sessionflow.core.settings import KafkaSettings
from sessionflow.core.topic_reader import offset_bounds, read_range, read_topic
from sessionflow.producers.settings import TopicSettings
from sessionflow.producers.topics import create_topics
from sessionflow.testing import unique_name
from sessionflow.testing.kafka import free_ports


async def test_a_range_ending_in_a_commit_marker_is_read_to_its_end(
    kafka: KafkaSettings, topic_name: str
) -> None:
    await create_topics(kafka, TopicSettings(partitions=1))
    producer = new_producer(kafka, transactional_id=unique_name("txn"))
    async with producer, producer.transaction():
        for value in (b"a", b"b", b"c"):
            await producer.send(topic_name, value, partition=0)

    starts, ends = await offset_bounds(kafka, topic_name)
    records = await read_range(kafka, topic_name, starts, ends, timeout_s=10)

    # Kafka writes a control record (the commit marker) after the transaction's records, so the
    # end offset is one past it and no record has offset end - 1.
    assert ends == {0: 4}
    assert [(r.offset, r.value) for r in records] == [(0, b"a"), (1, b"b"), (2, b"c")]


async def test_a_range_in_the_middle_stops_at_its_end(
    kafka: KafkaSettings, topic_name: str
) -> None:
    await create_topics(kafka, TopicSettings(partitions=1))
    async with new_producer(kafka) as producer:
        for value in (b"0", b"1", b"2", b"3", b"4"):
            await producer.send_and_wait(topic_name, value, partition=0)

    records = await read_range(kafka, topic_name, {0: 1}, {0: 3}, timeout_s=10)
    everything = await read_topic(kafka, topic_name, timeout_s=10)

    assert [r.value for r in records] == [b"1", b"2"]
    assert [r.value for r in everything] == [b"0", b"1", b"2", b"3", b"4"]


async def test_a_missing_topic_is_an_error_and_stays_missing(
    kafka: KafkaSettings, topic_name: str
) -> None:
    with pytest.raises(InfrastructureError, match=f"topic {topic_name} does not exist"):
        await read_topic(kafka, topic_name)

    admin = new_admin(kafka)  # the local broker auto-creates topics a client asks about
    await admin.start()
    try:
        assert topic_name not in await admin.list_topics()
    finally:
        await admin.close()


async def test_an_unreachable_broker_is_one_line_saying_what_and_when() -> None:
    (port,) = free_ports(1)  # nothing listens there
    kafka = KafkaSettings(bootstrap_servers=f"127.0.0.1:{port}")
    began = time.monotonic()

    with pytest.raises(InfrastructureError) as caught:
        await read_topic(kafka, "any-topic")

    message = str(caught.value)
    assert time.monotonic() - began < 10
    assert "\n" not in message
    assert message == f"cannot connect to 127.0.0.1:{port}: Connection refused"
