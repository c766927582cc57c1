"""Per-session order holds across partitions, whichever SDK path sent the events."""

from __future__ import annotations

import asyncio
import random
from collections import defaultdict
from collections.abc import Iterator
from datetime import UTC, datetime
from typing import Any

from sessionflow.core.kafka_clients import new_producer
from sessionflow.core.settings import KafkaSettings
from sessionflow.producers.partitioning import partition_for
from sessionflow.producers.sdk import SessionEventProducer
from sessionflow.producers.settings import ProducerSettings
from sessionflow.schemas.codec import EventCodec
from sessionflow.schemas.enums import EventType
from sessionflow.schemas.ids import new_event_id, new_session_id
from sessionflow.schemas.models import EventEnvelope, StreamChunk
from tests.producers.conftest import read_all

CODEC = EventCodec()
SESSIONS, EVENTS = 60, 25


def _interleaved(sessions: list[str], per_session: int, seed: int) -> Iterator[tuple[str, int]]:
    """(session, k) with k = 0..per_session-1 in order per session, sessions shuffled together."""
    rng, left = random.Random(seed), {s: 0 for s in sessions}
    while left:
        session = rng.choice(list(left))
        yield session, left[session]
        left[session] += 1
        if left[session] == per_session:
            del left[session]


def _by_session(records: list[Any]) -> dict[str, list[tuple[int, int, int]]]:
    """session -> [(partition, offset, sequence)] in the order the topic holds them."""
    seen: dict[str, list[tuple[int, int, int]]] = defaultdict(list)
    for record in records:
        event = CODEC.decode(record.value)
        seen[event["session_id"]].append((record.partition, record.offset, event["sequence"]))
    return seen


def _assert_ordered(records: list[Any], sessions: list[str], per_session: int) -> None:
    seen = _by_session(records)
    assert set(seen) == set(sessions)
    used_partitions = set()
    for session, rows in seen.items():
        partitions = {p for p, _, _ in rows}
        assert partitions == {partition_for(session.encode(), 6)}, session
        used_partitions |= partitions
        offsets = [o for _, o, _ in rows]
        assert offsets == sorted(offsets)
        assert [seq for _, _, seq in rows] == list(range(1, per_session + 1)), session
    assert len(used_partitions) > 1  # the sessions really were spread over partitions


async def test_order_per_session_with_pipelined_and_concurrent_sends(
    events_kafka: KafkaSettings, producer_settings: ProducerSettings
) -> None:
    sessions = [new_session_id() for _ in range(SESSIONS)]
    pipelined, concurrent = sessions[: SESSIONS // 2], sessions[SESSIONS // 2 :]

    async def await_each(group: list[str], seed: int) -> None:
        for session, k in _interleaved(group, EVENTS, seed):
            await producer.stream_chunk(session, stream_id="s1", chunk_index=k, delta=f"d{k}")

    async with SessionEventProducer(events_kafka, producer_settings) as producer:
        futures = [
            await producer.enqueue.stream_chunk(session, stream_id="s1", chunk_index=k, delta="x")
            for session, k in _interleaved(pipelined, EVENTS, seed=1)
        ]
        await asyncio.gather(*(await_each(concurrent[i::5], seed=i) for i in range(5)), *futures)

    _assert_ordered(await read_all(events_kafka), sessions, EVENTS)


def _envelope(session: str, k: int) -> EventEnvelope:
    return EventEnvelope(
        event_id=new_event_id(),
        event_type=EventType.STREAM_CHUNK,
        session_id=session,
        sequence=k + 1,
        occurred_at=datetime(2026, 1, 1, tzinfo=UTC),
        source="bulk-test",
        payload=StreamChunk(stream_id="s1", chunk_index=k, delta="x" * (k % 7)),
    )


async def test_order_per_session_when_bulk_and_single_sends_mix(
    events_kafka: KafkaSettings, producer_settings: ProducerSettings
) -> None:
    sessions = [new_session_id() for _ in range(SESSIONS)]
    schedule = list(_interleaved(sessions, EVENTS, seed=7))
    head, tail = schedule[: len(schedule) // 2], schedule[len(schedule) // 2 :]
    async with SessionEventProducer(events_kafka, producer_settings) as producer:
        first = await producer.send_many(_envelope(s, k) for s, k in head)
        singles = [await producer.enqueue_envelope(_envelope(s, k)) for s, k in tail[:100]]
        rest = await producer.send_many(_envelope(s, k) for s, k in tail[100:])
        await asyncio.gather(*singles)

    assert first.sent + len(singles) + rest.sent == SESSIONS * EVENTS
    assert sum(first.by_partition.values()) == first.sent
    _assert_ordered(await read_all(events_kafka), sessions, EVENTS)


async def test_partition_choice_matches_aiokafkas_default_partitioner(
    events_kafka: KafkaSettings, producer_settings: ProducerSettings
) -> None:
    sessions = [new_session_id() for _ in range(40)]
    async with SessionEventProducer(events_kafka, producer_settings) as producer:
        ours = {s: (await producer.session_activated(s)).partition for s in sessions}
    bare = new_producer(events_kafka)
    async with bare:
        theirs = {
            s: (await bare.send_and_wait(events_kafka.topic, b"x", key=s.encode())).partition
            for s in sessions
        }

    assert ours == theirs
