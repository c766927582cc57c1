"""Read a topic's records between two sets of offsets (no consumer group, nothing committed).

A partition is done when the consumer's position reaches the end offset asked for, not when a
record with offset ``end - 1`` arrives: transaction markers and compaction leave offsets with
no record, so the last record of a range can sit below ``end - 1``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Callable, Mapping
from contextlib import asynccontextmanager
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError
from aiokafka.protocol.metadata import MetadataRequest

from sessionflow.core.errors import InfrastructureError
from sessionflow.core.kafka_clients import check_connection, new_admin, new_consumer
from sessionflow.core.reachability import connect_failure
from sessionflow.core.settings import KafkaSettings

_START_TIMEOUT_S = 30.0


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
    async with _consumer(kafka) as consumer:
        partitions = {p: TopicPartition(topic, p) for p in wanted}
        consumer.assign(list(partitions.values()))
        for p, (first, _) in wanted.items():
            consumer.seek(partitions[p], first)
        return await collect(consumer, partitions, wanted, timeout_s)


async def topic_metadata(admin: AIOKafkaAdminClient, names: list[str]) -> list[dict[str, Any]]:
    """Metadata (error code, partitions) of each named topic, never creating a missing one.

    ``AIOKafkaAdminClient.describe_topics`` asks with ``allow_auto_topic_creation`` on, so on
    a broker with ``auto.create.topics.enable`` describing a missing topic would create it.
    """
    request = MetadataRequest(names, allow_auto_topic_creation=False)
    response = await admin._send_request(request)  # private, but describe_topics can't opt out
    topics: list[dict[str, Any]] = response.to_object()["topics"]
    return topics


async def partitions_of(kafka: KafkaSettings, topic: str) -> list[int]:
    """Partition numbers of ``topic``; :class:`InfrastructureError` if it does not exist."""
    admin = new_admin(kafka)
    await _start(admin.start, admin.close, kafka)
    try:
        (described,) = await topic_metadata(admin, [topic])
    finally:
        await admin.close()
    if described["error_code"] or not described["partitions"]:
        raise InfrastructureError(f"topic {topic} does not exist")
    return sorted(p["partition"] for p in described["partitions"])


async def offset_bounds(kafka: KafkaSettings, topic: str) -> tuple[dict[int, int], dict[int, int]]:
    """(beginning, end) offset per partition of ``topic`` now."""
    partitions = [TopicPartition(topic, p) for p in await partitions_of(kafka, topic)]
    async with _consumer(kafka) as consumer:
        starts = await consumer.beginning_offsets(partitions)
        ends = await consumer.end_offsets(partitions)
    return (
        {tp.partition: offset for tp, offset in starts.items()},
        {tp.partition: offset for tp, offset in ends.items()},
    )


async def read_topic(kafka: KafkaSettings, topic: str, *, timeout_s: float = 60.0) -> list[Any]:
    """Every record of ``topic`` from the beginning up to its end offsets at call time."""
    starts, ends = await offset_bounds(kafka, topic)
    return await read_range(kafka, topic, starts, ends, timeout_s=timeout_s)


@asynccontextmanager
async def _consumer(kafka: KafkaSettings) -> AsyncIterator[AIOKafkaConsumer]:
    consumer = new_consumer(kafka)
    await _start(consumer.start, consumer.stop, kafka)
    try:
        yield consumer
    finally:
        await consumer.stop()


async def _start(
    start: Callable[[], Awaitable[None]], close: Callable[[], Awaitable[None]], kafka: KafkaSettings
) -> None:
    """Start a client; on failure close it and raise :class:`InfrastructureError` (one line)."""
    try:
        await check_connection(kafka, _START_TIMEOUT_S)  # refused, TLS, SASL: one precise line
    except InfrastructureError:
        await close()
        raise
    began = time.monotonic()
    try:
        await asyncio.wait_for(start(), _START_TIMEOUT_S)
    except (TimeoutError, KafkaError, OSError) as exc:
        await close()
        message = connect_failure(kafka, exc, time.monotonic() - began, _START_TIMEOUT_S)
        raise InfrastructureError(message) from exc


async def collect(
    consumer: AIOKafkaConsumer,
    partitions: dict[int, TopicPartition],
    wanted: dict[int, tuple[int, int]],
    timeout_s: float,
    on_batch: Callable[[int], None] | None = None,
) -> list[Any]:
    """Records of the assigned ``partitions`` from ``consumer``'s positions up to
    ``wanted[p][1]`` (exclusive), partition by partition in offset order; ``on_batch(n)``
    after each fetched batch. Raises :class:`InfrastructureError` after ``timeout_s``."""
    got: dict[int, list[Any]] = {p: [] for p in wanted}
    deadline = time.monotonic() + timeout_s
    remaining = set(wanted)
    while remaining:
        if time.monotonic() > deadline:
            raise InfrastructureError(
                f"partitions {sorted(remaining)} not read within {timeout_s}s"
            )
        batches = await consumer.getmany(*(partitions[p] for p in remaining), timeout_ms=500)
        for tp, records in batches.items():
            stop = wanted[tp.partition][1]
            kept = [r for r in records if r.offset < stop]
            got[tp.partition].extend(kept)
            if on_batch is not None:
                on_batch(len(kept))
        for p in sorted(remaining):
            if await consumer.position(partitions[p]) >= wanted[p][1]:
                remaining.discard(p)
    return [record for p in sorted(got) for record in got[p]]
