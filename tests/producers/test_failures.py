"""Failures surface as typed errors in bounded time; a killed producer loses no acked event."""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import tempfile
import threading
import time
from collections import Counter, defaultdict
from pathlib import Path

import pytest

from sessionflow.core.local_kafka import LocalKafka, LocalKafkaSettings
from sessionflow.core.settings import KafkaSettings, PathSettings
from sessionflow.core.topic_reader import read_topic
from sessionflow.producers.errors import (
    BrokerUnavailableError,
    DeliveryTimeoutError,
    TopicNotFoundError,
)
from sessionflow.producers.sdk import SessionEventProducer
from sessionflow.producers.settings import ProducerSettings, TopicSettings
from sessionflow.producers.sync import SyncSessionEventProducer
from sessionflow.producers.topics import create_topics
from sessionflow.schemas.codec import EventCodec
from sessionflow.schemas.ids import new_session_id
from sessionflow.testing.kafka import free_ports, kafka_env
from tests.producers.conftest import read_all
from tests.producers.referee import verdicts

CODEC = EventCodec()
CHILD = Path(__file__).with_name("kill_child.py")
ACKS_BEFORE_KILL = 5000


def _unreachable() -> KafkaSettings:
    return KafkaSettings(bootstrap_servers=f"127.0.0.1:{free_ports(1)[0]}", topic="nowhere")


async def test_unreachable_broker_is_a_typed_error_in_bounded_time() -> None:
    settings = ProducerSettings(start_timeout_ms=3000)
    started = time.monotonic()

    with pytest.raises(BrokerUnavailableError):
        await SessionEventProducer(_unreachable(), settings).start()

    assert time.monotonic() - started < 10


def test_sync_facade_unreachable_broker_is_the_same_typed_error() -> None:
    producer = SyncSessionEventProducer(_unreachable(), ProducerSettings(start_timeout_ms=3000))

    with pytest.raises(BrokerUnavailableError):
        producer.start()


async def test_missing_topic_is_a_typed_error(kafka: KafkaSettings, topic_name: str) -> None:

    with pytest.raises(TopicNotFoundError, match=topic_name):
        await SessionEventProducer(kafka).start()


async def test_broker_gone_mid_stream_fails_sends_and_stop_in_bounded_time(
    topic_name: str,
) -> None:
    settings = ProducerSettings(delivery_timeout_ms=3000, close_timeout_ms=2000)
    with tempfile.TemporaryDirectory(prefix="sessionflow-dying-kafka-") as tmp:
        port, controller_port = free_ports(2)
        local = LocalKafkaSettings(port=port, controller_port=controller_port)
        broker = LocalKafka(local, PathSettings(data_dir=Path(tmp)))
        kafka = KafkaSettings(bootstrap_servers=broker.up().bootstrap_servers, topic=topic_name)
        try:
            await create_topics(kafka, TopicSettings(partitions=2))
            producer = SessionEventProducer(kafka, settings)
            await producer.start()
            session = new_session_id()
            await producer.session_activated(session)
        finally:
            broker.down()
        started = time.monotonic()

        with pytest.raises(DeliveryTimeoutError):
            await producer.session_suspended(session)
        failed = time.monotonic()
        await producer.stop()
        stopped = time.monotonic()

        assert failed - started < 3 + 3, f"send failed after {failed - started:.1f}s"
        assert stopped - failed < 2 + 6, f"stop took {stopped - failed:.1f}s"


async def test_a_timed_out_event_is_resent_identically_once_the_broker_is_back(
    topic_name: str,
) -> None:
    settings = ProducerSettings(delivery_timeout_ms=3000, close_timeout_ms=10_000)
    with tempfile.TemporaryDirectory(prefix="sessionflow-restarting-kafka-") as tmp:
        port, controller_port = free_ports(2)
        local = LocalKafkaSettings(port=port, controller_port=controller_port)
        broker = LocalKafka(local, PathSettings(data_dir=Path(tmp)))
        kafka = KafkaSettings(bootstrap_servers=broker.up().bootstrap_servers, topic=topic_name)
        session = new_session_id()
        try:
            await create_topics(kafka, TopicSettings(partitions=2, retention_ms=-1))
            async with SessionEventProducer(kafka, settings) as producer:
                await producer.session_created(session, config={"approval_mode": "auto"})
                await asyncio.to_thread(broker.down)
                with pytest.raises(DeliveryTimeoutError) as caught:
                    await producer.session_activated(session)
                await asyncio.to_thread(broker.up)
                resent = await producer.resend(caught.value)
                after = await producer.session_suspended(session)
            records = await read_topic(kafka, topic_name)
        finally:
            broker.down()
    sent = caught.value.event
    assert sent is not None
    copies = [r for r in records if CODEC.decode(r.value)["event_id"] == sent.event_id]
    events = [CODEC.decode_model(r.value) for r in records]

    assert (resent.event_id, resent.sequence, resent.producer_id) == (
        sent.event_id, 2, producer.producer_id
    )  # fmt: skip
    assert after.sequence == 3  # the retried event kept its number: no gap, no repeat
    assert 1 <= len(copies) <= 2  # resent, and maybe also delivered late: readers collapse it
    assert {(r.key, r.value, r.timestamp) for r in copies} == {
        (sent.key, sent.value, sent.timestamp_ms)
    }
    assert [v for v in verdicts(events) if v != "duplicate_event_id"] == [None] * 3


def _read_acks(stream: object, acked: list[str], enough: threading.Event) -> None:
    for line in stream:  # type: ignore[attr-defined]
        if line.endswith(b"\n"):
            acked.append(line.decode().strip())
            if len(acked) >= ACKS_BEFORE_KILL:
                enough.set()
    enough.set()  # EOF: the child ended (the test then fails on the count)


async def test_killed_producer_process_loses_no_acknowledged_event(
    events_kafka: KafkaSettings, tmp_path: Path
) -> None:
    stderr = (tmp_path / "child.err").open("wb")
    child = subprocess.Popen(  # noqa: ASYNC220 - a plain child process, started once
        [sys.executable, str(CHILD)],
        env={**os.environ, **kafka_env(events_kafka)},
        stdout=subprocess.PIPE,
        stderr=stderr,
    )
    acked: list[str] = []
    enough = threading.Event()
    reader = threading.Thread(target=_read_acks, args=(child.stdout, acked, enough))
    reader.start()
    try:
        assert enough.wait(timeout=120), "child produced too few acks"
        assert child.poll() is None, (tmp_path / "child.err").read_text()
    finally:
        os.kill(child.pid, signal.SIGKILL)
        child.wait()
        reader.join()
    assert len(acked) >= ACKS_BEFORE_KILL

    events = [CODEC.decode(r.value) for r in await read_all(events_kafka)]
    counts = Counter(e["event_id"] for e in events)
    sequences: dict[str, list[int]] = defaultdict(list)
    for event in events:
        sequences[event["session_id"]].append(event["sequence"])

    assert [i for i in acked if counts[i] != 1] == []  # every acked event, exactly once
    assert max(counts.values()) == 1  # idempotence: no duplicates at all
    assert all(s == list(range(1, len(s) + 1)) for s in sequences.values())  # no holes
