"""Where a rebuild reads events: the :class:`Source` protocol and :class:`TopicSource`.

A source yields batches of :class:`Record` in offset order per partition, says how many
events it expects (``total``, for progress) and where it stands (``positions``: per
partition, the offset after the last record yielded, or after the last offset it knows to
be done). A rebuild commits ``positions`` once a batch's states are durable, so the next
run, or a worker of the rebuilt version, continues there.
"""

from __future__ import annotations

from collections.abc import AsyncIterator, Collection, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any, Protocol

from aiokafka import AIOKafkaConsumer, TopicPartition

from sessionflow.core.errors import ConfigurationError
from sessionflow.core.kafka_clients import new_consumer, record_headers
from sessionflow.core.settings import KafkaSettings
from sessionflow.core.topic_reader import partitions_of
from sessionflow.processors.domain.deadletters import Record


class Source(Protocol):
    """A stream of batches of events to fold; use as an async context manager."""

    total: int | None

    async def __aenter__(self) -> Source: ...

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None: ...

    def batches(self) -> AsyncIterator[list[Record]]:
        """Batches in offset order per partition, until the source's end."""
        ...

    def positions(self) -> dict[int, int]:
        """Per partition: the offset after what was yielded (the offset to commit)."""
        ...


@dataclass(frozen=True)
class StartAt:
    """Where a topic source begins: the earliest offsets, given offsets, or a time.

    ``offsets`` lists partitions whose start is given; the others begin at the earliest.
    ``time_ms``: each partition begins at its first record with a timestamp >= it.
    """

    offsets: Mapping[int, int] = field(default_factory=dict)
    time_ms: int | None = None


def to_record(message: Any) -> Record:
    """The fold's :class:`Record` of an aiokafka ``ConsumerRecord``."""
    return Record(
        message.topic, message.partition, message.offset, message.key, message.value or b"",
        message.timestamp, record_headers(message),
    )  # fmt: skip


class TopicSource:
    """The events topic (``kafka.topic``) read by a plain consumer: no group, manual assignment.

    ``start``: a :class:`StartAt`, or offsets per partition (partitions not named begin at
    the earliest). A partition ends at ``until`` (exclusive; a partition ``until`` does not
    name: at its end) capped by its end offset when the source starts; with ``to_time_ms``
    also at its first record with a timestamp after it. A partition whose start is at or
    after its end is not read, and its position stays at its start (never moves back); a
    start past the end offset is taken as the end offset. A start naming a partition the
    topic does not have raises :class:`ConfigurationError` on entry. ``partitions``: read only
    these (a share of the topic for one of several rebuild processes); positions, ``total``
    and the start check cover only them.
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        start: StartAt | Mapping[int, int],
        *,
        until: Mapping[int, int] | None = None,
        to_time_ms: int | None = None,
        batch_size: int = 10_000,
        partitions: Collection[int] | None = None,
    ) -> None:
        self._kafka = kafka
        self._only = None if partitions is None else frozenset(partitions)
        self._start = start
        self._until = until
        self._to_time_ms = to_time_ms
        self._batch_size = batch_size
        self._consumer: AIOKafkaConsumer = None  # built on entry
        self._tps: dict[int, TopicPartition] = {}
        self._ends: dict[int, int] = {}
        self._positions: dict[int, int] = {}
        self._open: set[int] = set()
        self._cut: set[int] = set()
        """Partitions that reached a record after ``to_time_ms``."""
        self.total: int | None = None

    async def __aenter__(self) -> TopicSource:
        partitions = await partitions_of(self._kafka, self._kafka.topic)
        if self._only is not None:
            partitions = [p for p in partitions if p in self._only]
        self._tps = {p: TopicPartition(self._kafka.topic, p) for p in partitions}
        self._consumer = new_consumer(
            self._kafka, max_partition_fetch_bytes=4 << 20, fetch_max_bytes=64 << 20
        )
        await self._consumer.start()
        try:
            await self._place()
        except BaseException:
            await self._consumer.stop()
            raise
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._consumer.stop()

    async def _place(self) -> None:
        """Resolve start and end offsets, assign and seek."""
        tps = list(self._tps.values())
        firsts = {
            tp.partition: o for tp, o in (await self._consumer.beginning_offsets(tps)).items()
        }
        lasts = {tp.partition: o for tp, o in (await self._consumer.end_offsets(tps)).items()}
        starts = await self._starts(firsts, lasts)
        self._ends = {p: min(lasts[p], (self._until or lasts).get(p, lasts[p])) for p in self._tps}
        unknown = sorted(set(starts) - set(self._tps))
        if unknown:
            raise ConfigurationError(
                f"{self._kafka.topic} has no partition {unknown[0]} (it has {len(self._tps)})"
            )
        self._positions = {p: min(max(starts[p], firsts[p]), lasts[p]) for p in self._tps}
        self._open = {p for p in self._tps if self._positions[p] < self._ends[p]}
        self.total = sum(max(0, self._ends[p] - self._positions[p]) for p in self._tps)
        self._consumer.assign(tps)
        for p, offset in self._positions.items():
            self._consumer.seek(self._tps[p], offset)

    async def _starts(self, firsts: dict[int, int], lasts: dict[int, int]) -> dict[int, int]:
        start = self._start
        if not isinstance(start, StartAt):
            return {**{p: firsts[p] for p in self._tps}, **self._own(start)}
        if start.time_ms is None:
            return {**{p: firsts[p] for p in self._tps}, **self._own(start.offsets)}
        query = {tp: start.time_ms for tp in self._tps.values()}
        found = await self._consumer.offsets_for_times(query)
        return {
            tp.partition: (meta.offset if meta is not None else lasts[tp.partition])
            for tp, meta in found.items()
        }

    def _own(self, offsets: Mapping[int, int]) -> Mapping[int, int]:
        """``offsets`` of the partitions this source reads (all without ``partitions``)."""
        if self._only is None:
            return offsets
        return {p: o for p, o in offsets.items() if p in self._only}

    def positions(self) -> dict[int, int]:
        """Per partition: the offset after the records yielded (see the module)."""
        return dict(self._positions)

    async def batches(self) -> AsyncIterator[list[Record]]:
        """Batches of at most ``batch_size`` records until every partition reached its end."""
        while self._open:
            fetched = await self._consumer.getmany(
                *(self._tps[p] for p in sorted(self._open)),
                timeout_ms=500, max_records=self._batch_size,
            )  # fmt: skip
            batch: list[Record] = []
            for tp in sorted(fetched, key=lambda tp: tp.partition):
                batch.extend(self._take(tp.partition, fetched[tp]))
            for p in sorted(self._open):
                if p not in self._cut:
                    position = await self._consumer.position(self._tps[p])
                    self._positions[p] = max(self._positions[p], min(position, self._ends[p]))
                if self._positions[p] >= self._ends[p] or p in self._cut:
                    self._open.discard(p)
                    self._consumer.pause(self._tps[p])  # done: fetch no more of it
            if batch:
                yield batch

    def _take(self, partition: int, messages: list[Any]) -> list[Record]:
        """The records of one fetch below the partition's end (and up to ``to_time_ms``)."""
        end, limit = self._ends[partition], self._to_time_ms
        taken = []
        for message in messages:
            if message.offset >= end:
                break
            if limit is not None and message.timestamp > limit:
                self._cut.add(partition)
                self._positions[partition] = message.offset
                break
            taken.append(to_record(message))
        return taken
