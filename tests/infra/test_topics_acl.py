"""`topics describe` on a broker with an authorizer: a group it may not read is skipped, named.

The local launcher has no authorizer, so this test starts its own broker from the same jars
with Kafka's StandardAuthorizer (everything allowed where no ACL matches) and denies the
anonymous principal DESCRIBE on one consumer group, which is what a real ACL denial looks like
to an OffsetFetch request.
"""

from __future__ import annotations

import asyncio
import tempfile
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from aiokafka import TopicPartition
from aiokafka.protocol.admin import CreateAclsRequest
from click.testing import CliRunner

from sessionflow.cli.main import cli
from sessionflow.core.kafka_clients import new_admin, new_consumer, new_producer
from sessionflow.core.local_kafka import LocalKafka, LocalKafkaSettings
from sessionflow.core.settings import KafkaSettings, PathSettings
from sessionflow.producers.settings import TopicSettings
from sessionflow.producers.topics import TopicDescription, create_topics, describe_topics
from sessionflow.testing import kafka_env, unique_name
from sessionflow.testing.kafka import free_ports

_AUTHORIZER = (
    "authorizer.class.name=org.apache.kafka.metadata.authorizer.StandardAuthorizer\n"
    "allow.everyone.if.no.acl.found=true\n"
)
# Kafka protocol codes (org.apache.kafka.common.acl / resource)
_GROUP, _LITERAL, _DESCRIBE, _DENY = 3, 3, 8, 2


class _AuthorizingKafka(LocalKafka):
    def _write_config(self, *args: Any, **kwargs: Any) -> None:
        super()._write_config(*args, **kwargs)
        with (self.home / "server.properties").open("a") as config:
            config.write(_AUTHORIZER)


@pytest.fixture(scope="module")
def acl_kafka() -> Iterator[KafkaSettings]:
    with tempfile.TemporaryDirectory(prefix="sessionflow-acl-") as tmp:
        port, controller_port = free_ports(2)
        settings = LocalKafkaSettings(port=port, controller_port=controller_port, heap_mb=256)
        paths = PathSettings(cache_dir=PathSettings().cache_dir, data_dir=Path(tmp))
        broker = _AuthorizingKafka(settings, paths)
        try:
            yield KafkaSettings(bootstrap_servers=broker.up().bootstrap_servers)
        finally:
            broker.down()


async def _commit(kafka: KafkaSettings, group: str, tp: TopicPartition, offset: int) -> None:
    async with new_consumer(kafka, group_id=group) as consumer:
        consumer.assign([tp])
        await consumer.commit({tp: offset})


async def _deny_describe(kafka: KafkaSettings, group: str) -> None:
    admin = new_admin(kafka)
    await admin.start()
    try:
        request = CreateAclsRequest(
            _GROUP, group, _LITERAL, "User:ANONYMOUS", "*", _DESCRIBE, _DENY
        )
        response = await admin._send_request(request)
    finally:
        await admin.close()
    assert [code for code, _ in response.creation_responses] == [0]


async def _described_once_denied(kafka: KafkaSettings, topic: str, group: str) -> TopicDescription:
    """Describe until the new ACL is in force (ACLs propagate through the metadata log)."""
    deadline = time.monotonic() + 30
    while True:
        (described,) = await describe_topics(kafka, [topic])
        if group in described.skipped_groups or time.monotonic() > deadline:
            return described
        await asyncio.sleep(0.2)  # polling interval of a condition wait


async def _two_groups_one_denied(kafka: KafkaSettings, readable: str, denied: str) -> None:
    await create_topics(kafka, TopicSettings(partitions=1))
    async with new_producer(kafka) as producer:
        for _ in range(3):
            await producer.send_and_wait(kafka.topic, b"x", partition=0)
    tp = TopicPartition(kafka.topic, 0)
    await _commit(kafka, readable, tp, 1)
    await _commit(kafka, denied, tp, 2)
    await _deny_describe(kafka, denied)


def test_a_denied_group_is_skipped_and_the_others_shown(acl_kafka: KafkaSettings) -> None:
    topic = unique_name("acl-events")
    kafka = acl_kafka.model_copy(update={"topic": topic, "dlq_topic": f"{topic}.dlq"})
    readable, denied = unique_name("open"), unique_name("denied")
    asyncio.run(_two_groups_one_denied(kafka, readable, denied))

    described = asyncio.run(_described_once_denied(kafka, topic, denied))
    cli_run = CliRunner().invoke(
        cli, ["topics", "describe", topic], env=kafka_env(kafka), terminal_width=200
    )

    assert described.skipped_groups == {denied: "GroupAuthorizationFailedError"}
    assert [(g.group_id, dict(g.lag)) for g in described.groups] == [(readable, {0: 2})]
    assert cli_run.exit_code == 0, cli_run.output
    assert f"lag {readable}" in cli_run.output
    assert f"group {denied} skipped" in cli_run.output
    assert "GroupAuthorizationFailedError" in cli_run.output
