"""``sessionflow replay --source clickhouse`` and ``--republish`` as a user runs them."""

from __future__ import annotations

import asyncio
from pathlib import Path

from sessionflow.core.settings import KafkaSettings
from sessionflow.producers.settings import TopicSettings
from sessionflow.producers.topics import create_topics
from sessionflow.testing import unique_name
from tests.processors.conftest import SimulationFactory, topic_records
from tests.replay.kit import (
    committed,
    ends_of,
    pure_fold,
    replay_env,
    run_replay,
    version_states,
    with_audit_copy,
)


def test_replay_and_republish_from_clickhouse_on_the_command_line(
    topics: KafkaSettings, simulated: SimulationFactory, app_id: str, tmp_path: Path
) -> None:
    simulated(25, 14, 1)
    records = topic_records(topics)
    env = with_audit_copy(replay_env(topics, app_id, tmp_path), tmp_path)

    done = run_replay(env, "--source", "clickhouse")
    assert done.returncode == 0, done.stderr
    assert f"version v2: {len(records):,} events folded" in done.stdout
    assert version_states(topics, app_id, "v2") == pure_fold(records)
    assert committed(topics, f"{app_id}-v2") == ends_of(records)

    name = unique_name("test-republished")
    target = topics.model_copy(update={"topic": name, "dlq_topic": f"{name}.dlq"})
    asyncio.run(create_topics(target, TopicSettings(partitions=6, retention_ms=-1)))
    first = run_replay(env, "--source", "clickhouse", "--republish", name)
    second = run_replay(env, "--source", "clickhouse", "--republish", name)
    assert (first.returncode, second.returncode) == (0, 0), first.stderr + second.stderr
    assert first.stdout.strip().splitlines()[-1] == (
        f"republished to {name}: {len(records):,} records written, 0 written before and skipped"
    )
    assert second.stdout.strip().splitlines()[-1] == (
        f"republished to {name}: 0 records written, {len(records):,} written before and skipped"
    )
    assert sorted((r.partition, r.key, r.value) for r in topic_records(topics, name)) == sorted(
        (r.partition, r.key, r.value) for r in records
    )
