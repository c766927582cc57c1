"""Re-injecting dead letters into the domain topic, each DLQ record at most once.

A re-injected record is the dead letter's original key, bytes and timestamp, written to the
partition it was first read from, with three headers (names in
:mod:`sessionflow.processors.runtime.deadletter_writer`): ``sessionflow.replay.dlq`` (the
DLQ ``partition:offset`` it comes from), ``sessionflow.replay.history`` (every reason it was
dead-lettered for, ``reason@partition:offset``, oldest first) and
``sessionflow.replay.origin`` (where it was first read). If the worker dead-letters it again,
the new dead letter keeps those headers: it comes back with its history.

Idempotence without a transaction: the record itself is the progress mark. Before a run
re-injects anything it reads every replay header on the domain topic written since the
first replay ever (:class:`ReplayLedger`: a consumer group on the domain topic remembers
where that was) and skips the DLQ positions found. Whatever a crash left behind (sent and
acknowledged, sent and never acknowledged, not sent) the next run sees exactly what is on
the topic. Two runs at the same time are not guarded against: run one at a time.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer, TopicPartition
from aiokafka.structs import OffsetAndMetadata

from sessionflow.core.errors import InfrastructureError
from sessionflow.core.kafka_clients import new_consumer, new_producer
from sessionflow.core.lifecycle import AsyncComponent
from sessionflow.core.settings import KafkaSettings
from sessionflow.core.topic_reader import partitions_of
from sessionflow.processors.dlq.letters import StoredLetter
from sessionflow.processors.domain.deadletters import Reason
from sessionflow.processors.runtime.deadletter_writer import (
    H_REPLAY_DLQ,
    H_REPLAY_HISTORY,
    H_REPLAY_ORIGIN,
    H_TOPIC,
)

FIXABLE: frozenset[str] = frozenset({Reason.UNDECODABLE.value, Reason.UNKNOWN_SESSION.value})
"""Reasons whose record can be applied when re-injected after a fix (see docs/dead-letters.md)."""

WHY_NOT: dict[str, str] = {
    Reason.KEY_MISMATCH.value: "the record keeps its key, so it mismatches again",
    Reason.ILLEGAL_TRANSITION.value: "its sequence was consumed: it would come back as "
    "duplicate_event_id",
    Reason.SEQUENCE_GAP.value: "its sequence was consumed: it would come back as "
    "duplicate_event_id",
    Reason.SEQUENCE_REPEAT.value: "its sequence is taken: it would come back as sequence_repeat",
    Reason.DUPLICATE_EVENT_ID.value: "the event was applied once already",
    Reason.PLUGIN_FAILED.value: "the event was applied already (only a plugin failed on it): "
    "it would come back as duplicate_event_id",
    Reason.PLUGIN_TIMEOUT.value: "the event was applied already (only a plugin timed out on "
    "it): it would come back as duplicate_event_id",
}
"""Why re-injecting a letter of each other reason cannot apply its event."""

_CHUNK = 500
_SCAN_TIMEOUT_S = 600.0


def ledger_group(kafka: KafkaSettings) -> str:
    """The consumer group holding where the first replay into ``kafka.topic`` began."""
    return f"{kafka.dlq_topic}-replay"


def replay_headers(letter: StoredLetter) -> list[tuple[str, bytes]]:
    """The headers a re-injected ``letter`` carries (see the module docstring)."""
    history = [*letter.history, f"{letter.reason}@{letter.position}"]
    return [
        (H_REPLAY_DLQ, str(letter.position).encode()),
        (H_REPLAY_HISTORY, ",".join(history).encode()),
        (H_REPLAY_ORIGIN, letter.first_origin.encode()),
    ]


@dataclass(frozen=True, slots=True)
class ReplayPlan:
    """The selected letters split: to re-inject, re-injected before, came back from a replay."""

    todo: list[StoredLetter]
    done_before: list[StoredLetter]
    returned: list[StoredLetter]


def plan_replay(
    letters: Iterable[StoredLetter], reinjected: set[str], *, retry_returned: bool = False
) -> ReplayPlan:
    """Split ``letters`` (in DLQ order) by ``reinjected`` DLQ positions.

    A letter that is itself the return of a replayed event is left alone unless
    ``retry_returned``: re-injecting it without a new fix only brings it back again.
    """
    todo, done, returned = [], [], []
    for letter in sorted(letters, key=lambda d: (d.position.partition, d.position.offset)):
        if str(letter.position) in reinjected:
            done.append(letter)
        elif letter.replayed_from is not None and not retry_returned:
            returned.append(letter)
        else:
            todo.append(letter)
    return ReplayPlan(todo, done, returned)


@dataclass(slots=True)
class ReplayProgress:
    """What a run did so far (read after an interruption too)."""

    scanned: int = 0
    acked: int = 0
    plan: ReplayPlan | None = None
    on_scanned: Callable[[int], None] = field(default=lambda n: None)
    on_planned: Callable[[ReplayPlan], None] = field(default=lambda plan: None)
    on_acked: Callable[[int], None] = field(default=lambda n: None)


class ReplayLedger(AsyncComponent):
    """Finds the DLQ positions already re-injected into ``kafka.topic``; ``async with``."""

    def __init__(self, kafka: KafkaSettings) -> None:
        self._kafka = kafka
        self._consumer: AIOKafkaConsumer | None = None
        self._tps: list[TopicPartition] = []

    async def start(self) -> None:
        """Check the domain topic exists and connect (as the ledger group, never joining)."""
        partitions = await partitions_of(self._kafka, self._kafka.topic)
        self._tps = [TopicPartition(self._kafka.topic, p) for p in partitions]
        consumer = new_consumer(
            self._kafka, group_id=ledger_group(self._kafka), max_partition_fetch_bytes=4 << 20
        )
        await consumer.start()
        self._consumer = consumer

    async def stop(self) -> None:
        """Disconnect."""
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    @property
    def partitions(self) -> int:
        """Partition count of the domain topic."""
        return len(self._tps)

    async def floor(self) -> dict[TopicPartition, int | None]:
        """Per partition: where the first replay began (None: no replay wrote there yet)."""
        consumer = self._running()
        consumer.assign(self._tps)
        return {tp: await consumer.committed(tp) for tp in self._tps}

    async def mark_floor(self) -> None:
        """Before a replay writes: remember the end offsets of partitions with no floor yet."""
        consumer = self._running()
        missing = [tp for tp, at in (await self.floor()).items() if at is None]
        if missing:
            ends = await consumer.end_offsets(missing)
            await consumer.commit({tp: OffsetAndMetadata(ends[tp], "") for tp in missing})

    async def scan(self, on_read: Callable[[int], None] = lambda n: None) -> set[str]:
        """Every DLQ position named by a replay header on the domain topic since the floor."""
        consumer = self._running()
        floor = {tp: at for tp, at in (await self.floor()).items() if at is not None}
        ends = await consumer.end_offsets(list(floor))
        wanted = {tp: ends[tp] for tp, at in floor.items() if ends[tp] > at}
        for tp in wanted:
            consumer.seek(tp, floor[tp])
        found: set[str] = set()
        deadline = asyncio.get_running_loop().time() + _SCAN_TIMEOUT_S
        while wanted:
            if asyncio.get_running_loop().time() > deadline:
                raise InfrastructureError(f"{self._kafka.topic} not scanned in {_SCAN_TIMEOUT_S}s")
            batches = await consumer.getmany(*wanted, timeout_ms=500, max_records=10_000)
            for tp, records in batches.items():
                for record in records:
                    if record.offset < wanted[tp]:
                        found.update(_replayed_position(record.headers))
                on_read(len(records))
            for tp in list(wanted):
                if await consumer.position(tp) >= wanted[tp]:
                    del wanted[tp]
        return found

    def _running(self) -> AIOKafkaConsumer:
        if self._consumer is None:
            raise InfrastructureError("ReplayLedger used before start()")
        return self._consumer


def _replayed_position(headers: Sequence[tuple[str, bytes]] | None) -> list[str]:
    return [v.decode("ascii", "replace") for k, v in headers or () if k == H_REPLAY_DLQ]


class Reinjector(AsyncComponent):
    """Sends letters' original records to ``kafka.topic``; ``async with``."""

    def __init__(self, kafka: KafkaSettings, partitions: int) -> None:
        self._kafka = kafka
        self._partitions = partitions
        self._producer: AIOKafkaProducer | None = None

    async def start(self) -> None:
        """Connect."""
        producer = new_producer(self._kafka, linger_ms=5)
        await producer.start()
        self._producer = producer

    async def stop(self) -> None:
        """Flush what was sent and disconnect."""
        if self._producer is not None:
            await self._producer.stop()
            self._producer = None

    async def send(self, letters: Sequence[StoredLetter], on_acked: Callable[[int], None]) -> int:
        """Send ``letters`` in order, ``_CHUNK`` at a time, each chunk acknowledged before the
        next is sent; ``on_acked(n)`` after each chunk. Returns how many were acknowledged."""
        producer = self._running()
        acked = 0
        for first in range(0, len(letters), _CHUNK):
            chunk = letters[first : first + _CHUNK]
            futures = [await self._send_one(producer, letter) for letter in chunk]
            await asyncio.gather(*futures)
            acked += len(chunk)
            on_acked(len(chunk))
        return acked

    async def _send_one(
        self, producer: AIOKafkaProducer, letter: StoredLetter
    ) -> asyncio.Future[Any]:
        future: asyncio.Future[Any] = await producer.send(
            self._kafka.topic, letter.value, key=letter.key,
            partition=self._partition_of(letter), timestamp_ms=letter.timestamp,
            headers=replay_headers(letter),
        )  # fmt: skip
        return future

    def _partition_of(self, letter: StoredLetter) -> int | None:
        """The partition the record was read from; None (the key decides, as for every
        producer) when it was read from another topic or the partition is unknown."""
        partition = letter.origin_partition
        if letter.header(H_TOPIC) != self._kafka.topic or partition is None:
            return None
        return partition if partition < self._partitions else None

    def _running(self) -> AIOKafkaProducer:
        if self._producer is None:
            raise InfrastructureError("Reinjector used before start()")
        return self._producer


async def replay_letters(
    kafka: KafkaSettings,
    selected: Sequence[StoredLetter],
    progress: ReplayProgress,
    *,
    dry_run: bool = False,
    retry_returned: bool = False,
) -> ReplayPlan:
    """Plan (scan the ledger) and, unless ``dry_run``, re-inject ``selected``; see the module."""
    async with ReplayLedger(kafka) as ledger:
        reinjected = await ledger.scan(_counting(progress, "scanned", progress.on_scanned))
        plan = plan_replay(selected, reinjected, retry_returned=retry_returned)
        progress.plan = plan
        progress.on_planned(plan)
        if dry_run or not plan.todo:
            return plan
        await ledger.mark_floor()
        partitions = ledger.partitions
    async with Reinjector(kafka, partitions) as reinjector:
        await reinjector.send(plan.todo, _counting(progress, "acked", progress.on_acked))
    return plan


def _counting(
    progress: ReplayProgress, name: str, then: Callable[[int], None]
) -> Callable[[int], None]:
    def count(n: int) -> None:
        setattr(progress, name, getattr(progress, name) + n)
        then(n)

    return count
