"""Topic administration: create the domain topics idempotently, describe offsets and lag.

``create_topics`` makes ``KafkaSettings.topic`` and ``KafkaSettings.dlq_topic`` with the configs
of :func:`topic_configs`; a topic that already exists is left untouched and reported as such,
so running it twice is harmless. ``describe_topics`` reports partitions (leader, replicas,
ISR), end offsets, the topic's configs and, for every consumer group with committed offsets on
the topic, its lag per partition.
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Awaitable, Mapping
from contextlib import asynccontextmanager
from dataclasses import dataclass
from typing import Any, TypeVar

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code

from sessionflow.core.kafka_clients import (
    KafkaConnectError,
    check_connection,
    new_admin,
    new_consumer,
)
from sessionflow.core.settings import KafkaSettings
from sessionflow.producers.errors import BrokerUnavailableError, TopicAdminError
from sessionflow.producers.event_time import TOPIC_MAX_AHEAD_MS
from sessionflow.producers.settings import TopicSettings

_T = TypeVar("_T")
_ADMIN_TIMEOUT_S = 30.0
_LONG_MAX = 2**63 - 1  # Kafka's "no limit" for a timestamp difference
_SHOWN_CONFIGS = (
    "cleanup.policy",
    "retention.ms",
    "compression.type",
    "min.insync.replicas",
    "max.message.bytes",
)


@dataclass(frozen=True)
class TopicSpec:
    """What ``create_topics`` asks the broker for."""

    name: str
    partitions: int
    replication_factor: int
    configs: Mapping[str, str]


@dataclass(frozen=True)
class CreateOutcome:
    """One topic after ``create_topics``: newly created, or already there (left as is)."""

    name: str
    created: bool
    partitions: int


@dataclass(frozen=True)
class PartitionInfo:
    """One partition: its leader, replicas, in-sync replicas and end offset."""

    partition: int
    leader: int
    replicas: tuple[int, ...]
    isr: tuple[int, ...]
    end_offset: int


@dataclass(frozen=True)
class GroupLag:
    """A consumer group's committed offsets on one topic and its lag (end - committed)."""

    group_id: str
    committed: Mapping[int, int]
    lag: Mapping[int, int]

    @property
    def total_lag(self) -> int:
        """Records the group still has to read, over all partitions it committed on."""
        return sum(self.lag.values())


@dataclass(frozen=True)
class TopicDescription:
    """What ``describe_topics`` reports for one topic."""

    name: str
    partitions: tuple[PartitionInfo, ...]
    configs: Mapping[str, str]
    groups: tuple[GroupLag, ...]

    @property
    def end_offsets(self) -> dict[int, int]:
        """End offset per partition."""
        return {p.partition: p.end_offset for p in self.partitions}


def topic_configs(settings: TopicSettings, *, dlq: bool) -> dict[str, str]:
    """Broker configs of the domain topic (``dlq=False``) or of its dead-letter topic.

    - ``cleanup.policy=delete``: events are an append-only log, never compacted by key;
    - ``retention.ms``: :attr:`TopicSettings.retention_ms` (dlq: ``dlq_retention_ms``);
    - ``compression.type=producer``: the broker stores the producer's compressed batches as is;
    - ``max.message.bytes``: :attr:`TopicSettings.max_message_bytes`;
    - ``message.timestamp.type=CreateTime``: a record keeps the timestamp the producer set,
      its event's ``occurred_at`` (never the append time), so retention, ``offsets_for_times``
      and windows follow event time;
    - ``message.timestamp.after.max.ms``: 1 h 5 min (``event_time.TOPIC_MAX_AHEAD_MS``: Kafka
      4.x's default 1 h plus clock-skew slack); the SDK itself refuses more than 1 h ahead;
    - ``message.timestamp.before.max.ms``: unlimited (also 4.x's default), so events of any age
      are accepted; retention then deletes those older than ``retention.ms``;
    - ``min.insync.replicas``: only when replicated (see
      :meth:`TopicSettings.effective_min_insync`), so ``acks=all`` means "on that many replicas".

    The timestamp configs are set explicitly so the SDK's checks hold whatever the broker's
    own defaults are.
    """
    configs = {
        "cleanup.policy": "delete",
        "retention.ms": str(settings.dlq_retention_ms if dlq else settings.retention_ms),
        "compression.type": "producer",
        "max.message.bytes": str(settings.max_message_bytes),
        "message.timestamp.type": "CreateTime",
        "message.timestamp.after.max.ms": str(TOPIC_MAX_AHEAD_MS),
        "message.timestamp.before.max.ms": str(_LONG_MAX),
    }
    min_insync = settings.effective_min_insync()
    if min_insync is not None:
        configs["min.insync.replicas"] = str(min_insync)
    return configs


def topic_specs(kafka: KafkaSettings, settings: TopicSettings) -> tuple[TopicSpec, TopicSpec]:
    """The domain topic and its dead-letter topic, as ``create_topics`` will request them."""
    return (
        TopicSpec(
            kafka.topic,
            settings.partitions,
            settings.replication_factor,
            topic_configs(settings, dlq=False),
        ),
        TopicSpec(
            kafka.dlq_topic,
            settings.dlq_partitions,
            settings.replication_factor,
            topic_configs(settings, dlq=True),
        ),
    )


async def _bounded(awaitable: Awaitable[_T], what: str) -> _T:
    try:
        return await asyncio.wait_for(awaitable, _ADMIN_TIMEOUT_S)
    except TimeoutError as exc:
        raise TopicAdminError(f"{what}: no answer within {_ADMIN_TIMEOUT_S:.0f}s") from exc
    except KafkaError as exc:
        raise TopicAdminError(f"{what}: {exc!r}") from exc


@asynccontextmanager
async def _admin(kafka: KafkaSettings) -> AsyncIterator[AIOKafkaAdminClient]:
    try:  # one line for a refused connection, an untrusted certificate, failed authentication
        await check_connection(kafka, _ADMIN_TIMEOUT_S)
    except KafkaConnectError as exc:
        raise BrokerUnavailableError(str(exc)) from exc
    admin = new_admin(kafka, request_timeout_ms=15_000)
    try:
        await asyncio.wait_for(admin.start(), _ADMIN_TIMEOUT_S)
    except (TimeoutError, KafkaError, OSError) as exc:
        await admin.close()
        raise BrokerUnavailableError(f"cannot reach {kafka.bootstrap_servers}: {exc!r}") from exc
    try:
        yield admin
    finally:
        await admin.close()


def _topic_errors(response: Any) -> dict[str, tuple[int, str]]:
    return {row[0]: (row[1], row[2] if len(row) > 2 else "") for row in response.topic_errors}


async def create_topics(
    kafka: KafkaSettings, settings: TopicSettings | None = None
) -> list[CreateOutcome]:
    """Create the domain and dead-letter topics if missing; existing ones are left as they are.

    Returns once both topics serve metadata with a leader for every partition.
    Raises :class:`TopicAdminError` (broker refused) or :class:`BrokerUnavailableError`.
    """
    specs = topic_specs(kafka, settings or TopicSettings())
    requests = [
        NewTopic(s.name, s.partitions, s.replication_factor, topic_configs=dict(s.configs))
        for s in specs
    ]
    async with _admin(kafka) as admin:
        response = await _bounded(admin.create_topics(requests), "create topics")
        created: dict[str, bool] = {}
        for name, (code, message) in _topic_errors(response).items():
            error = for_code(code) if code else None
            if error is not None and error is not TopicAlreadyExistsError:
                raise TopicAdminError(f"create {name}: {error.__name__} {message}".strip())
            created[name] = error is None
        counts = await _bounded(_wait_for_leaders(admin, [s.name for s in specs]), "topics ready")
    return [CreateOutcome(s.name, created.get(s.name, False), counts[s.name]) for s in specs]


async def _wait_for_leaders(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, int]:
    """Poll metadata until every partition of every topic has a leader; partition counts."""
    delay = 0.05
    while True:
        topics = {t["topic"]: t for t in await admin.describe_topics(names)}
        ready = {
            name: len(t["partitions"])
            for name, t in topics.items()
            if t["error_code"] == 0
            and t["partitions"]
            and all(p["leader"] >= 0 for p in t["partitions"])
        }
        if len(ready) == len(names):
            return ready
        await asyncio.sleep(delay)  # metadata propagation: poll with backoff, bounded by caller
        delay = min(delay * 2, 1.0)


async def describe_topics(kafka: KafkaSettings, names: list[str]) -> list[TopicDescription]:
    """Partitions, end offsets, configs and consumer-group lag of each named topic.

    Raises :class:`TopicAdminError` if a topic does not exist.
    """
    async with _admin(kafka) as admin:
        metadata = await _bounded(admin.describe_topics(names), "describe topics")
        for topic in metadata:
            if topic["error_code"]:
                error = for_code(topic["error_code"])
                raise TopicAdminError(f"describe {topic['topic']}: {error.__name__}")
        configs = await _bounded(_configs(admin, names), "describe configs")
        offsets = await _bounded(_group_offsets(admin), "consumer group offsets")
    ends = await _bounded(_end_offsets(kafka, metadata), "end offsets")
    return [_description(t, ends, configs, offsets) for t in metadata]


async def _configs(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in names]
    result: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        for resource in response.resources:
            name, entries = resource[3], resource[4]
            result[name] = {e[0]: e[1] for e in entries if e[0] in _SHOWN_CONFIGS}
    return result


async def _group_offsets(
    admin: AIOKafkaAdminClient,
) -> dict[str, dict[TopicPartition, int]]:
    groups = sorted(g[0] for g in await admin.list_consumer_groups())
    result: dict[str, dict[TopicPartition, int]] = {}
    for group in groups:
        committed = await admin.list_consumer_group_offsets(group)
        result[group] = {tp: meta.offset for tp, meta in committed.items() if meta.offset >= 0}
    return result


async def _end_offsets(kafka: KafkaSettings, metadata: list[Any]) -> dict[TopicPartition, int]:
    partitions = [
        TopicPartition(t["topic"], p["partition"]) for t in metadata for p in t["partitions"]
    ]
    consumer = new_consumer(kafka)
    await consumer.start()
    try:
        ends: dict[TopicPartition, int] = await consumer.end_offsets(partitions)
        return ends
    finally:
        await consumer.stop()


def _description(
    topic: Any,
    ends: Mapping[TopicPartition, int],
    configs: Mapping[str, Mapping[str, str]],
    offsets: Mapping[str, Mapping[TopicPartition, int]],
) -> TopicDescription:
    name = topic["topic"]
    partitions = tuple(
        PartitionInfo(
            p["partition"],
            p["leader"],
            tuple(p["replicas"]),
            tuple(p["isr"]),
            ends[TopicPartition(name, p["partition"])],
        )
        for p in sorted(topic["partitions"], key=lambda p: p["partition"])
    )
    end_by_partition = {p.partition: p.end_offset for p in partitions}
    groups = []
    for group, committed in offsets.items():
        mine = {tp.partition: off for tp, off in committed.items() if tp.topic == name}
        if mine:
            lag = {p: max(0, end_by_partition.get(p, off) - off) for p, off in mine.items()}
            groups.append(GroupLag(group, mine, lag))
    return TopicDescription(name, partitions, dict(configs.get(name, {})), tuple(groups))
