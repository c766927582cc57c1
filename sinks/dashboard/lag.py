"""Consumer lag of a group on a topic: records past its committed offsets (for the dashboard)."""

from __future__ import annotations

from aiokafka import TopicPartition

from sessionflow.core.kafka_clients import new_admin
from sessionflow.core.settings import KafkaSettings
from sessionflow.core.topic_reader import offset_bounds


async def group_lag(kafka: KafkaSettings, group: str, topic: str) -> int:
    """Records of ``topic`` past ``group``'s committed offsets (no commit: from the start)."""
    starts, ends = await offset_bounds(kafka, topic)
    admin = new_admin(kafka)
    await admin.start()
    try:
        tps = [TopicPartition(topic, p) for p in ends]
        committed = await admin.list_consumer_group_offsets(group, partitions=tps)
    finally:
        await admin.close()
    lag = 0
    for tp in tps:
        meta = committed.get(tp)
        done = meta.offset if meta is not None and meta.offset >= 0 else starts[tp.partition]
        lag += max(0, ends[tp.partition] - done)
    return lag
