"""Producing dead letters to the DLQ topic, each exactly once per origin.

A dead letter keeps the original key, bytes and timestamp; headers carry the reason, a
one-line detail, the origin (topic/partition/offset), the consumer group and the error class.
A record re-injected by ``sessionflow dlq replay`` carries ``sessionflow.replay.*`` headers
(which dead letter it came from, the reasons it was dead-lettered for before); its dead
letter keeps them, so an event still broken returns to the DLQ with its history.

Exactly once without transactions: dead letters of source partition ``p`` go to DLQ
partition ``p % dlq_partitions``, in origin order, from the one worker that owns ``p``. On
assignment, :meth:`DeadLetterWriter.resume` reads back the newest dead letter of each owned
partition; after a crash the reprocessed records whose dead letters were already written
(origin at or below that mark) are not written again.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Iterable, Sequence
from typing import Any

from aiokafka import AIOKafkaProducer, TopicPartition

from sessionflow.core.errors import InfrastructureError
from sessionflow.core.kafka_clients import new_consumer
from sessionflow.core.settings import KafkaSettings
from sessionflow.processors.domain.deadletters import DeadLetter

H_REASON = "sessionflow.reason"
H_DETAIL = "sessionflow.detail"
H_TOPIC = "sessionflow.origin.topic"
H_PARTITION = "sessionflow.origin.partition"
H_OFFSET = "sessionflow.origin.offset"
H_INDEX = "sessionflow.origin.index"
H_GROUP = "sessionflow.group"
H_ERROR = "sessionflow.error_class"
REPLAY_PREFIX = "sessionflow.replay."
H_REPLAY_DLQ = REPLAY_PREFIX + "dlq"  # "partition:offset" of the dead letter re-injected
H_REPLAY_HISTORY = REPLAY_PREFIX + "history"  # "reason@partition:offset,..." oldest first
H_REPLAY_ORIGIN = REPLAY_PREFIX + "origin"  # "topic/partition@offset" first read at

_READ_TIMEOUT_S = 30.0
Mark = tuple[int, int]  # (origin offset, index among that origin's dead letters)


def dead_letter_headers(letter: DeadLetter, index: int, group: str) -> list[tuple[str, bytes]]:
    """The headers describing ``letter`` on the DLQ topic (its record's replay headers kept)."""
    origin = letter.origin
    headers = [
        (H_REASON, letter.reason.value.encode()),
        (H_DETAIL, letter.detail.encode()),
        (H_TOPIC, origin.topic.encode()),
        (H_PARTITION, str(origin.partition).encode()),
        (H_OFFSET, str(origin.offset).encode()),
        (H_INDEX, str(index).encode()),
        (H_GROUP, group.encode()),
    ]
    if letter.error_class:
        headers.append((H_ERROR, letter.error_class.encode()))
    headers.extend((k, v) for k, v in letter.record.headers if k.startswith(REPLAY_PREFIX))
    return headers


def read_mark(headers: Sequence[tuple[str, bytes]]) -> tuple[int, Mark] | None:
    """(origin partition, (offset, index)) of a DLQ record, None if it carries no origin."""
    values = dict(headers)
    try:
        partition = int(values[H_PARTITION])
        return partition, (int(values[H_OFFSET]), int(values.get(H_INDEX, b"0")))
    except (KeyError, ValueError):
        return None


class DeadLetterWriter:
    """Writes dead letters through ``producer``; skips those already written (see module)."""

    def __init__(
        self,
        kafka: KafkaSettings,
        producer: Callable[[], Awaitable[AIOKafkaProducer]],
        group: str,
        dlq_partitions: int,
    ) -> None:
        self._kafka = kafka
        self._producer = producer
        self._group = group
        self._dlq_partitions = dlq_partitions
        self._marks: dict[int, Mark] = {}

    async def resume(self, partitions: Iterable[int], scan_limit: int = 100_000) -> None:
        """Read the newest dead letter of each source partition in ``partitions``."""
        wanted = {p for p in partitions if p not in self._marks}
        if wanted:
            self._marks.update(
                await _newest_marks(self._kafka, wanted, self._dlq_partitions, scan_limit)
            )

    def forget(self, partitions: Iterable[int]) -> None:
        """Drop the marks of partitions this worker no longer owns."""
        for partition in partitions:
            self._marks.pop(partition, None)

    async def write(self, letters: Sequence[DeadLetter]) -> int:
        """Send ``letters`` (any order) and wait for every acknowledgement; how many were new."""
        ordered = sorted(letters, key=lambda d: (d.origin.partition, d.origin.offset))
        futures: list[asyncio.Future[Any]] = []
        producer = await self._producer()
        index, previous = 0, None
        for letter in ordered:
            origin = letter.origin
            key = (origin.partition, origin.offset)
            index = index + 1 if key == previous else 0
            previous = key
            mark = (origin.offset, index)
            if mark <= self._marks.get(origin.partition, (-1, -1)):
                continue
            futures.append(
                await producer.send(
                    self._kafka.dlq_topic,
                    letter.record.value,
                    key=letter.record.key,
                    partition=origin.partition % self._dlq_partitions,
                    timestamp_ms=letter.record.timestamp,
                    headers=dead_letter_headers(letter, index, self._group),
                )
            )
            self._marks[origin.partition] = mark
        if futures:
            await asyncio.gather(*futures)
        return len(futures)


async def _newest_marks(
    kafka: KafkaSettings, partitions: set[int], dlq_partitions: int, scan_limit: int
) -> dict[int, Mark]:
    """Scan each needed DLQ partition backwards for the newest mark of every source partition."""
    consumer = new_consumer(kafka)
    await consumer.start()
    try:
        marks: dict[int, Mark] = {}
        for dlq_partition in sorted({p % dlq_partitions for p in partitions}):
            sources = {p for p in partitions if p % dlq_partitions == dlq_partition}
            tp = TopicPartition(kafka.dlq_topic, dlq_partition)
            marks.update(await _scan_back(consumer, tp, sources, scan_limit))
        return marks
    finally:
        await consumer.stop()


async def _scan_back(
    consumer: Any, tp: TopicPartition, sources: set[int], limit: int
) -> dict[int, Mark]:
    consumer.assign([tp])
    start = (await consumer.beginning_offsets([tp]))[tp]
    end = (await consumer.end_offsets([tp]))[tp]
    marks: dict[int, Mark] = {}
    chunk, stop = 500, end
    while stop > start and len(marks) < len(sources) and end - stop < limit:
        first = max(start, stop - chunk)
        for mark in await _read_marks(consumer, tp, first, stop):
            partition, value = mark
            if partition in sources and value > marks.get(partition, (-1, -1)):
                marks[partition] = value
        stop, chunk = first, chunk * 2
    return marks


async def _read_marks(
    consumer: Any, tp: TopicPartition, first: int, stop: int
) -> list[tuple[int, Mark]]:
    consumer.seek(tp, first)
    found: list[tuple[int, Mark]] = []
    deadline = time.monotonic() + _READ_TIMEOUT_S
    while await consumer.position(tp) < stop:
        if time.monotonic() > deadline:
            raise InfrastructureError(
                f"{tp.topic}/{tp.partition} not read within {_READ_TIMEOUT_S}s"
            )
        batch = await consumer.getmany(tp, timeout_ms=1000)
        for record in batch.get(tp, []):
            if record.offset < stop:
                mark = read_mark(record.headers or ())
                if mark is not None:
                    found.append(mark)
    return found
