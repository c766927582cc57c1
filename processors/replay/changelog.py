"""A state version's changelog topic: its name, creating it, reading it back, writing to it.

The topic is what faust's session table of that version uses (``state_topic``): keys are
session ids (UTF-8), values the state contract's bytes, the latest record per key is the
state, a tombstone (null value) deletes it. It is created the way faust declares a
(non-windowed) table changelog: as many partitions as the events topic, the events
topic's replication factor, ``cleanup.policy=compact``.
"""

from __future__ import annotations

import asyncio
from collections.abc import Awaitable, Collection, Mapping
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaProducer
from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError, for_code

from sessionflow.core.errors import InfrastructureError
from sessionflow.core.kafka_clients import new_admin, new_producer
from sessionflow.core.settings import KafkaSettings
from sessionflow.core.topic_reader import offset_bounds, read_range, topic_metadata
from sessionflow.processors.domain.model import SessionState
from sessionflow.processors.domain.records import from_record
from sessionflow.processors.runtime.store import CachedStateStore
from sessionflow.schemas.state_codec import StateCodec, state_topic

_READY_TIMEOUT_S = 30.0


def changelog_topic(app_id: str, version: str) -> str:
    """The changelog topic of state version ``version`` of app ``app_id``."""
    return state_topic(f"{app_id}-{version}")


async def describe(kafka: KafkaSettings, topics: list[str]) -> dict[str, tuple[int, int]]:
    """(partitions, replication factor) of each of ``topics`` that exists."""
    admin = new_admin(kafka)
    await admin.start()
    try:
        found = await topic_metadata(admin, topics)
    finally:
        await admin.close()
    return {
        t["topic"]: (len(t["partitions"]), len(t["partitions"][0]["replicas"]))
        for t in found
        if not t["error_code"] and t["partitions"]
    }


async def ensure_changelog(kafka: KafkaSettings, topic: str) -> None:
    """Create changelog ``topic`` like faust would, shaped after ``kafka.topic``, if missing.

    Raises :class:`InfrastructureError` if the events topic does not exist, the broker
    refuses, or the topic has no leaders within 30 s.
    """
    shapes = await describe(kafka, [kafka.topic, topic])
    if topic in shapes:
        return
    if kafka.topic not in shapes:
        raise InfrastructureError(f"topic {kafka.topic} does not exist")
    partitions, replication = shapes[kafka.topic]
    admin = new_admin(kafka)
    await admin.start()
    try:
        spec = NewTopic(topic, partitions, replication, topic_configs={"cleanup.policy": "compact"})
        response = await admin.create_topics([spec])
        for row in response.topic_errors:
            error = for_code(row[1]) if row[1] else None
            if error is not None and error is not TopicAlreadyExistsError:
                raise InfrastructureError(f"create {topic}: {error.__name__}")
        await asyncio.wait_for(_leaders(admin, topic), _READY_TIMEOUT_S)
    finally:
        await admin.close()


async def _leaders(admin: Any, topic: str) -> None:
    while True:
        (found,) = await topic_metadata(admin, [topic])
        parts = found["partitions"]
        if not found["error_code"] and parts and all(p["leader"] >= 0 for p in parts):
            return
        await asyncio.sleep(0.05)  # metadata propagation; bounded by the caller's timeout


async def load_states(
    kafka: KafkaSettings,
    topic: str,
    codec: StateCodec | None = None,
    partitions: Collection[int] | None = None,
) -> dict[str, SessionState]:
    """The states held in changelog ``topic`` now (empty if it does not exist).

    ``partitions``: only the states of these partitions (a changelog partition holds the
    sessions of the events topic's partition with the same number).
    """
    if topic not in await describe(kafka, [topic]):
        return {}
    codec = codec or StateCodec()
    starts, ends = await offset_bounds(kafka, topic)
    if partitions is not None:
        starts = {p: o for p, o in starts.items() if p in partitions}
        ends = {p: o for p, o in ends.items() if p in partitions}
    latest: dict[bytes, bytes | None] = {}
    for record in await read_range(kafka, topic, starts, ends, timeout_s=600):
        if record.key is not None:
            latest[record.key] = record.value
    return {
        key.decode(): from_record(codec.decode(value))
        for key, value in latest.items()
        if value is not None
    }


class ChangelogWriter:
    """Writes states to a changelog topic through one idempotent producer; async context."""

    def __init__(self, kafka: KafkaSettings, topic: str, codec: StateCodec | None = None) -> None:
        self.topic = topic
        self._encoder = CachedStateStore({}, codec or StateCodec(), cache_size=0)
        self._producer: AIOKafkaProducer = new_producer(
            kafka, linger_ms=20, max_batch_size=512 * 1024, compression_type=None
        )
        self.written = 0

    async def __aenter__(self) -> ChangelogWriter:
        await self._producer.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._producer.stop()

    async def send(
        self, states: Mapping[str, SessionState], partitions: Mapping[str, int]
    ) -> Awaitable[Any]:
        """Queue each state for its session's partition; what completes once all are acked.

        Lets a caller go on (fold the next batch) while the broker acknowledges these.
        """
        sent = [
            await self._producer.send(
                self.topic, self._encoder.encode(state), key=sid.encode(), partition=partitions[sid]
            )
            for sid, state in states.items()
        ]
        self.written += len(sent)
        return asyncio.gather(*sent)
