"""The faust-streaming adapter: a thin shell around :class:`BatchProcessor`.

faust provides what it is good at — the consumer group and partition assignment, the
changelog-backed session table in a persistent local store (rocksdict), recovery after a
restart or rebalance, the web server with routing of a key's requests to its owner, timers.
The domain stays out of it: the one agent takes batches (``take_events``) and hands them to
the batch processor; the table holds the state contract's bytes, written once per changed
session per batch through ``use_partitioner=True`` (so a write lands in its key's changelog
partition, not the one of the event being processed).

Offsets: faust acks a batch's events when the agent's body returns, i.e. after the batch's
dead letters and plugin events were acknowledged and its states were written to the table;
it flushes the table's changelog before committing offsets.
"""

from __future__ import annotations

import asyncio
import time
import weakref
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
from aiokafka import TopicPartition
from faust.exceptions import ConsumerNotStarted
from faust.sensors import Monitor
from faust.streams import _current_event
from faust.types import TP, EventT

from sessionflow.core.kafka_clients import (
    foreign_client_options,
    new_admin,
    new_consumer,
    record_headers,
)
from sessionflow.core.settings import KafkaSettings
from sessionflow.processors.domain.deadletters import Record
from sessionflow.processors.domain.model import SessionState
from sessionflow.processors.runtime.batch import BatchProcessor
from sessionflow.processors.runtime.deadletter_writer import DeadLetterWriter
from sessionflow.processors.runtime.faust_consumer import BatchFriendlyTransport
from sessionflow.processors.runtime.store import CachedStateStore
from sessionflow.processors.settings import ProcessorSettings
from sessionflow.schemas.state_codec import STATE_TABLE, StateCodec

TABLE_NAME = STATE_TABLE


@dataclass(frozen=True)
class WorkerIdentity:
    """Where one worker keeps its local store and serves its API."""

    data_dir: Path
    web_port: int


class ProcessorApp:
    """One faust app running the batch processor; build it, then run it with a faust Worker."""

    def __init__(
        self,
        kafka: KafkaSettings,
        settings: ProcessorSettings,
        identity: WorkerIdentity,
        processor: BatchProcessor,
        partitions: int,
        state_codec: StateCodec,
        dead_letters: DeadLetterWriter | None = None,
    ) -> None:
        self.kafka = kafka
        self.settings = settings
        self.processor = processor
        self.dead_letters = dead_letters
        self.app = faust.App(
            settings.faust_id, **_app_options(kafka, settings, identity, partitions)
        )
        self.app.transport = BatchFriendlyTransport(self.app.conf.broker_consumer, self.app)
        self.topic = self.app.topic(
            kafka.topic, key_type=bytes, value_type=bytes,
            key_serializer="raw", value_serializer="raw",
        )  # fmt: skip
        self.table = self.app.Table(
            TABLE_NAME, default=None, partitions=partitions, use_partitioner=True,
            key_type=bytes, value_type=bytes,  # bytes types: raw serializers, store and changelog
        )  # fmt: skip
        self.store = _FaustTableStore(self.table, state_codec)
        self.app.agent(self.topic, name="fold")(self._fold)
        self.table.on_recover(self._recovered)
        self.app.on_partitions_revoked.connect(self._revoked)
        self.app.timer(interval=1.0)(self._tick)
        self.batches = 0
        self.ticks = 0
        self.positions: dict[int, int] = {}
        """Per partition of the domain topic: the offset after the last record folded."""
        self.restart_reason: str | None = None
        """Set when the worker stops to restart on another state version (why)."""

    async def _fold(self, stream: Any) -> None:  # a faust Stream (StreamT lacks take_events)
        settings = self.settings
        async for events in stream.take_events(
            settings.batch_size, within=settings.batch_timeout_ms / 1000
        ):
            self.store.batch_events(events)
            records = [_record(event) for event in events]
            await self.processor.process(records, self.store)
            self.batches += 1
            for record in records:
                if record.offset >= self.positions.get(record.partition, 0):
                    self.positions[record.partition] = record.offset + 1

    async def _recovered(self) -> None:
        """After recovery: read positions, dead-letter marks, deadlines of the sessions held."""
        await self._seek_uncommitted()
        if self.dead_letters is not None:
            await self.dead_letters.resume(self.owned_partitions())
        self.processor.recount(state for _, state in self.store.items())

    async def _seek_uncommitted(self) -> None:
        """Seek owned partitions without a committed offset to their beginning.

        faust seeks to committed offsets once recovery is done, but aiokafka skips a
        committed offset of None or 0; records it prefetched during recovery and faust then
        dropped would be skipped for good. An explicit seek makes them be read again.
        """
        owned = sorted(self.owned_partitions())
        if not owned:
            return
        starts = await committed_or_beginning(self.kafka, self.settings.faust_id, owned)
        # seek_wait seeks in the consumer's own thread: faust's seek() changes aiokafka's
        # fetch buffers from this thread while the consumer thread reads them (a KeyError
        # in aiokafka's fetched_records crashed a worker in a two-worker rebalance)
        await self.app.consumer.seek_wait(
            {TP(self.kafka.topic, partition): offset for partition, offset in starts.items()}
        )
        self.positions.update(starts)

    async def _revoked(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        revoked: set[TP] = args[0] if args else kwargs.get("revoked", set())
        self.store.clear_cache()
        for tp in revoked:
            self.positions.pop(tp.partition, None)
        if self.dead_letters is not None:
            self.dead_letters.forget(tp.partition for tp in revoked if tp.topic == self.kafka.topic)

    async def _tick(self) -> None:
        """Fire due timers, once every partition held is folded to its end.

        While any partition lags, later events of a session may be waiting there, so timers
        wait too (and a tick costs nothing while catching up).
        """
        if self.app.rebalancing or not self._caught_up():
            return
        await self.processor.tick(int(time.time() * 1000), self.store)
        self.ticks += 1

    def _caught_up(self) -> bool:
        """True when every partition held is folded up to its end as last fetched."""
        for partition in self.owned_partitions():
            highwater = self.app.consumer.highwater(TP(self.kafka.topic, partition))
            if highwater is None or self.positions.get(partition, -1) < highwater:
                return False
        return True

    def owned_partitions(self) -> set[int]:
        """Partitions of the domain topic assigned to this worker now (none while starting)."""
        try:
            assigned = self.app.consumer.assignment()
        except ConsumerNotStarted:  # the web server answers before the consumer thread runs
            return set()
        return {tp.partition for tp in assigned if tp.topic == self.kafka.topic}


class _FaustTableStore(CachedStateStore):
    """The session table, written the way durability needs it from inside a batch.

    Each state goes to the local store and to the changelog, and :meth:`put` returns only
    once every changelog record is acknowledged: faust's own flush before a commit gives up
    after 0.1 s without progress, which would let offsets be committed ahead of their state.
    faust's rocksdb store files a write under the partition of the *current event* (a
    context variable the batch body does not have), so each state is written with an event
    of its own session's partition made current: local store and changelog agree.
    """

    def __init__(self, table: Any, codec: StateCodec) -> None:
        super().__init__(table, codec)
        self._event_of_partition: dict[int, EventT[Any]] = {}

    def batch_events(self, events: list[EventT[Any]]) -> None:
        """Remember, for the batch about to be folded, an event of each partition."""
        self._event_of_partition = {e.message.partition: e for e in events}

    async def put(
        self, states: Mapping[str, SessionState], partitions: Mapping[str, int] | None = None
    ) -> None:
        assert partitions is not None, "the faust table files states by their partition"
        table: Any = self._table
        sent = []
        for session_id, state in states.items():
            key, value = session_id.encode(), self.encode(state)
            event = self._event_of_partition[partitions[session_id]]
            token = _current_event.set(weakref.ref(event))
            try:
                table.data[key] = value
                sent.append(table.send_changelog(None, key, value))
            finally:
                _current_event.reset(token)
            self.remember(session_id, state)
        if sent:
            await asyncio.gather(*sent)


async def committed_or_beginning(
    kafka: KafkaSettings, group: str, partitions: list[int]
) -> dict[int, int]:
    """Per partition of ``kafka.topic``: ``group``'s committed offset, else the beginning."""
    tps = [TopicPartition(kafka.topic, p) for p in partitions]
    admin = new_admin(kafka)
    consumer = new_consumer(kafka)
    await admin.start()
    await consumer.start()
    try:
        committed = await admin.list_consumer_group_offsets(group, partitions=tps)
        beginnings = await consumer.beginning_offsets(tps)
    finally:
        await consumer.stop()
        await admin.close()
    starts = {}
    for tp in tps:
        meta = committed.get(tp)
        offset = meta.offset if meta is not None and meta.offset >= 0 else -1
        starts[tp.partition] = max(offset, beginnings[tp])
    return starts


def _record(event: EventT[Any]) -> Record:
    message = event.message
    return Record(
        message.topic, message.partition, message.offset, message.key, message.value or b"",
        int(message.timestamp * 1000), record_headers(message),
    )  # fmt: skip


class _QuietMonitor(Monitor):
    """faust's monitor without its per-message bookkeeping (the state API has the figures)."""

    def on_message_in(self, *args: Any) -> None: ...
    def on_stream_event_in(self, *args: Any) -> None: ...
    def on_stream_event_out(self, *args: Any, **kwargs: Any) -> None: ...
    def on_message_out(self, *args: Any) -> None: ...
    def on_table_get(self, *args: Any) -> None: ...
    def on_table_set(self, *args: Any) -> None: ...
    def on_send_initiated(self, *args: Any, **kwargs: Any) -> None: ...
    def on_send_completed(self, *args: Any) -> None: ...
    def on_commit_initiated(self, *args: Any) -> None: ...
    def on_commit_completed(self, *args: Any) -> None: ...
    def on_tp_commit(self, *args: Any) -> None: ...


def _app_options(
    kafka: KafkaSettings, settings: ProcessorSettings, identity: WorkerIdentity, partitions: int
) -> dict[str, Any]:
    servers = ";".join(f"kafka://{s.strip()}" for s in kafka.bootstrap_servers.split(","))
    return {
        "broker": servers,
        "broker_credentials": _credentials(kafka),
        "broker_client_id": kafka.client_id,
        "broker_session_timeout": settings.session_timeout_s,
        "broker_heartbeat_interval": min(3.0, settings.session_timeout_s / 3),
        "store": "rocksdb://" if settings.store == "rocksdb" else "memory://",
        "datadir": str(identity.data_dir),
        "web_host": settings.web_host,
        "web_port": identity.web_port,
        "web_enabled": True,
        "canonical_url": f"http://{settings.web_host}:{identity.web_port}",
        "topic_partitions": partitions,
        "table_standby_replicas": settings.standby_replicas,
        "producer_acks": -1,
        "producer_linger_ms": 5,
        "stream_buffer_maxsize": 32768,
        # faust >= 0.14's repaired Cython fast path: the stream takes what already sits in its
        # queue instead of awaiting a wait_for task per message (off by default upstream)
        "cython_optimizations": True,
        "consumer_auto_offset_reset": "earliest",
        "processing_guarantee": "at_least_once",
        "autodiscover": False,
        "web_in_thread": False,
        "monitor": _QuietMonitor(),
    }


def _credentials(kafka: KafkaSettings) -> Any:
    options = foreign_client_options(kafka)
    protocol = options["security_protocol"]
    if protocol == "PLAINTEXT":
        return None
    context = options.get("ssl_context")
    if protocol == "SSL":
        return faust.SSLCredentials(context)
    return faust.SASLCredentials(
        username=options["sasl_plain_username"],
        password=options["sasl_plain_password"],
        ssl_context=context,
        mechanism=options["sasl_mechanism"],
    )
