"""Reading the DLQ topic: every dead letter up to the end offsets at start, or one of them.

No consumer group, nothing committed: reading the DLQ never changes it.
"""

from __future__ import annotations

import time
from collections.abc import Callable

from aiokafka import AIOKafkaConsumer, TopicPartition

from sessionflow.core.errors import InfrastructureError, SessionflowError
from sessionflow.core.kafka_clients import new_consumer
from sessionflow.core.lifecycle import AsyncComponent
from sessionflow.core.settings import KafkaSettings
from sessionflow.core.topic_reader import collect, partitions_of
from sessionflow.processors.dlq.letters import StoredLetter, letter_of

_READ_TIMEOUT_S = 120.0


class DeadLetterNotFoundError(SessionflowError):
    """The DLQ position asked for holds no record (no such partition, offset out of range)."""


class DeadLetterReader(AsyncComponent):
    """Reads ``kafka.dlq_topic``; use ``async with`` (or start()/stop())."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self._kafka = kafka
        self._topic = kafka.dlq_topic
        self._consumer: AIOKafkaConsumer | None = None
        self._partitions: list[int] = []

    async def start(self) -> None:
        """Check the topic exists (InfrastructureError naming it); the consumer connects on
        first use (aiokafka's consumer, stopped right after it started, may raise
        CancelledError from its stop)."""
        self._partitions = await partitions_of(self._kafka, self._topic)

    async def stop(self) -> None:
        """Disconnect."""
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    @property
    def partitions(self) -> list[int]:
        """Partition numbers of the DLQ topic."""
        return list(self._partitions)

    async def bounds(self) -> dict[int, tuple[int, int]]:
        """(beginning, end) offsets of every DLQ partition now."""
        consumer = await self._running()
        tps = [TopicPartition(self._topic, p) for p in self._partitions]
        starts = await consumer.beginning_offsets(tps)
        ends = await consumer.end_offsets(tps)
        return {tp.partition: (starts[tp], ends[tp]) for tp in tps}

    async def read_all(self, on_read: Callable[[int], None] | None = None) -> list[StoredLetter]:
        """Every letter up to the end offsets now, partition by partition in offset order.

        ``on_read(n)`` is called after each fetched batch with its size (a progress bar).
        """
        consumer = await self._running()
        bounds = {p: b for p, b in (await self.bounds()).items() if b[1] > b[0]}
        tps = {p: TopicPartition(self._topic, p) for p in bounds}
        consumer.assign(list(tps.values()))
        for p, (first, _) in bounds.items():
            consumer.seek(tps[p], first)
        records = await collect(consumer, tps, bounds, _READ_TIMEOUT_S, on_read)
        return [letter_of(record) for record in records]

    async def read_one(self, partition: int | None, offset: int) -> StoredLetter:
        """The letter at ``partition:offset`` (``None``: the DLQ's only partition).

        Raises :class:`DeadLetterNotFoundError` naming what is wrong.
        """
        partition = self.resolve_partition(partition)
        first, end = (await self.bounds())[partition]
        where = f"{self._topic} {partition}:{offset}"
        if not first <= offset < end:
            held = f"offsets {first}..{end - 1}" if end > first else "no records"
            raise DeadLetterNotFoundError(
                f"no dead letter at {where}: partition {partition} holds {held}"
            )
        consumer = await self._running()
        tp = TopicPartition(self._topic, partition)
        consumer.assign([tp])
        consumer.seek(tp, offset)
        deadline = time.monotonic() + _READ_TIMEOUT_S
        while time.monotonic() < deadline:
            batch = await consumer.getmany(tp, timeout_ms=500, max_records=1)
            for record in batch.get(tp, []):
                if record.offset == offset:
                    return letter_of(record)
                raise DeadLetterNotFoundError(f"no dead letter at {where} (compacted away)")
            if await consumer.position(tp) > offset:
                break
        raise DeadLetterNotFoundError(f"no dead letter at {where} (not read)")

    def resolve_partition(self, partition: int | None) -> int:
        """``partition`` checked to exist; None allowed only when the DLQ has one partition."""
        if partition is None:
            if len(self._partitions) != 1:
                raise DeadLetterNotFoundError(
                    f"{self._topic} has {len(self._partitions)} partitions: give PARTITION:OFFSET"
                )
            return self._partitions[0]
        if partition not in self._partitions:
            raise DeadLetterNotFoundError(
                f"{self._topic} has no partition {partition} "
                f"(partitions {self._partitions[0]}..{self._partitions[-1]})"
            )
        return partition

    async def _running(self) -> AIOKafkaConsumer:
        if not self._partitions:
            raise InfrastructureError("DeadLetterReader used before start()")
        if self._consumer is None:
            consumer = new_consumer(self._kafka, max_partition_fetch_bytes=4 * 1024 * 1024)
            await consumer.start()
            self._consumer = consumer
        return self._consumer
