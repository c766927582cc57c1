"""Every event type goes through the SDK and comes back equal, on a real broker."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from sessionflow.core.settings import KafkaSettings
from sessionflow.producers.delivery import Delivery
from sessionflow.producers.errors import (
    DeliveryTimeoutError,
    EventValidationFailedError,
    ProducerError,
    ProducerNotStartedError,
)
from sessionflow.producers.methods import event_method_names
from sessionflow.producers.sdk import SessionEventProducer
from sessionflow.producers.settings import ProducerSettings
from sessionflow.producers.sync import SyncSessionEventProducer
from sessionflow.schemas.codec import EventCodec
from sessionflow.schemas.enums import EventType
from sessionflow.schemas.examples import example_events
from sessionflow.schemas.ids import new_session_id
from sessionflow.schemas.models import ContractModel
from tests.producers.conftest import read_all

CODEC = EventCodec()


def _fields(payload: ContractModel) -> dict[str, object]:
    return {name: getattr(payload, name) for name in type(payload).model_fields}


async def _send(
    producer: SessionEventProducer, session_id: str, payload: ContractModel
) -> Delivery:
    event_type = next(t for t, m in _payload_types().items() if m is type(payload))
    method = getattr(producer, event_method_names()[event_type])
    delivery: Delivery = await method(session_id, **_fields(payload))
    return delivery


def _payload_types() -> dict[EventType, type[ContractModel]]:
    return {e.event_type: type(e.payload) for e in example_events()}


# The README's promise, written out: one method per event type, dots as underscores.
DOCUMENTED_METHODS = {
    "session.created": "session_created",
    "session.activated": "session_activated",
    "session.suspended": "session_suspended",
    "session.ended": "session_ended",
    "message.created": "message_created",
    "message.updated": "message_updated",
    "tool_call.pending": "tool_call_pending",
    "tool_call.approved": "tool_call_approved",
    "tool_call.rejected": "tool_call_rejected",
    "tool_call.completed": "tool_call_completed",
    "tool_call.failed": "tool_call_failed",
    "stream.started": "stream_started",
    "stream.chunk": "stream_chunk",
    "stream.ended": "stream_ended",
    "error.occurred": "error_occurred",
}


def test_one_typed_method_per_event_type() -> None:
    names = {t.value: name for t, name in event_method_names().items()}
    producer = SessionEventProducer(KafkaSettings())

    assert names == DOCUMENTED_METHODS
    for name in DOCUMENTED_METHODS.values():
        assert callable(getattr(producer, name)), name
        assert callable(getattr(producer.enqueue, name)), name
        assert callable(getattr(SyncSessionEventProducer(KafkaSettings()), name)), name


async def test_every_event_type_round_trips(
    events_kafka: KafkaSettings, producer_settings: ProducerSettings
) -> None:
    session_id = new_session_id()
    examples = sorted(example_events(), key=lambda e: e.event_type is EventType.SESSION_ENDED)
    async with SessionEventProducer(events_kafka, producer_settings) as producer:
        deliveries = [await _send(producer, session_id, e.payload) for e in examples]

    records = await read_all(events_kafka)

    assert len(records) == len(examples)
    for record, delivery, example in zip(records, deliveries, examples, strict=True):
        event = CODEC.decode_model(record.value)
        # what the call returned is what the broker holds, field by field
        assert type(delivery) is Delivery
        assert (delivery.partition, delivery.offset) == (record.partition, record.offset)
        assert (delivery.event_id, delivery.sequence) == (event.event_id, event.sequence)
        assert uuid.UUID(delivery.event_id).version == 7
        assert record.key == session_id.encode()
        assert event.event_type == example.event_type
        assert event.payload == example.payload
        assert (event.session_id, event.source) == (session_id, "producer-tests")
    assert len({d.event_id for d in deliveries}) == len(examples)
    assert [CODEC.decode_model(r.value).sequence for r in records] == list(range(1, 16))


async def test_context_sets_envelope_fields(
    events_kafka: KafkaSettings, producer_settings: ProducerSettings
) -> None:
    session_id, at = new_session_id(), datetime(2026, 1, 2, 3, 4, 5, 678000, tzinfo=UTC)
    async with SessionEventProducer(events_kafka, producer_settings) as producer:
        first = await producer.session_activated(session_id, reason="start")
        view = producer.with_context(
            causation_id=first.event_id, correlation_id="req-1", occurred_at=at
        )
        await view.with_context(source="plugin:echo").session_suspended(session_id)

    (_, second) = [CODEC.decode_model(r.value) for r in await read_all(events_kafka)]

    assert (second.causation_id, second.correlation_id) == (first.event_id, "req-1")
    assert (second.occurred_at, second.source, second.sequence) == (at, "plugin:echo", 2)


async def test_invalid_payload_is_typed_and_uses_no_sequence(
    events_kafka: KafkaSettings, producer_settings: ProducerSettings
) -> None:
    session_id = new_session_id()
    async with SessionEventProducer(events_kafka, producer_settings) as producer:
        with pytest.raises(EventValidationFailedError, match="arguments"):
            await producer.tool_call_pending(
                session_id,
                tool_call_id="c1",
                message_id="m1",
                tool_name="search",
                arguments="{not json",
                approval_mode="auto",
            )
        with pytest.raises(EventValidationFailedError, match="session_id"):
            await producer.session_activated("")
        delivery = await producer.session_activated(session_id)

    assert delivery.sequence == 1


async def test_sequences_continue_after_the_session_ended(
    events_kafka: KafkaSettings, producer_settings: ProducerSettings
) -> None:
    session_id = new_session_id()
    async with SessionEventProducer(events_kafka, producer_settings) as producer:
        activated = await producer.session_activated(session_id)
        ended = await producer.session_ended(session_id, outcome="completed")
        late = await producer.error_occurred(
            session_id, error_code="INVALID_STATE", message="late", recoverable=True
        )
        producer_id = producer.producer_id

    events = [CODEC.decode_model(r.value) for r in await read_all(events_kafka)]

    assert [d.sequence for d in (activated, ended, late)] == [1, 2, 3]
    assert [(e.sequence, e.producer_id) for e in events] == [(n, producer_id) for n in (1, 2, 3)]
    assert {d.producer_id for d in (activated, ended, late)} == {producer_id}
    assert producer_id.startswith("producer-tests-")


async def test_emit_sends_an_envelope_as_is_and_leaves_the_counters_alone(
    events_kafka: KafkaSettings, producer_settings: ProducerSettings
) -> None:
    envelope = example_events()[1].model_copy(update={"sequence": 7})
    async with SessionEventProducer(events_kafka, producer_settings) as producer:
        emitted = await producer.emit(envelope)
        following = await producer.session_suspended(envelope.session_id)

    (record, second) = await read_all(events_kafka)

    assert CODEC.decode_model(record.value) == envelope
    assert (emitted.event_id, emitted.sequence, emitted.producer_id) == (
        envelope.event_id, 7, envelope.producer_id
    )  # fmt: skip
    assert (following.sequence, following.producer_id) == (1, producer.producer_id)
    assert following.producer_id != envelope.producer_id
    assert CODEC.decode_model(second.value).producer_id == producer.producer_id


async def test_resend_needs_the_event_a_single_send_failed_with(
    events_kafka: KafkaSettings, producer_settings: ProducerSettings
) -> None:
    async with SessionEventProducer(events_kafka, producer_settings) as producer:
        with pytest.raises(ProducerError, match="nothing to resend: DeliveryTimeoutError"):
            await producer.resend(DeliveryTimeoutError("3 of 9 records not acknowledged"))

    assert await read_all(events_kafka) == []


async def test_send_before_start_is_a_typed_error(events_kafka: KafkaSettings) -> None:
    producer = SessionEventProducer(events_kafka)

    with pytest.raises(ProducerNotStartedError):
        await producer.session_activated(new_session_id())
