"""The sync facade: the same typed methods, blocking, usable from several threads."""

from __future__ import annotations

import asyncio
from collections import defaultdict
from concurrent.futures import ThreadPoolExecutor

import pytest

from sessionflow.core.settings import KafkaSettings
from sessionflow.producers.delivery import Delivery
from sessionflow.producers.errors import EventValidationFailedError, ProducerNotStartedError
from sessionflow.producers.settings import ProducerSettings
from sessionflow.producers.sync import SyncSessionEventProducer
from sessionflow.schemas.codec import EventCodec
from sessionflow.schemas.ids import new_session_id
from tests.producers.conftest import read_all

CODEC = EventCodec()
THREADS, EVENTS = 6, 40


def _session_thread(producer: SyncSessionEventProducer) -> list[Delivery]:
    session = new_session_id()
    producer.session_created(session, config={"approval_mode": "manual"}, name="sync")
    return [
        producer.message_created(session, message_id=f"m{k}", role="user", content=f"hi {k}")
        for k in range(EVENTS)
    ]


def _run_threads(
    kafka: KafkaSettings, settings: ProducerSettings
) -> tuple[str, list[list[Delivery]]]:
    with SyncSessionEventProducer(kafka, settings) as producer:
        with pytest.raises(EventValidationFailedError):
            producer.message_created("s", message_id="m", role="robot", content="x")
        with ThreadPoolExecutor(THREADS) as pool:
            results = list(pool.map(lambda _: _session_thread(producer), range(THREADS)))
        producer.flush()
    return producer.producer_id, results


async def test_sync_facade_from_threads_keeps_each_sessions_order(
    events_kafka: KafkaSettings, producer_settings: ProducerSettings
) -> None:
    producer_id, results = await asyncio.to_thread(_run_threads, events_kafka, producer_settings)

    sequences: dict[str, list[int]] = defaultdict(list)
    for record in await read_all(events_kafka):
        event = CODEC.decode(record.value)
        sequences[event["session_id"]].append(event["sequence"])
        assert event["producer_id"] == producer_id
    assert len(sequences) == THREADS
    assert all(s == list(range(1, EVENTS + 2)) for s in sequences.values())
    assert all([d.sequence for d in r] == list(range(2, EVENTS + 2)) for r in results)
    assert {d.producer_id for r in results for d in r} == {producer_id}


def test_sync_facade_before_start_is_a_typed_error() -> None:
    producer = SyncSessionEventProducer(KafkaSettings(bootstrap_servers="127.0.0.1:1"))

    with pytest.raises(ProducerNotStartedError):
        producer.session_activated(new_session_id())
    producer.stop()  # harmless when never started
