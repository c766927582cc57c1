"""The control record: which state version the processor workers of an app run on.

One compacted, single-partition topic per app, ``<app_id>-control``, holds one key,
``state_version``; its latest value is a JSON :class:`VersionRecord`::

    {"version": "v2", "phase": "current", "previous": "v1", "at": "2026-12-02T11:40:00Z"}

``phase`` is ``current`` (workers run on ``version``) or ``draining`` (a promote from
``previous`` to ``version`` is in progress: workers stop and wait until it is ``current``).
No record at all means the workers run on ``SESSIONFLOW_PROCESSOR_STATE_VERSION``.

:func:`read_control` reads the latest record once, :func:`write_control` writes one (creating
the topic if needed), :class:`ControlWatcher` follows the topic and waits on a condition of
the latest record (long polls of the broker, no busy loop).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from datetime import UTC, datetime
from enum import StrEnum
from typing import Any, Self

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from sessionflow.core.errors import InfrastructureError, SessionflowError
from sessionflow.core.kafka_clients import new_admin, new_consumer, new_producer
from sessionflow.core.settings import KafkaSettings
from sessionflow.core.topic_reader import topic_metadata

CONTROL_KEY = b"state_version"
_POLL_MS = 1000
_CREATE_TIMEOUT_S = 30.0


class ControlRecordError(SessionflowError):
    """The control topic holds a value that is not a version record."""


class ControlWaitTimeout(InfrastructureError):
    """The control record did not reach the state waited for in time."""


class Phase(StrEnum):
    """Where a state version stands."""

    DRAINING = "draining"
    CURRENT = "current"


class VersionRecord(BaseModel):
    """The value of the control record (see the module)."""

    model_config = ConfigDict(frozen=True, extra="forbid")

    version: str = Field(pattern=r"^v[0-9]+$")
    phase: Phase
    previous: str | None = Field(default=None, pattern=r"^v[0-9]+$")
    at: datetime

    @classmethod
    def now(cls, version: str, phase: Phase, previous: str | None) -> VersionRecord:
        """A record stamped with the current time."""
        return cls(version=version, phase=phase, previous=previous, at=datetime.now(UTC))

    def describe(self) -> str:
        """One line for people: ``v2 (current since ...; previous v1)``."""
        since = self.at.isoformat(timespec="seconds")
        if self.phase is Phase.DRAINING:
            return f"{self.previous} -> {self.version} (promoting, draining since {since})"
        previous = f"; previous {self.previous}" if self.previous else ""
        return f"{self.version} (current since {since}{previous})"


def control_topic(app_id: str) -> str:
    """The control topic of the processors of ``app_id``."""
    return f"{app_id}-control"


def runs_on(record: VersionRecord | None, version: str) -> bool:
    """True when a worker on ``version`` may keep running under ``record`` (None: no record)."""
    return record is None or (record.phase is Phase.CURRENT and record.version == version)


def _parse(value: bytes | None, topic: str, offset: int) -> VersionRecord | None:
    if value is None:  # a tombstone: no record
        return None
    try:
        return VersionRecord.model_validate_json(value)
    except ValidationError as exc:
        first = exc.errors()[0]
        where = ".".join(str(part) for part in first["loc"]) or "value"
        raise ControlRecordError(
            f"{topic} offset {offset}: not a state version record ({where}: {first['msg']})"
        ) from None


async def ensure_control_topic(kafka: KafkaSettings, app_id: str) -> str:
    """Create the control topic if missing (compacted, 1 partition, replicated like the
    domain topic); its name, once its partition has a leader."""
    name = control_topic(app_id)
    admin = new_admin(kafka)
    await admin.start()
    try:
        found = {t["topic"]: t for t in await topic_metadata(admin, [name, kafka.topic])}
        if found[name]["error_code"] == 0 and found[name]["partitions"]:
            return name
        domain = found[kafka.topic]
        replicas = len(domain["partitions"][0]["replicas"]) if domain["partitions"] else 1
        topic = NewTopic(name, 1, replicas, topic_configs={"cleanup.policy": "compact"})
        response = await admin.create_topics([topic])
        for row in response.topic_errors:
            error = for_code(row[1]) if row[1] else None
            if error is not None and error is not TopicAlreadyExistsError:
                raise InfrastructureError(f"create {name}: {error.__name__}")
        await _wait_for_leader(admin, name)
    finally:
        await admin.close()
    return name


async def _wait_for_leader(admin: Any, name: str) -> None:
    deadline = time.monotonic() + _CREATE_TIMEOUT_S
    while True:
        (topic,) = await topic_metadata(admin, [name])
        if topic["error_code"] == 0 and any(p["leader"] >= 0 for p in topic["partitions"]):
            return
        if time.monotonic() > deadline:
            raise InfrastructureError(f"{name}: no leader within {_CREATE_TIMEOUT_S:.0f}s")
        await asyncio.sleep(0.1)  # metadata propagation, bounded by the deadline


async def write_control(kafka: KafkaSettings, app_id: str, record: VersionRecord) -> None:
    """Write ``record`` as the control record (creating the topic if needed); return once
    it is acknowledged by every in-sync replica."""
    topic = await ensure_control_topic(kafka, app_id)
    producer = new_producer(kafka)
    await producer.start()
    try:
        await producer.send_and_wait(
            topic, record.model_dump_json().encode(), key=CONTROL_KEY, partition=0
        )
    finally:
        await producer.stop()


async def read_control(kafka: KafkaSettings, app_id: str) -> VersionRecord | None:
    """The latest control record, None if there is none (the topic is not created)."""
    admin = new_admin(kafka)
    await admin.start()
    try:
        (topic,) = await topic_metadata(admin, [control_topic(app_id)])
    finally:
        await admin.close()
    if topic["error_code"] != 0 or not topic["partitions"]:
        return None
    async with ControlWatcher(kafka, app_id, create=False) as watcher:
        return watcher.latest


class ControlWatcher:
    """Follows the control topic; :attr:`latest` is the newest record read.

    ``start`` (or ``async with``) reads the topic up to its end; :meth:`wait_for` then
    follows it until a condition of the latest record holds.
    """

    def __init__(self, kafka: KafkaSettings, app_id: str, *, create: bool = True) -> None:
        self._kafka = kafka
        self._app_id = app_id
        self._create = create
        self._topic = TopicPartition(control_topic(app_id), 0)
        self._consumer: AIOKafkaConsumer | None = None
        self.latest: VersionRecord | None = None

    async def start(self) -> None:
        """Create the topic if asked and missing, then read it up to its current end."""
        if self._create:
            await ensure_control_topic(self._kafka, self._app_id)
        consumer = new_consumer(self._kafka)
        await consumer.start()
        self._consumer = consumer
        consumer.assign([self._topic])
        await consumer.seek_to_beginning(self._topic)
        end = (await consumer.end_offsets([self._topic]))[self._topic]
        while await consumer.position(self._topic) < end:
            await self._poll()

    async def stop(self) -> None:
        """Close the consumer (idempotent)."""
        consumer, self._consumer = self._consumer, None
        if consumer is not None:
            await consumer.stop()

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def _poll(self) -> None:
        """Wait (up to a second) for new records; keep the newest of the key."""
        assert self._consumer is not None, "start the watcher first"
        batch = await self._consumer.getmany(self._topic, timeout_ms=_POLL_MS)
        for message in batch.get(self._topic, []):
            if message.key == CONTROL_KEY:
                self.latest = _parse(message.value, self._topic.topic, message.offset)

    async def wait_for(
        self, condition: Callable[[VersionRecord | None], bool], timeout_s: float | None = None
    ) -> VersionRecord | None:
        """The latest record once ``condition`` holds for it.

        Raises :class:`ControlWaitTimeout` after ``timeout_s`` (None: wait for ever).
        """
        deadline = None if timeout_s is None else time.monotonic() + timeout_s
        while not condition(self.latest):
            if deadline is not None and time.monotonic() > deadline:
                raise ControlWaitTimeout(f"{self._topic.topic}: not as awaited in {timeout_s}s")
            await self._poll()
        return self.latest
