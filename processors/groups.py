"""What a promote needs to know about state versions on the broker.

A state version ``V`` of app ``A`` is the consumer group ``A-V`` (its committed offsets on the
domain topic) and the changelog ``state_topic("A-V")``. All reads, nothing is created.
"""

from __future__ import annotations

from aiokafka.admin import AIOKafkaAdminClient

from sessionflow.core.kafka_clients import new_admin
from sessionflow.core.settings import KafkaSettings
from sessionflow.core.topic_reader import topic_metadata
from sessionflow.processors.replay import group as replay_group
from sessionflow.schemas.state_codec import state_topic


def group_of(app_id: str, version: str) -> str:
    """The consumer group (and faust app id) of ``version``."""
    return f"{app_id}-{version}"


async def _admin(kafka: KafkaSettings) -> AIOKafkaAdminClient:
    admin = new_admin(kafka)
    await admin.start()
    return admin


async def group_members(kafka: KafkaSettings, group: str) -> int:
    """How many consumers are members of ``group`` now (0 for an empty or unknown group)."""
    return await replay_group.group_members(kafka, group)


async def committed_offsets(kafka: KafkaSettings, group: str) -> dict[int, int]:
    """``group``'s committed offset per partition of the domain topic (absent: none)."""
    return await replay_group.committed_offsets(kafka, group, kafka.topic)


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
