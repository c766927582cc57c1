"""Every path stamps its records with the event's occurred_at; refused times fail before sending."""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition

from sessionflow.core.kafka_clients import new_consumer
from sessionflow.core.settings import KafkaSettings
from sessionflow.producers.delivery import EncodedRecord
from sessionflow.producers.errors import EventValidationFailedError
from sessionflow.producers.event_time import check_records
from sessionflow.producers.partitioning import partition_for
from sessionflow.producers.sdk import SessionEventProducer
from sessionflow.producers.settings import ProducerSettings
from sessionflow.schemas import DecodeError, EventCodec, EventEnvelope, EventType
from sessionflow.schemas.ids import new_event_id, new_session_id
from sessionflow.schemas.models import MessageCreated
from sessionflow.testing import kafka_env
from sessionflow.testing.kafka import free_ports
from tests.producers.conftest import read_all

CODEC = EventCodec()
HOUR = timedelta(hours=1)


def epoch_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)


def now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def message(session: str, sequence: int, at: datetime) -> EventEnvelope:
    return EventEnvelope(
        event_id=new_event_id(),
        event_type=EventType.MESSAGE_CREATED,
        session_id=session,
        sequence=sequence,
        occurred_at=at,
        source="time-test",
        payload=MessageCreated(message_id=f"m{sequence}", role="user", content="hi"),
    )


def stamps(records: list[Any]) -> list[tuple[int, int | None]]:
    """(record timestamp, occurred_at in ms or None for undecodable bytes), topic order."""
    found: list[tuple[int, int | None]] = []
    for record in records:
        assert record.timestamp_type == 0  # CreateTime: the producer's timestamp is kept
        try:
            event = CODEC.decode_model(record.value)
        except DecodeError:
            found.append((record.timestamp, None))
            continue
        found.append((record.timestamp, epoch_ms(event.occurred_at)))
    return found


async def test_every_sdk_path_stamps_records_with_occurred_at(
    events_kafka: KafkaSettings, producer_settings: ProducerSettings
) -> None:
    session, base = new_session_id(), now() - 3 * HOUR
    raw_time = epoch_ms(base - HOUR)
    before = time.time_ns() // 1_000_000
    async with SessionEventProducer(events_kafka, producer_settings) as producer:
        await producer.session_activated(session)  # occurred_at: now
        await producer.with_context(occurred_at=base + HOUR).session_suspended(session)
        await producer.emit(message(session, 1, base))  # older than the event before it
        await (await producer.enqueue_envelope(message(session, 2, base + 2 * HOUR)))
        await producer.send_many([message(session, 3, base - HOUR), message(session, 4, base)])
        await producer.send_encoded([EncodedRecord(session, b"not an event", raw_time)])
    after = time.time_ns() // 1_000_000

    found = stamps(await read_all(events_kafka))

    assert [t for t, occurred in found if occurred is not None] == [o for _, o in found if o]
    assert before <= found[0][0] <= after
    assert [t for t, _ in found[1:]] == [
        epoch_ms(base + HOUR), epoch_ms(base), epoch_ms(base + 2 * HOUR),
        epoch_ms(base - HOUR), epoch_ms(base), raw_time,
    ]  # fmt: skip
    assert found[-1] == (raw_time, None)


async def test_offsets_for_times_finds_events_by_their_event_time(
    events_kafka: KafkaSettings,
) -> None:
    session, base = new_session_id(), now() - 2 * HOUR
    events = [message(session, k + 1, base + timedelta(seconds=k)) for k in range(20)]
    async with SessionEventProducer(events_kafka, ProducerSettings()) as producer:
        offsets = [(await producer.emit(event)).offset for event in events]
    partition = TopicPartition(events_kafka.topic, partition_for(session.encode(), 6))

    consumer = new_consumer(events_kafka)
    async with consumer:
        found = [
            (await consumer.offsets_for_times({partition: epoch_ms(e.occurred_at) - 500}))[
                partition
            ]
            for e in events
        ]
        later = await consumer.offsets_for_times({partition: epoch_ms(base) + 60_000})

    assert [f.offset for f in found if f is not None] == offsets
    assert [f.timestamp for f in found if f is not None] == [
        epoch_ms(e.occurred_at) for e in events
    ]
    assert later[partition] is None  # nothing that late in event time


async def test_times_the_topic_would_refuse_fail_before_anything_is_sent(
    events_kafka: KafkaSettings, producer_settings: ProducerSettings
) -> None:
    session = new_session_id()
    too_late = datetime.now(UTC) + 2 * HOUR
    too_early = datetime(1969, 12, 31, 23, 59, tzinfo=UTC)
    async with SessionEventProducer(events_kafka, producer_settings) as producer:
        with pytest.raises(EventValidationFailedError, match=r"(120 min|2\.0 h) ahead") as ahead:
            await producer.with_context(occurred_at=too_late).session_activated(session)
        with pytest.raises(EventValidationFailedError, match="before 1970") as early:
            await producer.emit(message(session, 1, too_early))
        with pytest.raises(EventValidationFailedError, match="record 2 ") as bulk:
            check_records([EncodedRecord(session, b"x", 0), EncodedRecord(session, b"x", -5)])
        first = await producer.session_activated(session)

    (record,) = await read_all(events_kafka)

    assert all("\n" not in str(e.value) for e in (ahead, early, bulk))
    assert str(ahead.value).startswith("session.activated: occurred_at ")
    assert first.sequence == 1  # the refused event used no number
    assert CODEC.decode(record.value)["event_id"] == first.event_id


def run_cli(kafka: KafkaSettings, *args: str, **extra: str) -> subprocess.CompletedProcess[str]:
    """``python -m sessionflow.cli ARGS`` as a user runs it, against ``kafka``."""
    env = {**os.environ, **kafka_env(kafka), "COLUMNS": "120", **extra}
    env.pop("CLICKHOUSE_DSN", None)  # the demo: the embedded engine, in the test's data dir
    return subprocess.run(
        [sys.executable, "-m", "sessionflow.cli", *args],
        env=env, capture_output=True, text=True, timeout=240, check=False,
    )  # fmt: skip


def test_produce_stamps_each_record_with_its_lines_time(
    events_kafka: KafkaSettings, tmp_path: Path
) -> None:
    session, base = new_session_id(), now() - 5 * HOUR
    times = [base, base - HOUR, base + HOUR]
    lines = [
        {"event_type": "session.activated", "session_id": session, "payload": {},
         "occurred_at": moment.isoformat()}
        for moment in times
    ]  # fmt: skip
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(json.dumps(line) for line in lines) + "\n")

    result = run_cli(events_kafka, "produce", str(source))
    found = stamps(asyncio_read(events_kafka))

    assert result.returncode == 0, result.stderr
    assert found == [(epoch_ms(t), epoch_ms(t)) for t in times]


def test_produce_refuses_a_file_with_a_time_too_far_ahead_and_sends_nothing(
    events_kafka: KafkaSettings, tmp_path: Path
) -> None:
    session = new_session_id()
    lines = [
        {"event_type": "session.activated", "session_id": session, "payload": {}},
        {"event_type": "session.suspended", "session_id": session, "payload": {},
         "occurred_at": (datetime.now(UTC) + 3 * HOUR).isoformat()},
    ]  # fmt: skip
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join(json.dumps(line) for line in lines) + "\n")

    result = run_cli(events_kafka, "produce", str(source))

    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert f"record 2 (session {session}): occurred_at" in result.stderr
    assert "3.0 h ahead of this clock; the topic accepts at most 60 min ahead" in result.stderr
    assert "Traceback" not in result.stderr
    assert asyncio_read(events_kafka) == []


def test_simulate_from_an_explicit_start_stamps_event_times(events_kafka: KafkaSettings) -> None:
    start = now() - 6 * HOUR
    args = ["simulate", "--sessions", "6", "--seed", "3", "--start", start.isoformat()]

    result = run_cli(events_kafka, *args, "--anomalies", "--anomaly-count", "1")
    found = stamps(asyncio_read(events_kafka))

    assert result.returncode == 0, result.stderr
    assert all(t == occurred for t, occurred in found if occurred is not None)
    assert min(t for t, _ in found) == epoch_ms(start)  # the first carrier session starts then
    assert sum(occurred is None for _, occurred in found) == 1  # the undecodable record
    assert all(epoch_ms(start) <= t < epoch_ms(start + 2 * HOUR) for t, _ in found)


def test_simulate_that_would_run_too_far_ahead_is_refused_before_sending(
    events_kafka: KafkaSettings,
) -> None:
    args = ["simulate", "--sessions", "80", "--concurrency", "1", "--start", "now"]

    result = run_cli(events_kafka, *args)

    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0, result.stderr
    assert "ahead of this clock; the topic accepts at most 60 min ahead" in result.stderr
    assert "Traceback" not in result.stderr
    assert asyncio_read(events_kafka) == []


def test_demo_sends_sessions_that_start_now(
    kafka: KafkaSettings, topic_name: str, tmp_path: Path
) -> None:
    processor_port, sink_port = free_ports(2)
    where = {
        "SESSIONFLOW_DATA_DIR": str(tmp_path),
        "SESSIONFLOW_PROCESSOR_WEB_PORT": str(processor_port),
        "SESSIONFLOW_SINK_HTTP_PORT": str(sink_port),
        "SESSIONFLOW_PROCESSOR_APP_ID": f"app-{topic_name}",
        "SESSIONFLOW_SINK_GROUP_ID": f"sink-{topic_name}",
    }
    before = time.time_ns() // 1_000_000
    try:
        result = run_cli(kafka, "demo", "--sessions", "5", **where)
        after = time.time_ns() // 1_000_000
    finally:
        run_cli(kafka, "down", **where)  # the demo leaves the pipeline up
    simulated = stamps(asyncio_read(kafka))

    assert result.returncode == 0, result.stdout + result.stderr
    assert simulated
    assert all(t == occurred for t, occurred in simulated if occurred is not None)
    # live traffic: the first session starts while the demo runs, the others follow it
    assert min(t for t, _ in simulated) in range(before - 1000, after + 1)


def asyncio_read(kafka: KafkaSettings) -> list[Any]:
    return asyncio.run(read_all(kafka))
