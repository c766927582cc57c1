"""Blocking facade over :class:`~sessionflow.producers.sdk.SessionEventProducer` (sync services).

The facade owns an event loop running in a daemon thread; each call submits the async
producer's coroutine to it and blocks until it finishes, so every method, guarantee and
error is the async producer's. It is safe to call from several threads at once (calls from
one thread for one session keep their order). Use it as a context manager, or call
:meth:`stop` before exit: queued events are lost if the process exits without it.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Coroutine, Iterable
from concurrent.futures import TimeoutError as FutureTimeoutError
from types import TracebackType
from typing import Any, TypeVar

from sessionflow.core.settings import KafkaSettings
from sessionflow.producers.delivery import BulkResult, Delivery, EncodedRecord, OutgoingEvent
from sessionflow.producers.errors import (
    DeliveryError,
    DeliveryTimeoutError,
    ProducerNotStartedError,
)
from sessionflow.producers.methods import EnvelopeMeta, EventMethods, PayloadCall
from sessionflow.producers.sdk import SessionEventProducer
from sessionflow.producers.sequences import SequenceAllocator
from sessionflow.producers.settings import ProducerSettings
from sessionflow.schemas.codec import EventCodec
from sessionflow.schemas.models import EventEnvelope

T = TypeVar("T")
_MARGIN_S = 5.0  # on top of the async producer's own bounds, in case the loop is wedged


class _LoopThread:
    """An event loop running forever in a daemon thread."""

    def __init__(self) -> None:
        self.loop = asyncio.new_event_loop()
        self._thread = threading.Thread(
            target=self._run, name="sessionflow-producer-loop", daemon=True
        )
        self._thread.start()

    def _run(self) -> None:
        asyncio.set_event_loop(self.loop)
        self.loop.run_forever()

    def call(self, coro: Coroutine[Any, Any, T], timeout_s: float | None) -> T:
        future = asyncio.run_coroutine_threadsafe(coro, self.loop)
        try:
            return future.result(timeout_s)
        except FutureTimeoutError as exc:
            future.cancel()
            raise DeliveryTimeoutError(f"no result within {timeout_s}s") from exc

    def close(self) -> None:
        self.loop.call_soon_threadsafe(self.loop.stop)
        self._thread.join()
        self.loop.close()


class SyncSessionEventProducer(EventMethods[Delivery]):
    """The typed methods of :class:`SessionEventProducer`, blocking until acknowledged."""

    def __init__(
        self,
        kafka: KafkaSettings | None = None,
        settings: ProducerSettings | None = None,
        *,
        codec: EventCodec | None = None,
    ) -> None:
        self._producer = SessionEventProducer(kafka, settings, codec=codec)
        self._thread: _LoopThread | None = None
        self._lock = threading.Lock()
        timeouts = self._producer.settings
        self._send_timeout_s = timeouts.delivery_timeout_ms / 1000 + _MARGIN_S
        self._close_timeout_s = timeouts.close_timeout_ms / 1000 + _MARGIN_S
        self._start_timeout_s = timeouts.start_timeout_ms / 1000 + _MARGIN_S

    @property
    def producer_id(self) -> str:
        """This producer instance's id (see :attr:`SessionEventProducer.producer_id`)."""
        return self._producer.producer_id

    @property
    def sequences(self) -> SequenceAllocator:
        """The per-session counters of :attr:`producer_id`."""
        return self._producer.sequences

    def start(self) -> None:
        """Start the loop thread and connect (see :meth:`SessionEventProducer.start`)."""
        with self._lock:
            if self._thread is not None:
                return
            thread = _LoopThread()
            try:
                thread.call(self._producer.start(), self._start_timeout_s)
            except BaseException:
                thread.close()
                raise
            self._thread = thread

    def stop(self) -> None:
        """Flush, disconnect and end the loop thread; idempotent."""
        with self._lock:
            thread, self._thread = self._thread, None
            if thread is None:
                return
            try:
                thread.call(self._producer.stop(), self._close_timeout_s)
            finally:
                thread.close()

    def __enter__(self) -> SyncSessionEventProducer:
        self.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        self.stop()

    def flush(self) -> None:
        """Block until every queued event is acknowledged (or failed)."""
        self._call(self._producer.flush(), self._send_timeout_s)

    def emit(self, envelope: EventEnvelope) -> Delivery:
        """Send a complete envelope as it is (see :meth:`SessionEventProducer.emit`)."""
        return self._call(self._producer.emit(envelope), self._send_timeout_s)

    def resend(self, failed: DeliveryError | OutgoingEvent) -> Delivery:
        """Send a failed single send's event again (see :meth:`SessionEventProducer.resend`)."""
        return self._call(self._producer.resend(failed), self._send_timeout_s)

    def send_many(self, envelopes: Iterable[EventEnvelope]) -> BulkResult:
        """Bulk-send envelopes (see :meth:`SessionEventProducer.send_many`)."""
        return self._call(self._producer.send_many(envelopes), None)

    def send_encoded(self, records: Iterable[EncodedRecord]) -> BulkResult:
        """Bulk-send encoded records (see :meth:`SessionEventProducer.send_encoded`)."""
        return self._call(self._producer.send_encoded(records), None)

    def _dispatch_with(self, meta: EnvelopeMeta, call: PayloadCall) -> Delivery:
        return self._call(self._producer._dispatch_with(meta, call), self._send_timeout_s)

    def _call(self, coro: Coroutine[Any, Any, T], timeout_s: float | None) -> T:
        thread = self._thread
        if thread is None:
            coro.close()
            raise ProducerNotStartedError("call start() (or use `with`) before sending")
        return thread.call(coro, timeout_s)
