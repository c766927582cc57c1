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

import time
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import faust
from faust.types import TP, EventT

from sessionflow.core.kafka_clients import foreign_client_options
from sessionflow.core.settings import KafkaSettings
from sessionflow.processors.domain.deadletters import Record
from sessionflow.processors.runtime.batch import BatchProcessor
from sessionflow.processors.runtime.deadletter_writer import DeadLetterWriter
from sessionflow.processors.runtime.store import CachedStateStore
from sessionflow.processors.settings import ProcessorSettings
from sessionflow.schemas.state_codec import StateCodec

TABLE_NAME = "sessions"


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
        self.topic = self.app.topic(
            kafka.topic, key_type=bytes, value_type=bytes,
            key_serializer="raw", value_serializer="raw",
        )  # fmt: skip
        self.table = self.app.Table(
            TABLE_NAME, default=None, partitions=partitions, use_partitioner=True,
            key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw",
        )  # fmt: skip
        self.store = CachedStateStore(self.table, state_codec)
        self.app.agent(self.topic, name="fold")(self._fold)
        self.table.on_recover(self._recovered)
        self.app.on_partitions_revoked.connect(self._revoked)
        self.app.timer(interval=1.0)(self._tick)
        self.batches = 0

    async def _fold(self, stream: Any) -> None:  # a faust Stream (StreamT lacks take_events)
        settings = self.settings
        async for events in stream.take_events(
            settings.batch_size, within=settings.batch_timeout_ms / 1000
        ):
            await self.processor.process([_record(event) for event in events], self.store)
            self.batches += 1

    async def _recovered(self) -> None:
        """After recovery: dead-letter marks of owned partitions, deadlines of their sessions."""
        if self.dead_letters is not None:
            await self.dead_letters.resume(self.owned_partitions())
        self.processor.recount(state for _, state in self.store.items())

    async def _revoked(self, sender: Any, /, *args: Any, signal: Any, **kwargs: Any) -> None:
        revoked: set[TP] = args[0] if args else kwargs.get("revoked", set())
        self.store.clear_cache()
        if self.dead_letters is not None:
            self.dead_letters.forget(tp.partition for tp in revoked if tp.topic == self.kafka.topic)

    async def _tick(self) -> None:
        if self.app.rebalancing:
            return
        await self.processor.tick(int(time.time() * 1000), self.store)

    def owned_partitions(self) -> set[int]:
        """Partitions of the domain topic assigned to this worker now."""
        return {
            tp.partition for tp in self.app.consumer.assignment() if tp.topic == self.kafka.topic
        }


def _record(event: EventT[Any]) -> Record:
    message = event.message
    raw = message.headers or ()
    pairs = raw.items() if isinstance(raw, Mapping) else raw
    headers = tuple((str(k), v if isinstance(v, bytes) else str(v).encode()) for k, v in pairs)
    return Record(
        message.topic, message.partition, message.offset, message.key, message.value or b"",
        int(message.timestamp * 1000), headers,
    )  # fmt: skip


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
        "consumer_auto_offset_reset": "earliest",
        "processing_guarantee": "at_least_once",
        "autodiscover": False,
        "web_in_thread": False,
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
