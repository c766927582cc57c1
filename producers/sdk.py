"""The async producer SDK: :class:`SessionEventProducer`.

Usage::

    async with SessionEventProducer(KafkaSettings(), ProducerSettings(source="chat-api")) as p:
        sid = new_session_id()
        await p.session_created(sid, config=SessionConfig(approval_mode=ApprovalMode.AUTO))
        delivery = await p.message_created(sid, message_id="m1", role="user", content="hi")

Guarantees: aiokafka runs with ``enable_idempotence=True`` and ``acks="all"``; the key is the
session id, partitioned like aiokafka's default partitioner
(:mod:`sessionflow.producers.partitioning`); each event of a session gets the next sequence
(:mod:`sessionflow.producers.sequences`) at the moment it is appended to its partition's batch, so
sequence order is partition order. A typed method returns once the broker acknowledged the event, or
raises a :class:`ProducerError`: :class:`EventValidationFailedError` (nothing sent, no sequence
used), :class:`DeliveryFailedError`, :class:`DeliveryTimeoutError` (after ``delivery_timeout_ms``),
:class:`ProducerNotStartedError`. Waits are bounded by the settings' timeouts; aiokafka's own
retries of retriable errors happen inside the delivery timeout.

Throughput: ``await p.enqueue.<event>(...)`` returns once the event is queued, with a future
of its :class:`Delivery`, so one coroutine can pipeline many events. Bulk paths
(:meth:`send_many`, :meth:`send_encoded`) skip per-record futures entirely.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from datetime import datetime
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from sessionflow.core.kafka_clients import new_producer
from sessionflow.core.reachability import connect_failure
from sessionflow.core.settings import KafkaSettings
from sessionflow.producers.batching import Batch, PartitionBatcher
from sessionflow.producers.delivery import BulkResult, Delivery, EncodedRecord
from sessionflow.producers.errors import (
    BrokerUnavailableError,
    DeliveryFailedError,
    EventValidationFailedError,
    ProducerError,
    ProducerNotStartedError,
    TopicNotFoundError,
)
from sessionflow.producers.lifecycle import close_producer
from sessionflow.producers.methods import EnvelopeMeta, EventMethods, PayloadCall
from sessionflow.producers.partitioning import KeyPartitioner
from sessionflow.producers.sequences import SequenceAllocator
from sessionflow.producers.settings import ProducerSettings
from sessionflow.schemas.codec import EventCodec
from sessionflow.schemas.enums import EventType
from sessionflow.schemas.errors import EventValidationError
from sessionflow.schemas.ids import new_event_id
from sessionflow.schemas.models import ContractModel, EventEnvelope

DeliveryFuture = asyncio.Future[Delivery]


@dataclass(frozen=True)
class _Running:
    producer: AIOKafkaProducer
    batcher: PartitionBatcher
    router: KeyPartitioner


class SessionEventProducer(EventMethods[Coroutine[Any, Any, Delivery]]):
    """Async producer of session events; one per service process, started once, shared.

    ``kafka`` gives the brokers and the topic (``kafka.topic``); ``settings`` the batching,
    compression and timeouts; ``codec`` the writer schema (default: the latest published).
    """

    def __init__(
        self,
        kafka: KafkaSettings | None = None,
        settings: ProducerSettings | None = None,
        *,
        codec: EventCodec | None = None,
    ) -> None:
        self._kafka = kafka if kafka is not None else KafkaSettings()
        self._settings = settings if settings is not None else ProducerSettings()
        self._codec = codec if codec is not None else EventCodec()
        self._sequences = SequenceAllocator()
        self._running: _Running | None = None
        self.enqueue: EventMethods[Coroutine[Any, Any, DeliveryFuture]] = _EnqueueView(self)
        """The typed methods, returning a future of the delivery once the event is queued."""

    @property
    def topic(self) -> str:
        """The topic events are sent to."""
        return self._kafka.topic

    @property
    def sequences(self) -> SequenceAllocator:
        """Per-session sequence counters; seed them to continue sessions after a restart."""
        return self._sequences

    @property
    def settings(self) -> ProducerSettings:
        """The producer settings in use."""
        return self._settings

    # ------------------------------------------------------------------ lifecycle

    async def start(self) -> None:
        """Connect and check the topic exists, within ``start_timeout_ms``.

        Raises :class:`BrokerUnavailableError` or :class:`TopicNotFoundError`.
        """
        if self._running is not None:
            return
        producer = new_producer(self._kafka, **self._settings.aiokafka_kwargs())
        timeout = self._settings.start_timeout_ms / 1000
        started = time.monotonic()
        try:
            partitions = await asyncio.wait_for(self._connect(producer), timeout)
        except BaseException as exc:
            await close_producer(producer, timeout_s=1.0)
            if isinstance(exc, TimeoutError | KafkaError | OSError):
                elapsed = time.monotonic() - started
                message = await connect_failure(self._kafka, exc, elapsed, timeout)
                raise BrokerUnavailableError(message) from exc
            raise
        batcher = PartitionBatcher(
            producer,
            self.topic,
            partitions,
            linger_s=self._settings.linger_ms / 1000,
            delivery_timeout_s=self._settings.delivery_timeout_ms / 1000,
        )
        self._running = _Running(producer, batcher, KeyPartitioner(partitions))

    async def _connect(self, producer: AIOKafkaProducer) -> int:
        await producer.start()
        cluster = await producer.client.fetch_all_metadata()  # no topic auto-creation
        if not cluster.partitions_for_topic(self.topic):
            raise TopicNotFoundError(
                f"topic {self.topic!r} does not exist; run `sessionflow topics create`"
            )
        return len(await producer.partitions_for(self.topic))

    async def stop(self) -> None:
        """Flush within ``close_timeout_ms`` and disconnect; idempotent.

        Raises :class:`DeliveryTimeoutError` if events were still unacknowledged (they are
        failed with the same error); the connection is closed either way.
        """
        running, self._running = self._running, None
        if running is None:
            return
        try:
            await running.batcher.close(self._settings.close_timeout_ms / 1000)
        finally:
            await close_producer(running.producer, timeout_s=self._settings.close_timeout_ms / 1000)

    async def __aenter__(self) -> SessionEventProducer:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def flush(self) -> None:
        """Send everything queued now and wait for every acknowledgement (or failure).

        Raises :class:`DeliveryTimeoutError` after ``delivery_timeout_ms``.
        """
        await self._require_running().batcher.flush(self._settings.delivery_timeout_ms / 1000)

    # ------------------------------------------------------------------ single events

    def _dispatch_with(
        self, meta: EnvelopeMeta, call: PayloadCall
    ) -> Coroutine[Any, Any, Delivery]:
        return self._send_call(meta, call)

    async def _send_call(self, meta: EnvelopeMeta, call: PayloadCall) -> Delivery:
        waiter = await self.enqueue_call(meta, call)
        return await waiter

    async def enqueue_call(self, meta: EnvelopeMeta, call: PayloadCall) -> DeliveryFuture:
        """Validate, number, encode and queue one typed call; a future of its delivery."""
        payload = call.build()
        running = self._require_running()
        key, partition = running.router.route(call.session_id)
        if running.batcher.full(partition):
            await running.batcher.wait_room(partition)
            running = self._require_running()
        sequence = self._sequences.peek(call.session_id)
        event_id = new_event_id()
        value = self._encode_call(meta, call, payload, event_id, sequence)
        waiter = self._append(running, key, partition, value, event_id, sequence)
        self._after_send(call.session_id, call.event_type, sequence)
        return waiter

    async def emit(self, envelope: EventEnvelope) -> Delivery:
        """Send a complete envelope as it is (its event_id, sequence, timestamps).

        The session's counter continues after ``envelope.sequence``.
        """
        waiter = await self.enqueue_envelope(envelope)
        return await waiter

    async def enqueue_envelope(self, envelope: EventEnvelope) -> DeliveryFuture:
        """:meth:`emit`, returning a future of the delivery once the envelope is queued."""
        running = self._require_running()
        key, partition = running.router.route(envelope.session_id)
        if running.batcher.full(partition):
            await running.batcher.wait_room(partition)
            running = self._require_running()
        value = self._encode_envelope(envelope)
        waiter = self._append(running, key, partition, value, envelope.event_id, envelope.sequence)
        self._after_send(envelope.session_id, envelope.event_type, envelope.sequence)
        return waiter

    # ------------------------------------------------------------------ bulk

    async def send_many(self, envelopes: Iterable[EventEnvelope]) -> BulkResult:
        """Bulk-send complete envelopes as they are; returns once all are acknowledged.

        Encodes lazily: an invalid envelope raises :class:`EventValidationFailedError` after
        the ones before it were queued (validate first if that matters). Sequence counters
        are not touched. Same ordering and errors as :meth:`send_encoded`.
        """
        encode = self._encode_envelope
        return await self.send_encoded(EncodedRecord(e.session_id, encode(e)) for e in envelopes)

    async def send_encoded(self, records: Iterable[EncodedRecord]) -> BulkResult:
        """Bulk-send pre-encoded records (key = session id); returns once all are acknowledged.

        Records are appended to the same per-partition batches as single events, in iteration
        order, with no per-record future. Raises :class:`DeliveryFailedError` naming how many
        records of this call were not acknowledged (the others were written).
        """
        running = self._require_running()
        batcher, route, limit = running.batcher, running.router.route, self._settings
        counts: dict[Batch, int] = {}
        for key, value in records:
            raw, partition = route(key)
            if len(value) > limit.max_request_size:
                raise EventValidationFailedError(f"record of {len(value)} bytes is too large")
            if batcher.full(partition):
                await batcher.wait_room(partition)
                running = self._require_running()
            batch, _ = batcher.append(partition, raw, value)
            counts[batch] = counts.get(batch, 0) + 1
        return await _await_batches(batcher, counts)

    # ------------------------------------------------------------------ helpers

    def _require_running(self) -> _Running:
        if self._running is None:
            raise ProducerNotStartedError("call start() (or use `async with`) before sending")
        return self._running

    def _encode_call(
        self,
        meta: EnvelopeMeta,
        call: PayloadCall,
        payload: ContractModel,
        event_id: str,
        sequence: int,
    ) -> bytes:
        try:
            return self._codec.encode_parts(
                event_id,
                call.event_type.value,
                call.session_id,
                sequence,
                _millis(meta.occurred_at),
                meta.source or self._settings.source,
                meta.causation_id,
                meta.correlation_id,
                payload,
            )
        except EventValidationError as exc:
            raise EventValidationFailedError(str(exc)) from exc

    def _encode_envelope(self, envelope: EventEnvelope) -> bytes:
        try:
            return self._codec.encode(envelope)
        except EventValidationError as exc:
            raise EventValidationFailedError(str(exc)) from exc

    def _append(
        self,
        running: _Running,
        key: bytes,
        partition: int,
        value: bytes,
        event_id: str,
        sequence: int,
    ) -> DeliveryFuture:
        if len(value) > self._settings.max_request_size:
            raise EventValidationFailedError(
                f"event of {len(value)} bytes exceeds max_request_size "
                f"{self._settings.max_request_size}"
            )
        batch, index = running.batcher.append(partition, key, value)
        return running.batcher.track(batch, index, event_id, sequence)

    def _after_send(self, session_id: str, event_type: EventType, sequence: int) -> None:
        if event_type is EventType.SESSION_ENDED:
            self._sequences.forget(session_id)
        else:
            self._sequences.commit(session_id, sequence)


class _EnqueueView(EventMethods[Coroutine[Any, Any, DeliveryFuture]]):
    """``producer.enqueue``: typed methods that return once the event is queued."""

    def __init__(self, producer: SessionEventProducer) -> None:
        self._producer = producer

    def _dispatch_with(
        self, meta: EnvelopeMeta, call: PayloadCall
    ) -> Coroutine[Any, Any, DeliveryFuture]:
        return self._producer.enqueue_call(meta, call)


def _millis(moment: datetime | None) -> int:
    if moment is None:
        return time.time_ns() // 1_000_000
    return int(moment.timestamp() * 1000)


async def _await_batches(batcher: PartitionBatcher, counts: dict[Batch, int]) -> BulkResult:
    for batch in counts:
        batcher.seal(batch)
    if counts:
        await asyncio.wait([batch.done for batch in counts])
    by_partition: dict[int, int] = {}
    lost, first_error = 0, None
    for batch, count in counts.items():
        error = batch.done.exception()
        if error is None:
            by_partition[batch.partition] = by_partition.get(batch.partition, 0) + count
        else:
            lost, first_error = lost + count, first_error or error
    sent = sum(counts.values())
    if first_error is not None:
        kind = type(first_error) if isinstance(first_error, ProducerError) else DeliveryFailedError
        message = f"{lost} of {sent} records not acknowledged: {first_error}"
        raise kind(message) from first_error
    return BulkResult(sent, by_partition)
