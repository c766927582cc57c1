"""Read a topic's records between two sets of offsets (no consumer group, nothing committed)."""

from __future__ import annotations

import time
from collections.abc import Mapping
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition

from sessionflow.core.errors import InfrastructureError
from sessionflow.core.kafka_clients import new_admin, new_consumer
from sessionflow.core.settings import KafkaSettings


async def read_range(
    kafka: KafkaSettings,
    topic: str,
    start: Mapping[int, int],
    end: Mapping[int, int],
    *,
    timeout_s: float = 60.0,
) -> list[Any]:
    """Records of ``topic`` with ``start[p] <= offset < end[p]``, partition by partition.

    Raises :class:`InfrastructureError` if the range is not read within ``timeout_s``.
    """
    wanted = {p: (start.get(p, 0), stop) for p, stop in end.items() if stop > start.get(p, 0)}
    if not wanted:
        return []
    consumer = new_consumer(kafka)
    await consumer.start()
    try:
        partitions = {p: TopicPartition(topic, p) for p in wanted}
        consumer.assign(list(partitions.values()))
        for p, (first, _) in wanted.items():
            consumer.seek(partitions[p], first)
        return await _collect(consumer, wanted, timeout_s)
    finally:
        await consumer.stop()


async def partitions_of(kafka: KafkaSettings, topic: str) -> list[int]:
    """Partition numbers of ``topic``; :class:`InfrastructureError` if it does not exist."""
    admin = new_admin(kafka)
    await admin.start()
    try:
        (described,) = await admin.describe_topics([topic])
    finally:
        await admin.close()
    if described["error_code"] or not described["partitions"]:
        raise InfrastructureError(f"topic {topic} does not exist")
    return sorted(p["partition"] for p in described["partitions"])


async def offset_bounds(kafka: KafkaSettings, topic: str) -> tuple[dict[int, int], dict[int, int]]:
    """(beginning, end) offset per partition of ``topic`` now."""
    partitions = [TopicPartition(topic, p) for p in await partitions_of(kafka, topic)]
    consumer = new_consumer(kafka)
    await consumer.start()
    try:
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
    finally:
        await consumer.stop()
    return (
        {tp.partition: offset for tp, offset in starts.items()},
        {tp.partition: offset for tp, offset in ends.items()},
    )


async def read_topic(kafka: KafkaSettings, topic: str, *, timeout_s: float = 60.0) -> list[Any]:
    """Every record of ``topic`` from the beginning up to its end offsets at call time."""
    starts, ends = await offset_bounds(kafka, topic)
    return await read_range(kafka, topic, starts, ends, timeout_s=timeout_s)


async def _collect(
    consumer: AIOKafkaConsumer, wanted: dict[int, tuple[int, int]], timeout_s: float
) -> list[Any]:
    got: dict[int, list[Any]] = {p: [] for p in wanted}
    deadline = time.monotonic() + timeout_s
    remaining = {p for p in wanted}
    while remaining:
        if time.monotonic() > deadline:
            raise InfrastructureError(
                f"partitions {sorted(remaining)} not read within {timeout_s}s"
            )
        for tp, records in (await consumer.getmany(timeout_ms=500)).items():
            stop = wanted[tp.partition][1]
            got[tp.partition].extend(r for r in records if r.offset < stop)
            if records and records[-1].offset >= stop - 1:
                remaining.discard(tp.partition)
    return [record for p in sorted(got) for record in got[p]]
