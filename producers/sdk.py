"""The async producer SDK: :class:`SessionEventProducer`.

Usage::

    async with SessionEventProducer(KafkaSettings(), ProducerSettings(source="chat-api")) as p:
        sid = new_session_id()
        await p.session_created(sid, config=SessionConfig(approval_mode=ApprovalMode.AUTO))
        delivery = await p.message_created(sid, message_id="m1", role="user", content="hi")

Guarantees: aiokafka runs with ``enable_idempotence=True`` and ``acks="all"``; the key is the
session id, partitioned like aiokafka's default partitioner
(:mod:`sessionflow.producers.partitioning`). Each producer has its own :attr:`producer_id`,
set on every event a typed method sends; each event gets the next sequence of its
(session, producer_id) scope (:mod:`sessionflow.producers.sequences`) at the moment it is
appended to its partition's batch, so sequence order is partition order. Every record's Kafka
timestamp is its event's ``occurred_at`` (:mod:`sessionflow.producers.event_time`). A typed
method returns once the broker acknowledged the event, or raises a :class:`ProducerError`:
:class:`EventValidationFailedError` (nothing sent, no sequence used), :class:`DeliveryFailedError`,
:class:`DeliveryTimeoutError` (after ``delivery_timeout_ms``; outcome unknown: ``await
p.resend(error)`` sends the very same event again), :class:`ProducerNotStartedError`. Waits are
bounded by the settings' timeouts; aiokafka's own retries of retriable errors happen inside the
delivery timeout.

Throughput: ``await p.enqueue.<event>(...)`` returns once the event is queued, with a future
of its :class:`Delivery`, so one coroutine can pipeline many events. Bulk paths
(:meth:`send_many`, :meth:`send_encoded`) skip per-record futures entirely.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Coroutine, Iterable
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError

from sessionflow.core.kafka_clients import KafkaConnectError, check_connection, new_producer
from sessionflow.core.reachability import connect_failure
from sessionflow.core.settings import KafkaSettings
from sessionflow.producers.batching import Batch, PartitionBatcher, await_batches
from sessionflow.producers.delivery import BulkResult, Delivery, EncodedRecord, OutgoingEvent
from sessionflow.producers.errors import (
    BrokerUnavailableError,
    DeliveryError,
    EventValidationFailedError,
    ProducerError,
    ProducerNotStartedError,
    TopicNotFoundError,
)
from sessionflow.producers.event_time import (
    MAX_AHEAD_MS,
    check_event_time,
    now_millis,
    time_problem,
)
from sessionflow.producers.lifecycle import close_producer
from sessionflow.producers.methods import EnvelopeMeta, EventMethods, PayloadCall
from sessionflow.producers.partitioning import KeyPartitioner
from sessionflow.producers.sequences import SequenceAllocator
from sessionflow.producers.settings import ProducerSettings
from sessionflow.schemas.codec import EventCodec
from sessionflow.schemas.errors import EventValidationError
from sessionflow.schemas.ids import new_event_id
from sessionflow.schemas.models import ContractModel, EventEnvelope
from sessionflow.schemas.validation import datetime_to_millis

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
        self._sequences = SequenceAllocator(
            self._settings.source, self._settings.max_tracked_sessions
        )
        self._running: _Running | None = None
        self.enqueue: EventMethods[Coroutine[Any, Any, DeliveryFuture]] = _EnqueueView(self)
        """The typed methods, returning a future of the delivery once the event is queued."""

    @property
    def topic(self) -> str:
        """The topic events are sent to."""
        return self._kafka.topic

    @property
    def producer_id(self) -> str:
        """This producer instance's id, set on every event a typed method numbers.

        New for every producer object (a restarted service is a new instance), and rotated
        when more than ``max_tracked_sessions`` sessions were numbered.
        """
        return self._sequences.producer_id

    @property
    def sequences(self) -> SequenceAllocator:
        """The per-session counters of :attr:`producer_id` (read them; the SDK advances them)."""
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
            if isinstance(exc, KafkaConnectError):  # one line: refused, untrusted, auth failed
                raise BrokerUnavailableError(str(exc)) from exc
            if isinstance(exc, TimeoutError | KafkaError | OSError):
                elapsed = time.monotonic() - started
                message = connect_failure(self._kafka, exc, elapsed, timeout)
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
        await check_connection(self._kafka, self._settings.start_timeout_ms / 1000)
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
        given = None if meta.occurred_at is None else datetime_to_millis(meta.occurred_at)
        if given is not None:
            check_event_time(given, call.event_type.value)
        running, key, partition = await self._place(call.session_id)
        millis = now_millis() if given is None else given
        sequences = self._sequences
        sequence = sequences.next_for(call.session_id)
        producer_id = sequences.producer_id
        event_id = new_event_id()
        value = self._encode_call(meta, call, payload, event_id, sequence, millis, producer_id)
        event = OutgoingEvent(key, value, millis, event_id, sequence, producer_id)
        waiter = self._append(running, partition, event)
        sequences.commit(call.session_id, sequence)
        return waiter

    async def emit(self, envelope: EventEnvelope) -> Delivery:
        """Send a complete envelope as it is (its event_id, sequence, producer_id, times).

        It belongs to the scope its own ``producer_id`` (or, if None, its ``source``) names;
        this producer's counters are not touched.
        """
        waiter = await self.enqueue_envelope(envelope)
        return await waiter

    async def enqueue_envelope(self, envelope: EventEnvelope) -> DeliveryFuture:
        """:meth:`emit`, returning a future of the delivery once the envelope is queued."""
        value = self._encode_envelope(envelope)
        millis = datetime_to_millis(envelope.occurred_at)
        check_event_time(millis, envelope.event_type.value)
        running, key, partition = await self._place(envelope.session_id)
        event = OutgoingEvent(
            key, value, millis, envelope.event_id, envelope.sequence, envelope.producer_id
        )
        return self._append(running, partition, event)

    async def resend(self, failed: DeliveryError | OutgoingEvent) -> Delivery:
        """Send again, byte for byte, the event of a failed or timed-out single send.

        Same key, value and timestamp, so the same event_id, sequence, producer_id and
        occurred_at: readers collapse copies by event_id, so resending an event that did land
        after all is harmless. Raises :class:`ProducerError` if ``failed`` carries no event
        (bulk sends), else as :meth:`emit`.
        """
        event = failed if isinstance(failed, OutgoingEvent) else failed.event
        if event is None:
            raise ProducerError(f"nothing to resend: {type(failed).__name__} carries no event")
        running, _, partition = await self._place(event.key)
        return await self._append(running, partition, event)

    # ------------------------------------------------------------------ bulk

    async def send_many(self, envelopes: Iterable[EventEnvelope]) -> BulkResult:
        """Bulk-send complete envelopes as they are; returns once all are acknowledged.

        Encodes lazily: an invalid envelope raises :class:`EventValidationFailedError` after
        the ones before it were queued (validate first if that matters). Sequence counters
        are not touched. Same ordering and errors as :meth:`send_encoded`.
        """
        encode = self._encode_envelope
        return await self.send_encoded(EncodedRecord.of(e, encode) for e in envelopes)

    async def send_encoded(self, records: Iterable[EncodedRecord]) -> BulkResult:
        """Bulk-send pre-encoded records (key = session id); returns once all are acknowledged.

        Records are appended to the same per-partition batches as single events, in iteration
        order, with no per-record future; each is stamped with its ``timestamp_ms``. A record
        too large or with a timestamp the topic would refuse raises
        :class:`EventValidationFailedError` after the ones before it were queued (check them
        first with :func:`~sessionflow.producers.event_time.check_records` if that matters).
        Raises :class:`DeliveryFailedError` naming how many records of this call were not
        acknowledged (the others were written).
        """
        running = self._require_running()
        place, limit, now = self._place, self._settings.max_request_size, now_millis()
        horizon = now + MAX_AHEAD_MS
        counts: dict[Batch, int] = {}
        for key, value, timestamp in records:
            if len(value) > limit:
                raise EventValidationFailedError(
                    f"record {sum(counts.values()) + 1}: {len(value)} bytes exceed "
                    f"max_request_size {limit}"
                )
            if type(timestamp) is not int or not 0 <= timestamp <= horizon:
                problem = time_problem(timestamp, now)
                raise EventValidationFailedError(f"record {sum(counts.values()) + 1}: {problem}")
            running, raw, partition = await place(key)
            batch, _ = running.batcher.append(partition, raw, value, timestamp)
            counts[batch] = counts.get(batch, 0) + 1
        return await await_batches(running.batcher, counts)

    # ------------------------------------------------------------------ helpers

    def _require_running(self) -> _Running:
        if self._running is None:
            raise ProducerNotStartedError("call start() (or use `async with`) before sending")
        return self._running

    async def _place(self, key: str | bytes) -> tuple[_Running, bytes, int]:
        """Route ``key`` to its partition and wait, while that partition is full, for room.

        Every path goes through here before appending; nothing awaits between its return and
        the append, so a session's records keep their order across paths.
        """
        running = self._require_running()
        raw, partition = running.router.route(key)
        if running.batcher.full(partition):
            await running.batcher.wait_room(partition)
            running = self._require_running()
        return running, raw, partition

    def _encode_call(
        self,
        meta: EnvelopeMeta,
        call: PayloadCall,
        payload: ContractModel,
        event_id: str,
        sequence: int,
        occurred_at: int,
        producer_id: str,
    ) -> bytes:
        try:
            return self._codec.encode_parts(
                event_id,
                call.event_type.value,
                call.session_id,
                sequence,
                occurred_at,
                meta.source or self._settings.source,
                meta.causation_id,
                meta.correlation_id,
                payload,
                producer_id,
            )
        except EventValidationError as exc:
            raise EventValidationFailedError(str(exc)) from exc

    def _encode_envelope(self, envelope: EventEnvelope) -> bytes:
        try:
            return self._codec.encode(envelope)
        except EventValidationError as exc:
            raise EventValidationFailedError(str(exc)) from exc

    def _append(self, running: _Running, partition: int, event: OutgoingEvent) -> DeliveryFuture:
        if len(event.value) > self._settings.max_request_size:
            raise EventValidationFailedError(
                f"event of {len(event.value)} bytes exceeds max_request_size "
                f"{self._settings.max_request_size}"
            )
        batch, index = running.batcher.append(partition, event.key, event.value, event.timestamp_ms)
        return running.batcher.track(batch, index, event)


class _EnqueueView(EventMethods[Coroutine[Any, Any, DeliveryFuture]]):
    """``producer.enqueue``: typed methods that return once the event is queued."""

    def __init__(self, producer: SessionEventProducer) -> None:
        self._producer = producer

    def _dispatch_with(
        self, meta: EnvelopeMeta, call: PayloadCall
    ) -> Coroutine[Any, Any, DeliveryFuture]:
        return self._producer.enqueue_call(meta, call)
