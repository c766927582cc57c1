"""Re-emit the audit's original records to a topic, each origin record once.

Each record of a source goes to the same partition of the target topic as its origin
partition, with its original key, Avro bytes and timestamp, and headers naming its origin
(``sessionflow.origin.topic`` / ``.partition`` / ``.offset``). Before writing, the target is
read back from the end of each partition to the last record that names an origin: records
of that origin partition up to its offset were written before and are skipped. So a run
cut short and run again, or run twice, writes every origin record exactly once.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from sessionflow.core.errors import InfrastructureError
from sessionflow.core.kafka_clients import new_consumer, new_producer
from sessionflow.core.settings import KafkaSettings
from sessionflow.core.topic_reader import partitions_of
from sessionflow.processors.domain.deadletters import Record
from sessionflow.processors.replay.sources import Source
from sessionflow.processors.runtime.deadletter_writer import H_OFFSET, H_PARTITION, H_TOPIC

_WINDOW = 500


@dataclass
class RepublishReport:
    """Records written and records skipped (written by an earlier run)."""

    written: int = 0
    skipped: int = 0


async def republished_up_to(kafka: KafkaSettings, topic: str, origin: str) -> dict[int, int]:
    """Per partition of ``topic``: the highest origin offset of ``origin`` written to it."""
    found: dict[int, int] = {}
    consumer = new_consumer(kafka)
    await consumer.start()
    try:
        tps = [TopicPartition(topic, p) for p in await partitions_of(kafka, topic)]
        firsts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        consumer.assign(tps)
        for tp in tps:
            offset = await _last_origin(consumer, tp, firsts[tp], ends[tp], origin)
            if offset is not None:
                found[tp.partition] = offset
    finally:
        await consumer.stop()
    return found


async def _last_origin(
    consumer: AIOKafkaConsumer, tp: TopicPartition, first: int, end: int, origin: str
) -> int | None:
    """The origin offset of the last record of ``tp`` naming ``origin``, reading backwards."""
    high = end
    while high > first:
        low = max(first, high - _WINDOW)
        records = await _read(consumer, tp, low, high)
        for record in reversed(records):
            headers = dict(record.headers or ())
            if headers.get(H_TOPIC) == origin.encode() and H_OFFSET in headers:
                return int(headers[H_OFFSET])
        high = low
    return None


async def _read(client: AIOKafkaConsumer, tp: TopicPartition, low: int, high: int) -> list[Any]:
    client.seek(tp, low)
    got: list[Any] = []
    for _ in range(600):  # each getmany waits up to 100 ms: at most a minute
        batch = await client.getmany(tp, timeout_ms=100)
        got.extend(r for r in batch.get(tp, []) if r.offset < high)
        if await client.position(tp) >= high:
            return got
    raise InfrastructureError(f"{tp.topic}/{tp.partition}: offsets {low}..{high} not read")


async def republish(
    kafka: KafkaSettings,
    source: Source,
    topic: str,
    on_batch: Callable[[int], None] | None = None,
) -> RepublishReport:
    """Write ``source``'s records to ``topic`` (see the module); what was written or skipped."""
    report = RepublishReport()
    done = await republished_up_to(kafka, topic, kafka.topic)
    partitions = len(await partitions_of(kafka, topic))
    producer = new_producer(kafka, linger_ms=20, max_batch_size=512 * 1024)
    await producer.start()
    try:
        async with source as records:
            async for batch in records.batches():
                fresh = [r for r in batch if r.offset > done.get(r.partition, -1)]
                _check_room(fresh, partitions, topic)
                sent = [await producer.send(topic, **_message(r)) for r in fresh]
                await asyncio.gather(*sent)
                report.written += len(fresh)
                report.skipped += len(batch) - len(fresh)
                (on_batch or (lambda _: None))(len(batch))
    finally:
        await producer.stop()
    return report


def _check_room(records: list[Record], partitions: int, topic: str) -> None:
    for record in records:
        if record.partition >= partitions:
            raise InfrastructureError(
                f"{topic} has {partitions} partitions; records of partition "
                f"{record.partition} need as many as the origin topic"
            )


def _message(record: Record) -> dict[str, object]:
    headers = [
        (H_TOPIC, record.topic.encode()),
        (H_PARTITION, str(record.partition).encode()),
        (H_OFFSET, str(record.offset).encode()),
    ]
    return {
        "value": record.value, "key": record.key, "partition": record.partition,
        "timestamp_ms": record.timestamp, "headers": headers,
    }  # fmt: skip
