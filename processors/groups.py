"""What a promote needs to know about state versions on the broker.

A state version ``V`` of app ``A`` is the consumer group ``A-V`` (its committed offsets on the
domain topic) and the changelog ``state_topic("A-V")``. All reads, nothing is created.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from typing import TypeVar

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.errors import KafkaError

from sessionflow.core.errors import InfrastructureError
from sessionflow.core.kafka_clients import new_admin
from sessionflow.core.settings import KafkaSettings
from sessionflow.core.topic_reader import partitions_of, topic_metadata
from sessionflow.schemas.state_codec import state_topic

_T = TypeVar("_T")
_RETRY_S = 30.0


def group_of(app_id: str, version: str) -> str:
    """The consumer group (and faust app id) of ``version``."""
    return f"{app_id}-{version}"


async def _admin(kafka: KafkaSettings) -> AIOKafkaAdminClient:
    admin = new_admin(kafka)
    await admin.start()
    return admin


async def _retrying(call: Callable[[], Awaitable[_T]], what: str) -> _T:
    """``call()``, again while the broker answers with a retriable error (a coordinator not
    elected yet, a rebalance); :class:`InfrastructureError` after 30 s."""
    deadline, delay = time.monotonic() + _RETRY_S, 0.1
    while True:
        try:
            return await call()
        except KafkaError as exc:
            if not exc.retriable or time.monotonic() > deadline:
                raise InfrastructureError(f"{what}: {type(exc).__name__}") from exc
        await asyncio.sleep(delay)  # backoff before retrying, bounded by the deadline
        delay = min(delay * 2, 1.0)


async def group_members(kafka: KafkaSettings, group: str) -> int:
    """How many consumers are members of ``group`` now (0 for an empty or unknown group)."""
    admin = await _admin(kafka)
    try:
        responses = await _retrying(
            lambda: admin.describe_consumer_groups([group]), f"describe group {group}"
        )
    finally:
        await admin.close()
    members = 0
    for response in responses:
        for described in response.to_object()["groups"]:
            if described["group"] == group:
                members += len(described["members"])
    return members


async def committed_offsets(kafka: KafkaSettings, group: str) -> dict[int, int]:
    """``group``'s committed offset per partition of the domain topic (absent: none)."""
    partitions = await partitions_of(kafka, kafka.topic)
    admin = await _admin(kafka)
    try:
        tps = [TopicPartition(kafka.topic, p) for p in partitions]
        committed = await _retrying(
            lambda: admin.list_consumer_group_offsets(group, partitions=tps),
            f"offsets of group {group}",
        )
    finally:
        await admin.close()
    return {
        tp.partition: meta.offset
        for tp, meta in committed.items()
        if tp.topic == kafka.topic and meta is not None and meta.offset >= 0
    }


async def changelog_exists(kafka: KafkaSettings, group: str) -> bool:
    """True when the state changelog of ``group`` exists."""
    admin = await _admin(kafka)
    try:
        (topic,) = await topic_metadata(admin, [state_topic(group)])
    finally:
        await admin.close()
    return topic["error_code"] == 0 and bool(topic["partitions"])


def behind(old: dict[int, int], new: dict[int, int]) -> dict[int, tuple[int, int]]:
    """Partitions where ``old`` committed less than ``new``: partition -> (old, new)."""
    return {p: (old.get(p, 0), n) for p, n in sorted(new.items()) if old.get(p, 0) < n}
