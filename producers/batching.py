"""Per-partition record batches on aiokafka's ``create_batch``/``send_batch``.

Why not ``AIOKafkaProducer.send()``: it costs several microseconds per record (a coroutine,
metadata lookup, partitioning, a size estimate); appending to an open batch costs about one.
Every SDK path (typed events, ``emit``, bulk sends) appends here, so records reach a
partition in exactly the order they were appended, whichever path appended them.

Life of a batch: opened on the first append to a partition; sealed when full, when its
linger time passes or on flush; queued; handed to aiokafka in order by one submitter task
per partition (aiokafka keeps at most one batch per partition waiting behind the one in
flight, and with idempotence retries it without duplicates); resolved when the broker acks.
A batch not acknowledged within the delivery timeout fails its records with
:class:`DeliveryTimeoutError`. Appenders wait (:meth:`wait_room`) while a partition already
has ``max_queued`` sealed batches, which bounds memory.
"""

from __future__ import annotations

import asyncio
from collections import deque
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaProducer

from sessionflow.producers.delivery import BulkResult, Delivery, OutgoingEvent
from sessionflow.producers.errors import (
    DeliveryError,
    DeliveryFailedError,
    DeliveryTimeoutError,
    ProducerError,
)

ErrorFactory = Callable[[], ProducerError]


class Batch:
    """One open or sealed batch: its builder, the futures of tracked records, a done future."""

    __slots__ = ("builder", "done", "linger", "partition", "timer", "waiters")

    def __init__(self, builder: Any, partition: int, loop: asyncio.AbstractEventLoop) -> None:
        self.builder = builder
        self.partition = partition
        self.waiters: list[tuple[int, asyncio.Future[Delivery], OutgoingEvent]] = []
        self.done: asyncio.Future[int] = loop.create_future()
        self.linger: asyncio.TimerHandle | None = None
        self.timer: asyncio.TimerHandle | None = None

    @property
    def records(self) -> int:
        """Records appended so far."""
        count: int = self.builder.record_count()
        return count

    def resolve(self, base_offset: int) -> None:
        """The broker wrote the batch at ``base_offset``: resolve every tracked record."""
        self._stop_timers()
        partition = self.partition
        for index, waiter, event in self.waiters:
            if not waiter.done():
                waiter.set_result(event.delivered(partition, base_offset + index))
        if not self.done.done():
            self.done.set_result(base_offset)

    def fail(self, make_error: ErrorFactory) -> None:
        """The batch will not be acknowledged: fail every tracked record and ``done``.

        A tracked record's error carries its :class:`OutgoingEvent` (``error.event``).
        """
        self._stop_timers()
        for _, waiter, event in self.waiters:
            if not waiter.done():
                error = make_error()
                if isinstance(error, DeliveryError):
                    error.event = event
                waiter.set_exception(error)
        if not self.done.done():
            self.done.set_exception(make_error())
            self.done.exception()  # retrieved here; bulk senders that await it still see it

    def on_sent(self, sent: asyncio.Future[Any]) -> None:
        """Done-callback of aiokafka's batch future."""
        if sent.cancelled():
            self.fail(lambda: DeliveryFailedError(f"partition {self.partition}: send cancelled"))
            return
        error = sent.exception()
        if error is None:
            self.resolve(sent.result().offset)
        else:
            self.fail(_wrapped(DeliveryFailedError, f"partition {self.partition}", error))

    def _stop_timers(self) -> None:
        for handle in (self.linger, self.timer):
            if handle is not None:
                handle.cancel()


def _wrapped(kind: type[ProducerError], where: str, cause: BaseException) -> ErrorFactory:
    def make() -> ProducerError:
        error = kind(f"{where}: {cause!r}")
        error.__cause__ = cause
        return error

    return make


class PartitionBatcher:
    """Open batch, sealed queue and submitter task for each partition of one topic."""

    def __init__(
        self,
        producer: AIOKafkaProducer,
        topic: str,
        partitions: int,
        *,
        linger_s: float,
        delivery_timeout_s: float,
        max_queued: int = 4,
    ) -> None:
        self._loop = asyncio.get_running_loop()
        self._producer = producer
        self._topic = topic
        self._linger_s = linger_s
        self._delivery_timeout_s = delivery_timeout_s
        self._max_queued = max_queued
        self._open: list[Batch | None] = [None] * partitions
        self._queues: list[deque[Batch]] = [deque() for _ in range(partitions)]
        self._ready = [asyncio.Event() for _ in range(partitions)]
        self._room = [asyncio.Event() for _ in range(partitions)]
        self._unresolved: set[Batch] = set()
        self._tasks = [
            self._loop.create_task(self._submit_loop(p), name=f"sessionflow-submit-{topic}-{p}")
            for p in range(partitions)
        ]

    def full(self, partition: int) -> bool:
        """True when appending to ``partition`` should wait for :meth:`wait_room` first."""
        return len(self._queues[partition]) >= self._max_queued

    async def wait_room(self, partition: int) -> None:
        """Wait until ``partition`` has fewer than ``max_queued`` sealed batches."""
        room = self._room[partition]
        while self.full(partition):
            room.clear()
            await room.wait()

    def append(
        self, partition: int, key: bytes, value: bytes, timestamp_ms: int
    ) -> tuple[Batch, int]:
        """Append one record stamped ``timestamp_ms`` (epoch ms); returns its batch and index.

        A full batch is sealed first.
        """
        batch = self._open[partition] or self._start(partition)
        meta = batch.builder.append(timestamp=timestamp_ms, key=key, value=value)
        if meta is None:
            self._seal(partition)
            batch = self._start(partition)
            meta = batch.builder.append(timestamp=timestamp_ms, key=key, value=value)
        return batch, meta.offset

    def track(self, batch: Batch, index: int, event: OutgoingEvent) -> asyncio.Future[Delivery]:
        """A future resolved with the delivery of record ``index`` of ``batch`` (``event``)."""
        waiter: asyncio.Future[Delivery] = self._loop.create_future()
        batch.waiters.append((index, waiter, event))
        return waiter

    def seal(self, batch: Batch) -> None:
        """Send ``batch`` now instead of after its linger time (no-op if already sealed)."""
        if self._open[batch.partition] is batch:
            self._seal(batch.partition)

    async def flush(self, timeout_s: float) -> None:
        """Seal every open batch and wait until all batches are acknowledged or failed.

        Raises :class:`DeliveryTimeoutError` if some are still pending after ``timeout_s``.
        """
        for partition, batch in enumerate(self._open):
            if batch is not None:
                self._seal(partition)
        pending = [batch.done for batch in self._unresolved]
        if not pending:
            return
        _, still = await asyncio.wait(pending, timeout=timeout_s)
        if still:
            raise DeliveryTimeoutError(
                f"{len(still)} batches still unacknowledged after {timeout_s:.1f}s"
            )

    async def close(self, timeout_s: float) -> None:
        """Flush within ``timeout_s``, fail whatever is left, stop the submitters."""
        try:
            await self.flush(timeout_s)
        finally:
            for batch in list(self._unresolved):
                batch.fail(lambda: DeliveryTimeoutError("producer stopped before the ack"))
            for task in self._tasks:
                task.cancel()
            await asyncio.gather(*self._tasks, return_exceptions=True)

    def _start(self, partition: int) -> Batch:
        batch = Batch(self._producer.create_batch(), partition, self._loop)
        batch.linger = self._loop.call_later(self._linger_s, self.seal, batch)
        batch.timer = self._loop.call_later(self._delivery_timeout_s, self._expire, batch)
        batch.done.add_done_callback(lambda _: self._unresolved.discard(batch))
        self._unresolved.add(batch)
        self._open[partition] = batch
        return batch

    def _seal(self, partition: int) -> None:
        batch = self._open[partition]
        assert batch is not None
        self._open[partition] = None
        if batch.linger is not None:
            batch.linger.cancel()
        batch.builder.close()
        self._queues[partition].append(batch)
        self._ready[partition].set()

    def _expire(self, batch: Batch) -> None:
        timeout = self._delivery_timeout_s
        batch.fail(lambda: DeliveryTimeoutError(f"no acknowledgement within {timeout:.1f}s"))

    async def _submit_loop(self, partition: int) -> None:
        queue, ready, room = self._queues[partition], self._ready[partition], self._room[partition]
        while True:
            if not queue:
                ready.clear()
                await ready.wait()
                continue
            batch = queue[0]
            try:
                sent = await self._producer.send_batch(
                    batch.builder, self._topic, partition=partition
                )
            except Exception as exc:  # not swallowed: the batch's records fail with it
                batch.fail(_wrapped(DeliveryFailedError, f"partition {partition}", exc))
            else:
                sent.add_done_callback(batch.on_sent)
            finally:
                queue.popleft()
                room.set()


async def await_batches(batcher: PartitionBatcher, counts: dict[Batch, int]) -> BulkResult:
    """Seal ``counts``' batches now and wait for all; ``counts`` = records of a bulk send each.

    Raises the first failure's kind (:class:`DeliveryFailedError` if not a ProducerError),
    naming how many of the records were not acknowledged.
    """
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
