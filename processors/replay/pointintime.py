"""One session's state as of a point in time or sequence, folded from the topic or ClickHouse.

The same pure fold as everywhere, over the session's own records only (a session's state
depends on nothing else), in their partition's order:

- ``at_ms``: the session's records before its first record with a later timestamp (record
  time is event time);
- ``at_sequence``: the records up to and including the session's first record numbered
  ``at_sequence`` (sequences count per producer instance: with several producers, the first
  record with that number in the topic's order).

Nothing is written anywhere.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from aiokafka.partitioner import murmur2

from sessionflow.core.errors import SessionflowError
from sessionflow.core.settings import KafkaSettings
from sessionflow.core.topic_reader import partitions_of
from sessionflow.processors.domain.deadletters import Record
from sessionflow.processors.domain.fold import Decoder, fold
from sessionflow.processors.domain.model import SessionState
from sessionflow.processors.replay.clickhouse_source import AuditFilter, ClickHouseSource
from sessionflow.processors.replay.sources import Source, StartAt, TopicSource
from sessionflow.schemas.errors import DecodeError


class SequenceNotFound(SessionflowError):
    """The session has no record with the sequence asked for."""


@dataclass(frozen=True)
class PointInTime:
    """As of a time (epoch ms, event time) or after a sequence number; None: everything."""

    at_ms: int | None = None
    at_sequence: int | None = None


@dataclass(frozen=True)
class PastState:
    """A session's state then (None: it did not exist yet) and what was folded for it."""

    state: SessionState | None
    records: int
    dead_letters: int


def session_partition(session_id: str, partitions: int) -> int:
    """The partition of ``session_id``'s records (the producers' murmur2 partitioning)."""
    return int((murmur2(session_id.encode()) & 0x7FFFFFFF) % partitions)


async def topic_source(kafka: KafkaSettings, session_id: str, point: PointInTime) -> Source:
    """The events topic, only the session's partition."""
    partitions = await partitions_of(kafka, kafka.topic)
    mine = session_partition(session_id, len(partitions))
    until = {p: 0 for p in partitions if p != mine}  # a partition ending at 0 is not read
    return TopicSource(kafka, StartAt(), until=until)


def clickhouse_source(client: Any, database: str, topic: str, session_id: str) -> Source:
    """ClickHouse's audit of the session's records."""
    return ClickHouseSource(client, database, topic, where=AuditFilter(session_id=session_id))


async def state_at(
    source: Source, session_id: str, point: PointInTime, codec: Decoder
) -> PastState:
    """Fold ``source``'s records of ``session_id`` up to ``point``.

    Raises :class:`SequenceNotFound` when ``point.at_sequence`` names no record of it.
    """
    key = session_id.encode()
    states: dict[str, SessionState] = {}
    records = dead = 0
    reached = point.at_sequence is None
    async with source as opened:
        async for batch in opened.batches():
            mine = [r for r in batch if r.key == key]
            cut = False
            if point.at_ms is not None:
                mine, cut = _until_time(mine, point.at_ms)
            if point.at_sequence is not None:
                mine, reached = _through_sequence(mine, point.at_sequence, codec)
            result = fold(states, mine, codec)
            states.update(result.states)
            records += len(mine)
            dead += len(result.dead_letters)
            if cut or (point.at_sequence is not None and reached):
                break
    if not reached:
        raise SequenceNotFound(
            f"session {session_id} has no record with sequence {point.at_sequence}"
        )
    return PastState(states.get(session_id), records, dead)


def _until_time(records: list[Record], at_ms: int) -> tuple[list[Record], bool]:
    """``records`` before the first with a timestamp after ``at_ms``; whether one was."""
    for index, record in enumerate(records):
        if record.timestamp > at_ms:
            return records[:index], True
    return records, False


def _through_sequence(
    records: list[Record], sequence: int, codec: Decoder
) -> tuple[list[Record], bool]:
    """``records`` up to and including the first numbered ``sequence``; whether it was seen."""
    for index, record in enumerate(records):
        try:
            event = codec.decode(record.value)
        except DecodeError:
            continue
        if event["sequence"] == sequence:
            return records[: index + 1], True
    return records, False
