"""A state version's consumer group offsets on the events topic: read them, commit them.

The group is ``<app_id>-<version>`` (what faust workers of that version join). The rebuild
commits without joining the group (a standalone commit, generation -1); the broker refuses
such a commit while the group has live members, which is what keeps a rebuild off a running
version.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Mapping
from types import TracebackType
from typing import Any

from aiokafka import AIOKafkaConsumer, TopicPartition
from aiokafka.errors import KafkaError
from aiokafka.structs import OffsetAndMetadata

from sessionflow.core.errors import InfrastructureError
from sessionflow.core.kafka_clients import new_admin, new_consumer
from sessionflow.core.settings import KafkaSettings


async def committed_offsets(
    kafka: KafkaSettings, group: str, topic: str, *, timeout_s: float = 30.0
) -> dict[int, int]:
    """Per partition of ``topic``: ``group``'s committed offset (only partitions with one).

    Retries while the group's coordinator is not available (a fresh cluster creates its
    offsets topic on first use); raises :class:`InfrastructureError` after ``timeout_s``.
    """
    deadline = time.monotonic() + timeout_s
    while True:
        try:
            committed = await _list_offsets(kafka, group)
        except KafkaError as exc:
            if not exc.retriable or time.monotonic() > deadline:
                raise InfrastructureError(f"offsets of group {group}: {exc}") from exc
            await asyncio.sleep(0.2)  # the coordinator is being elected: retry with a pause
            continue
        return {
            tp.partition: meta.offset
            for tp, meta in committed.items()
            if tp.topic == topic and meta is not None and meta.offset >= 0
        }


async def _list_offsets(kafka: KafkaSettings, group: str) -> dict[TopicPartition, Any]:
    admin = new_admin(kafka)
    await admin.start()
    try:
        found: dict[TopicPartition, Any] = await admin.list_consumer_group_offsets(group)
    finally:
        await admin.close()
    return found


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
