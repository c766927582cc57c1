"""Several producer instances on one session, and a restarted one, break no ordering rule."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from itertools import pairwise

from sessionflow.core.settings import KafkaSettings
from sessionflow.producers.sdk import SessionEventProducer
from sessionflow.producers.settings import ProducerSettings
from sessionflow.schemas import EventCodec, EventEnvelope
from sessionflow.schemas.ids import new_session_id
from tests.producers.conftest import read_all
from tests.producers.referee import verdicts

CODEC = EventCodec()
AUTO = {"approval_mode": "auto"}


async def topic_events(kafka: KafkaSettings) -> list[EventEnvelope]:
    return [CODEC.decode_model(r.value) for r in await read_all(kafka)]


def numbers_by_producer(events: list[EventEnvelope]) -> dict[str | None, list[int]]:
    numbers: dict[str | None, list[int]] = defaultdict(list)
    for event in events:
        numbers[event.producer_id].append(event.sequence)
    return dict(numbers)


async def test_two_producers_on_one_session_break_no_rule(events_kafka: KafkaSettings) -> None:
    session = new_session_id()
    chat = SessionEventProducer(events_kafka, ProducerSettings(source="chat-api"))
    tools = SessionEventProducer(events_kafka, ProducerSettings(source="tool-runner"))
    async with chat, tools:
        await chat.session_created(session, config=AUTO)
        await chat.session_activated(session)
        asked = await chat.message_created(session, message_id="m1", role="user", content="q")
        await chat.tool_call_pending(
            session, tool_call_id="c1", message_id="m1", tool_name="search",
            arguments="{}", approval_mode="auto",
        )  # fmt: skip
        await tools.tool_call_completed(session, tool_call_id="c1", result="{}", duration_ms=5)
        await tools.message_created(session, message_id="m2", role="tool", content="found")

        async def stream() -> None:  # the chat API streams while the tool runner reports
            await chat.stream_started(session, stream_id="s1")
            for index in range(30):
                await chat.stream_chunk(session, stream_id="s1", chunk_index=index, delta="x")
            await chat.stream_ended(
                session, stream_id="s1", finish_reason="stop", chunk_count=30, duration_ms=9
            )

        async def report() -> None:
            for index in range(30):
                await tools.message_updated(session, message_id="m2", content=f"found {index}")

        await asyncio.gather(stream(), report())
        await chat.session_ended(session, outcome="completed")

    events = await topic_events(events_kafka)
    numbers = numbers_by_producer(events)
    sources = [e.source for e in events]
    switches = sum(a != b for a, b in pairwise(sources))

    assert verdicts(events) == [None] * len(events) == [None] * 69
    assert chat.producer_id != tools.producer_id
    assert numbers == {
        chat.producer_id: list(range(1, 38)),
        tools.producer_id: list(range(1, 33)),
    }
    assert switches > 5  # the two scopes really interleave on the topic
    assert asked.sequence == 3


async def test_a_restarted_producer_continues_a_session_without_breaking_a_rule(
    events_kafka: KafkaSettings,
) -> None:
    session = new_session_id()
    settings = ProducerSettings(source="chat-api")
    async with SessionEventProducer(events_kafka, settings) as before:
        await before.session_created(session, config=AUTO)
        await before.session_activated(session)
        await before.message_created(session, message_id="m1", role="user", content="hi")
    async with SessionEventProducer(events_kafka, settings) as after:  # the service restarted
        first = await after.message_created(session, message_id="m2", role="assistant", content="x")
        await after.session_ended(session, outcome="completed")

    events = await topic_events(events_kafka)

    assert verdicts(events) == [None] * 5
    assert after.producer_id != before.producer_id
    assert numbers_by_producer(events) == {before.producer_id: [1, 2, 3], after.producer_id: [1, 2]}
    assert (first.sequence, first.producer_id) == (1, after.producer_id)
    assert {e.source for e in events} == {"chat-api"}


async def test_past_the_session_bound_the_producer_id_rotates_into_a_new_scope(
    events_kafka: KafkaSettings,
) -> None:
    sessions = [new_session_id() for _ in range(3)]
    settings = ProducerSettings(source="chat-api", max_tracked_sessions=2)
    async with SessionEventProducer(events_kafka, settings) as producer:
        first_id = producer.producer_id
        for session in sessions[:2]:
            await producer.session_created(session, config=AUTO)
            await producer.session_activated(session)
        third = await producer.session_created(sessions[2], config=AUTO)  # one too many
        back = await producer.session_suspended(sessions[0])

    events = await topic_events(events_kafka)
    by_session = {
        s: [(e.producer_id, e.sequence) for e in events if e.session_id == s] for s in sessions
    }

    assert verdicts(events) == [None] * 6
    assert third.producer_id == back.producer_id == producer.producer_id != first_id
    assert producer.sequences.rotations == 1
    assert by_session == {
        sessions[0]: [(first_id, 1), (first_id, 2), (producer.producer_id, 1)],
        sessions[1]: [(first_id, 1), (first_id, 2)],
        sessions[2]: [(producer.producer_id, 1)],
    }
