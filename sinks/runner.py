"""The sink's consumer loop: a plain aiokafka batch consumer feeding a :class:`Destination`.

Per partition, records are buffered and written when ``batch_size`` are waiting or the oldest
has waited ``batch_timeout_ms``: one ``add`` + ``flush`` per partition, in offset order. One
insert is in flight at a time: the next batch is decoded (``add``) while the previous one is
inserted (``flush``, in a thread: the engine releases the GIL), and that insert is done
before the next begins, before a rebalance is handled and before the loop stops. On
assignment each partition is sought to just after the highest offset the destination holds
(the destination is the offset store); Kafka's committed offset only follows, for lag. While
the destination fails, every assigned partition is paused and the same batch retried with
exponential backoff (the consumer keeps polling, so it stays in its group); nothing is
dropped, and consumption resumes by itself once a write succeeds.
"""

from __future__ import annotations

import asyncio
import contextlib
import logging
import re
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Any

from aiokafka import ConsumerRebalanceListener, TopicPartition

from sessionflow.core.errors import ConfigurationError
from sessionflow.core.kafka_clients import new_consumer, record_headers
from sessionflow.core.metrics import SecondsHistogram
from sessionflow.core.settings import KafkaSettings
from sessionflow.sinks.base import Destination, SinkRecord
from sessionflow.sinks.settings import SinkSettings

log = logging.getLogger(__name__)


@dataclass
class SinkStats:
    """What the sink did so far (for status pages and tests)."""

    rows: int = 0
    records: int = 0
    inserts: int = 0
    failures: int = 0
    last_error: str | None = None
    positions: dict[tuple[str, int], int] = field(default_factory=dict)
    """Per (topic, partition): the offset after the last record stored."""
    records_by_topic: dict[str, int] = field(default_factory=dict)
    write_seconds: SecondsHistogram = field(default_factory=SecondsHistogram)
    """How long each insert (``flush``, retries included) took."""


class SinkRunner:
    """Consumes the destination's topics into it; ``start()``/``stop()`` or ``async with``.

    ``run_blocking`` runs the destination's (blocking) calls, by default in a thread.
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        settings: SinkSettings,
        destination: Destination,
        run_blocking: Callable[..., Any] | None = None,
    ) -> None:
        self._kafka = kafka
        self._settings = settings
        self._destination = destination
        self._blocking = run_blocking or asyncio.to_thread
        self._consumer: Any = None
        self._task: asyncio.Task[None] | None = None
        self._buffers: dict[TopicPartition, list[SinkRecord]] = {}
        self._since: dict[TopicPartition, float] = {}
        self._next: dict[TopicPartition, int | None] = {}
        """Owned partitions: the offset expected next (None: not known yet)."""
        self._lock = asyncio.Lock()
        """Held while buffering and writing and by the rebalance callbacks."""
        self._inflight: asyncio.Task[None] | None = None
        """The insert (``flush``) of the last batch added, with its commit."""
        self.stats = SinkStats()

    async def __aenter__(self) -> SinkRunner:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Join the group and start consuming in a background task."""
        self._consumer = new_consumer(
            self._kafka,
            group_id=self._settings.group_id,
            auto_offset_reset="earliest",
            max_poll_records=self._settings.batch_size,
            fetch_max_bytes=64 * 1024 * 1024,
            max_partition_fetch_bytes=8 * 1024 * 1024,
            metadata_max_age_ms=5_000,  # a topic created later (a changelog) is found soon
        )
        # a pattern, not names: subscribing by name can make a broker auto-create a topic
        # (with the wrong partitions for a changelog the processors create later)
        names = "|".join(re.escape(topic) for topic in self._destination.topics())
        self._consumer.subscribe(pattern=f"^({names})$", listener=_Listener(self))
        await self._consumer.start()
        self._task = asyncio.create_task(self._run(), name="sink")

    async def stop(self) -> None:
        """Stop consuming; what was stored stays stored, buffered records are read again."""
        if self._task is not None:
            self._task.cancel()
            with contextlib.suppress(asyncio.CancelledError):
                await self._task
            self._task = None
        with contextlib.suppress(Exception):  # an insert in flight ends (its error was raised)
            await self._drain()
        if self._consumer is not None:
            await self._consumer.stop()
            self._consumer = None

    async def wait(self) -> None:
        """Until the loop ends (it ends only by an error, which is raised here)."""
        if self._task is not None:
            await self._task

    # ------------------------------------------------------------------ rebalance

    async def assigned(self, partitions: set[TopicPartition]) -> None:
        """Seek each partition to just after its highest stored offset."""
        async with self._lock:  # after any insert in flight: its rows count as stored
            await self._drain()
            by_topic: dict[str, set[int]] = {}
            for tp in partitions:
                by_topic.setdefault(tp.topic, set()).add(tp.partition)
            for topic, numbers in by_topic.items():
                stored = await self._with_retry(self._destination.stored_offsets, topic, poll=False)
                resume: dict[TopicPartition, int] = {}
                for number in numbers:
                    tp = TopicPartition(topic, number)
                    self._next[tp] = None
                    if number in stored:
                        resume[tp] = stored[number] + 1
                        self._consumer.seek(tp, resume[tp])
                        self._next[tp] = resume[tp]
                        self.stats.positions[(topic, number)] = resume[tp]
                await self._commit(resume)  # a crash after an insert left the group behind

    async def revoked(self, partitions: set[TopicPartition]) -> None:
        """Forget what was buffered for ``partitions`` (the next owner reads it again)."""
        async with self._lock:  # an insert in flight finishes first
            await self._drain()
            for tp in partitions:
                self._buffers.pop(tp, None)
                self._since.pop(tp, None)
                self._next.pop(tp, None)

    # ------------------------------------------------------------------ loop

    async def _run(self) -> None:
        timeout_ms = max(1, min(self._settings.batch_timeout_ms, 500))
        while True:
            fetched = await self._consumer.getmany(
                timeout_ms=timeout_ms, max_records=self._settings.batch_size
            )
            async with self._lock:
                if self._inflight is not None and self._inflight.done():
                    await self._drain()  # raises what ended it
                now = time.monotonic()
                for tp, messages in fetched.items():
                    self._buffer(tp, messages, now)
                await self._flush_due(now)

    def _buffer(self, tp: TopicPartition, messages: list[Any], now: float) -> None:
        """Buffer records of an owned partition past its position (a fetch that raced a
        rebalance may return records of a partition since revoked or sought back)."""
        if tp not in self._next:
            return
        expected = self._next[tp]
        records = [_record(m) for m in messages if expected is None or m.offset >= expected]
        if not records:
            return
        buffer = self._buffers.setdefault(tp, [])
        if not buffer:
            self._since[tp] = now
        buffer.extend(records)
        self._next[tp] = records[-1].offset + 1

    async def _flush_due(self, now: float) -> None:
        limit, age = self._settings.batch_size, self._settings.batch_timeout_ms / 1000
        for tp in list(self._buffers):
            buffer = self._buffers[tp]
            while buffer and (len(buffer) >= limit or now - self._since[tp] >= age):
                batch, rest = buffer[:limit], buffer[limit:]
                await self._write(tp, batch)
                self._buffers[tp] = buffer = rest
                self._since[tp] = now
            if not buffer:
                self._buffers.pop(tp, None)

    async def _write(self, tp: TopicPartition, batch: list[SinkRecord]) -> None:
        """Add ``batch`` (while the insert in flight runs), then start its own insert."""
        await self._with_retry(self._destination.add, batch)
        await self._drain()
        self._inflight = asyncio.create_task(self._store(tp, batch), name="sink-insert")

    async def _drain(self) -> None:
        """Wait for the insert in flight (if any); raises its error."""
        if self._inflight is not None:
            task, self._inflight = self._inflight, None
            await task

    async def _store(self, tp: TopicPartition, batch: list[SinkRecord]) -> None:
        started = time.monotonic()
        self.stats.rows += await self._with_retry(self._destination.flush)
        self.stats.write_seconds.observe(time.monotonic() - started)
        end = batch[-1].offset + 1
        self.stats.records += len(batch)
        topics = self.stats.records_by_topic
        topics[tp.topic] = topics.get(tp.topic, 0) + len(batch)
        self.stats.inserts += 1
        self.stats.positions[(tp.topic, tp.partition)] = end
        await self._commit({tp: end})

    def lag(self) -> dict[tuple[str, int], int]:
        """Per owned (topic, partition): records on Kafka not yet stored (last fetch's view)."""
        if self._consumer is None:
            return {}
        lag = {}
        for tp, expected in list(self._next.items()):
            highwater = self._consumer.highwater(tp)
            if highwater is not None and expected is not None:
                buffered = self._buffers.get(tp, ())
                stored = buffered[0].offset if buffered else expected
                lag[(tp.topic, tp.partition)] = max(0, highwater - stored)
        return lag

    async def _commit(self, offsets: dict[TopicPartition, int]) -> None:
        """Commit ``offsets`` to Kafka: for lag only, the data holds the resume points."""
        if not offsets:
            return
        try:
            await self._consumer.commit(offsets)
        except Exception as exc:  # a rebalance in progress: the next commit catches up
            log.debug("sink: commit of %s skipped: %s", offsets, exc)

    async def _with_retry(self, call: Callable[..., Any], *args: Any, poll: bool = True) -> Any:
        """``call(*args)`` in a thread until it succeeds; partitions paused meanwhile.

        A :class:`ConfigurationError` (wrong data on a topic, wrong settings) is raised at
        once; anything else (ClickHouse down, slow, refusing) is retried. ``poll=False``
        waits without polling (inside a rebalance callback).
        """
        delay = 0.5
        paused = False
        while True:
            try:
                result = await self._blocking(call, *args)
            except (asyncio.CancelledError, ConfigurationError):
                raise
            except Exception as exc:  # ClickHouse down or slow: never drop, never spin
                self.stats.failures += 1
                self.stats.last_error = f"{type(exc).__name__}: {exc}"[:500]
                log.warning("sink: ClickHouse write failed (%s); retrying in %.1fs", exc, delay)
                if not poll:
                    await asyncio.sleep(delay)
                else:
                    if not paused:
                        self._consumer.pause(*self._consumer.assignment())
                        paused = True
                    await self._consumer.getmany(timeout_ms=int(delay * 1000))  # stays in group
                delay = min(delay * 2, self._settings.backoff_max_s)
                continue
            if paused:
                self._consumer.resume(*self._consumer.assignment())
            self.stats.last_error = None
            return result


class _Listener(ConsumerRebalanceListener):  # type: ignore[misc]
    def __init__(self, runner: SinkRunner) -> None:
        self._runner = runner

    async def on_partitions_revoked(self, revoked: set[TopicPartition]) -> None:
        await self._runner.revoked(set(revoked))

    async def on_partitions_assigned(self, assigned: set[TopicPartition]) -> None:
        await self._runner.assigned(set(assigned))


def _record(message: Any) -> SinkRecord:
    return SinkRecord(
        message.topic, message.partition, message.offset, message.key, message.value,
        message.timestamp, record_headers(message),
    )  # fmt: skip
