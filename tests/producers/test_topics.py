"""`topics create` is idempotent and `topics describe` reports offsets and lag, on a real broker."""

from __future__ import annotations

import pytest
from aiokafka import TopicPartition
from click.testing import CliRunner

from sessionflow.cli.main import cli
from sessionflow.core.kafka_clients import new_admin, new_consumer, new_producer
from sessionflow.core.settings import KafkaSettings
from sessionflow.producers.errors import TopicAdminError
from sessionflow.producers.settings import TopicSettings
from sessionflow.producers.topics import create_topics, describe_topics
from sessionflow.testing import kafka_env, unique_name


async def test_create_twice_is_harmless(kafka: KafkaSettings, topic_name: str) -> None:
    settings = TopicSettings(partitions=4)

    first = await create_topics(kafka, settings)
    second = await create_topics(kafka, TopicSettings(partitions=8))

    assert [(o.name, o.created, o.partitions) for o in first] == [
        (topic_name, True, 4),
        (f"{topic_name}.dlq", True, 1),
    ]
    assert [(o.created, o.partitions) for o in second] == [(False, 4), (False, 1)]
    (events, dlq) = await describe_topics(kafka, [topic_name, f"{topic_name}.dlq"])
    assert events.configs["cleanup.policy"] == "delete"
    assert events.configs["retention.ms"] == str(settings.retention_ms)
    assert events.configs["compression.type"] == "producer"
    assert dlq.configs["retention.ms"] == str(settings.dlq_retention_ms)


async def test_describe_shows_end_offsets_and_group_lag(
    kafka: KafkaSettings, topic_name: str, group_id: str
) -> None:
    await create_topics(kafka, TopicSettings(partitions=2))
    async with new_producer(kafka) as producer:
        for _ in range(5):
            await producer.send_and_wait(topic_name, b"x", partition=0)
        for _ in range(3):
            await producer.send_and_wait(topic_name, b"y", partition=1)
    consumer = new_consumer(kafka, group_id=group_id)
    tp0, tp1 = TopicPartition(topic_name, 0), TopicPartition(topic_name, 1)
    async with consumer:
        consumer.assign([tp0, tp1])
        await consumer.commit({tp0: 2, tp1: 3})

    (described,) = await describe_topics(kafka, [topic_name])

    assert described.end_offsets == {0: 5, 1: 3}
    (group,) = [g for g in described.groups if g.group_id == group_id]
    assert dict(group.committed) == {0: 2, 1: 3}
    assert dict(group.lag) == {0: 3, 1: 0}
    assert group.total_lag == 3


async def test_describe_asks_only_the_named_groups(
    kafka: KafkaSettings, topic_name: str, group_id: str
) -> None:
    await create_topics(kafka, TopicSettings(partitions=1))
    async with new_producer(kafka) as producer:
        for _ in range(4):
            await producer.send_and_wait(topic_name, b"x", partition=0)
    other = unique_name("test-group")
    tp = TopicPartition(topic_name, 0)
    for group, offset in ((group_id, 1), (other, 3)):
        async with new_consumer(kafka, group_id=group) as consumer:
            consumer.assign([tp])
            await consumer.commit({tp: offset})

    (only_one,) = await describe_topics(kafka, [topic_name], groups=[group_id])
    (every,) = await describe_topics(kafka, [topic_name])

    assert [(g.group_id, dict(g.lag)) for g in only_one.groups] == [(group_id, {0: 3})]
    # groups of other tests have no offsets on this topic, so only these two show
    assert sorted((g.group_id, dict(g.lag)) for g in every.groups) == sorted(
        [(group_id, {0: 3}), (other, {0: 1})]
    )
    assert only_one.skipped_groups == every.skipped_groups == {}


async def test_describe_unknown_topic_is_a_typed_error(
    kafka: KafkaSettings, topic_name: str
) -> None:
    with pytest.raises(TopicAdminError, match=topic_name):
        await describe_topics(kafka, [topic_name])

    admin = new_admin(kafka)  # describing it did not create it (auto.create.topics.enable=true)
    await admin.start()
    try:
        assert topic_name not in await admin.list_topics()
    finally:
        await admin.close()


def test_cli_create_then_describe(kafka: KafkaSettings, topic_name: str) -> None:
    env = kafka_env(kafka)
    runner = CliRunner()

    first = runner.invoke(cli, ["topics", "create", "--partitions", "3"], env=env)
    second = runner.invoke(cli, ["topics", "create"], env=env)
    described = runner.invoke(cli, ["topics", "describe"], env=env)

    assert first.exit_code == 0, first.output
    assert f"created {topic_name} (3 partitions)" in first.output
    assert f"exists  {topic_name} (3 partitions)" in second.output
    assert described.exit_code == 0, described.output
    assert topic_name in described.output
    assert "end offset" in described.output
