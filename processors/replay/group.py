"""A state version's consumer group offsets on the events topic: read them, commit them.

The group is ``<app_id>-<version>`` (what faust workers of that version join). The rebuild
commits without joining the group (a standalone commit, generation -1); the broker refuses
such a commit while the group has live members, which is what keeps a rebuild off a running
version.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from types import TracebackType
from typing import Any, TypeVar

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from sessionflow.core.errors import InfrastructureError
from sessionflow.core.kafka_clients import new_admin, new_consumer
from sessionflow.core.settings import KafkaSettings

T = TypeVar("T")


async def committed_offsets(
    kafka: KafkaSettings, group: str, topic: str, *, timeout_s: float = 30.0
) -> dict[int, int]:
    """Per partition of ``topic``: ``group``'s committed offset (only partitions with one).

    Retries while the group's coordinator is not available (a fresh cluster creates its
    offsets topic on first use); raises :class:`InfrastructureError` after ``timeout_s``.
    """
    committed = await _retrying(lambda: _list_offsets(kafka, group), group, timeout_s)
    return {
        tp.partition: meta.offset
        for tp, meta in committed.items()
        if tp.topic == topic and meta is not None and meta.offset >= 0
    }


async def group_members(kafka: KafkaSettings, group: str, *, timeout_s: float = 30.0) -> int:
    """How many members ``group`` has now (running consumers, e.g. workers of a version)."""
    return await _retrying(lambda: _count_members(kafka, group), group, timeout_s)


async def _retrying(call: Callable[[], Awaitable[T]], group: str, timeout_s: float) -> T:
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            return await call()
        except KafkaError as exc:
            if not exc.retriable or time.monotonic() > deadline:
                raise InfrastructureError(f"consumer group {group}: {exc}") from exc
            await asyncio.sleep(0.2)  # the coordinator is being elected: retry with a pause


async def _list_offsets(kafka: KafkaSettings, group: str) -> dict[TopicPartition, Any]:
    admin = new_admin(kafka)
    await admin.start()
    try:
        found: dict[TopicPartition, Any] = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return found


async def _count_members(kafka: KafkaSettings, group: str) -> int:
    admin = new_admin(kafka)
    await admin.start()
    try:
        (response,) = await admin.describe_consumer_groups([group])
    finally:
        await admin.close()
    (described,) = response.to_object()["groups"]
    return len(described["members"])


class GroupCommitter:
    """Commits offsets of ``topic``'s ``partitions`` for ``group``; an async context manager.

    Its consumer is assigned every partition and paused at once: it never fetches.
    """

    def __init__(self, kafka: KafkaSettings, group: str, topic: str, partitions: list[int]) -> None:
        self._tps = {p: TopicPartition(topic, p) for p in partitions}
        self._kafka, self._group = kafka, group
        self._consumer: AIOKafkaConsumer | None = None

    async def __aenter__(self) -> GroupCommitter:
        self._consumer = new_consumer(self._kafka, group_id=self._group)
        await self._consumer.start()
        self._consumer.assign(list(self._tps.values()))
        self._consumer.pause(*self._tps.values())
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        if self._consumer is not None:
            await self._consumer.stop()

    async def commit(self, offsets: Mapping[int, int]) -> None:
        """Commit ``offsets`` (partition -> next offset to read); returns once acknowledged."""
        assert self._consumer is not None, "commit inside the context only"
        if offsets:
            await self._consumer.commit(
                {self._tps[p]: OffsetAndMetadata(o, "") for p, o in offsets.items()}
            )
