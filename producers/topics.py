"""Topic administration: create the domain topics idempotently, describe offsets and lag.

``create_topics`` makes ``KafkaSettings.topic`` and ``KafkaSettings.dlq_topic`` with the configs
of :func:`topic_configs`; a topic that already exists is left untouched and reported as such,
so running it twice is harmless. ``describe_topics`` reports partitions (leader, replicas,
ISR), end offsets, the topic's configs and, for every consumer group with committed offsets on
the topic, its lag per partition. It asks each group only for the offsets of the described
topics' partitions, and a group it may not read (an ACL denial, an unavailable coordinator)
is skipped and named in :attr:`TopicDescription.skipped_groups` instead of failing the call.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import AsyncIterator, Awaitable, Mapping, Sequence
from contextlib import asynccontextmanager
from dataclasses import dataclass, field
from typing import Any, TypeVar

from aiokafka import TopicPartition
from aiokafka.admin import AIOKafkaAdminClient, NewTopic
from aiokafka.admin.config_resource import ConfigResource, ConfigResourceType
from aiokafka.errors import KafkaError, TopicAlreadyExistsError, for_code
from aiokafka.protocol.commit import OffsetFetchRequest

from sessionflow.core.kafka_clients import (
    KafkaConnectError,
    check_connection,
    new_admin,
    new_consumer,
)
from sessionflow.core.reachability import connect_failure
from sessionflow.core.settings import KafkaSettings
from sessionflow.core.topic_reader import topic_metadata
from sessionflow.producers.errors import BrokerUnavailableError, TopicAdminError
from sessionflow.producers.event_time import TOPIC_MAX_AHEAD_MS
from sessionflow.producers.settings import TopicSettings

_T = TypeVar("_T")
_ADMIN_TIMEOUT_S = 30.0
_GROUP_FETCHES_AT_ONCE = 8
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
    skipped_groups: Mapping[str, str] = field(default_factory=dict)
    """Groups whose offsets could not be read (group id -> reason); their lag is unknown."""

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
    started = time.monotonic()
    try:
        await asyncio.wait_for(admin.start(), _ADMIN_TIMEOUT_S)
    except (TimeoutError, KafkaError, OSError) as exc:
        await admin.close()
        elapsed = time.monotonic() - started
        message = connect_failure(kafka, exc, elapsed, _ADMIN_TIMEOUT_S)
        raise BrokerUnavailableError(message) from exc
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


async def describe_topics(
    kafka: KafkaSettings, names: list[str], groups: Sequence[str] | None = None
) -> list[TopicDescription]:
    """Partitions, end offsets, configs and consumer-group lag of each named topic.

    ``groups`` limits the lag columns to those consumer groups (default: every group the
    broker lists). Each group is asked only for its offsets on these topics' partitions; a
    group whose offsets cannot be read is reported in ``skipped_groups``, not raised.
    Raises :class:`TopicAdminError` if a topic does not exist.
    """
    async with _admin(kafka) as admin:
        metadata = await _bounded(topic_metadata(admin, names), "describe topics")
        for topic in metadata:
            if topic["error_code"]:
                error = for_code(topic["error_code"])
                raise TopicAdminError(f"describe {topic['topic']}: {error.__name__}")
        configs = await _bounded(_configs(admin, names), "describe configs")
        partitions = [
            TopicPartition(t["topic"], p["partition"]) for t in metadata for p in t["partitions"]
        ]
        wanted = list(groups) if groups is not None else None
        offsets, skipped = await _bounded(
            _group_offsets(admin, partitions, wanted), "consumer group offsets"
        )
    ends = await _bounded(_end_offsets(kafka, partitions), "end offsets")
    return [_description(t, ends, configs, offsets, skipped) for t in metadata]


async def topic_max_message_bytes(kafka: KafkaSettings, topic: str) -> int | None:
    """The topic's ``max.message.bytes``, or None when it cannot be read (no topic, no ACL)."""
    async with _admin(kafka) as admin:
        try:
            configs = await _bounded(_configs(admin, [topic]), "describe configs")
        except TopicAdminError:
            return None
    value = configs.get(topic, {}).get("max.message.bytes")
    return int(value) if value is not None and value.isdigit() else None


async def _configs(admin: AIOKafkaAdminClient, names: list[str]) -> dict[str, dict[str, str]]:
    resources = [ConfigResource(ConfigResourceType.TOPIC, n) for n in names]
    result: dict[str, dict[str, str]] = {}
    for response in await admin.describe_configs(resources):
        for resource in response.resources:
            name, entries = resource[3], resource[4]
            result[name] = {e[0]: e[1] for e in entries if e[0] in _SHOWN_CONFIGS}
    return result


async def _group_offsets(
    admin: AIOKafkaAdminClient, partitions: list[TopicPartition], groups: list[str] | None
) -> tuple[dict[str, dict[TopicPartition, int]], dict[str, str]]:
    """Committed offsets on ``partitions`` per group, and the groups skipped with the reason."""
    if groups is None:
        groups = sorted({g[0] for g in await admin.list_consumer_groups()})
    gate = asyncio.Semaphore(_GROUP_FETCHES_AT_ONCE)

    async def fetch(group: str) -> dict[TopicPartition, int] | str:
        async with gate:
            try:
                return await _committed(admin, group, partitions)
            except KafkaError as exc:
                return type(exc).__name__

    results = await asyncio.gather(*(fetch(group) for group in groups))
    offsets = {g: r for g, r in zip(groups, results, strict=True) if isinstance(r, dict)}
    skipped = {g: r for g, r in zip(groups, results, strict=True) if isinstance(r, str)}
    return offsets, skipped


async def _committed(
    admin: AIOKafkaAdminClient, group: str, partitions: list[TopicPartition]
) -> dict[TopicPartition, int]:
    """``group``'s committed offsets on ``partitions`` (none committed: left out).

    Sent by hand because ``list_consumer_group_offsets`` (aiokafka 0.14) ignores the
    response's group-level error code, so a denied group would look like one with no offsets.
    """
    by_topic: dict[str, list[int]] = {}
    for tp in partitions:
        by_topic.setdefault(tp.topic, []).append(tp.partition)
    coordinator = await admin.find_coordinator(group)
    request = OffsetFetchRequest(group, list(by_topic.items()))
    response = await admin._send_request(request, coordinator)  # private API: see docstring
    group_error = getattr(response, "error_code", 0)
    if group_error:
        raise for_code(group_error)(f"offsets of group {group}")
    committed: dict[TopicPartition, int] = {}
    for topic, rows in response.topics:
        for partition, offset, _metadata, error_code in rows:
            if error_code:
                raise for_code(error_code)(f"offsets of group {group} on {topic}")
            if offset >= 0:
                committed[TopicPartition(topic, partition)] = offset
    return committed


async def _end_offsets(
    kafka: KafkaSettings, partitions: list[TopicPartition]
) -> dict[TopicPartition, int]:
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
    skipped: Mapping[str, str],
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
    configured = dict(configs.get(name, {}))
    return TopicDescription(name, partitions, configured, tuple(groups), dict(skipped))
