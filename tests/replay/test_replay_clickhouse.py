"""Rebuild and republish from ClickHouse's audit table: the same fold as from the topic."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

from sessionflow.core.settings import KafkaSettings
from sessionflow.processors.replay.clickhouse_source import AuditFilter, ClickHouseSource
from sessionflow.processors.replay.rebuild import Rebuild, RebuildReport, Target
from sessionflow.processors.replay.republish import republish
from sessionflow.processors.runtime.deadletter_writer import H_OFFSET, H_PARTITION, H_TOPIC
from sessionflow.producers.settings import TopicSettings
from sessionflow.producers.simulator import simulate
from sessionflow.producers.topics import create_topics
from sessionflow.testing import unique_name
from tests.processors.conftest import CODEC, recent_plan, topic_records
from tests.processors.expected import expected_dead_letters
from tests.replay.kit import committed, ends_of, prefix_until, pure_fold, version_states
from tests.sinks.sinkkit import fill


def _rebuild(
    kafka: KafkaSettings, app_id: str, version: str, source: ClickHouseSource, commit: bool = True
) -> RebuildReport:
    target = Target(app_id, version)
    return asyncio.run(Rebuild(kafka, target, source, {}, commit=commit).run())


def test_a_rebuild_from_clickhouse_equals_the_fold_of_the_topic(
    topics: KafkaSettings, ch_client: Any, ch_database: str, app_id: str, tmp_path: Path
) -> None:
    sim = simulate(recent_plan(40, 8, 2), CODEC.encode)
    fill(topics, ch_client, ch_database, tmp_path, sim)
    records = topic_records(topics)
    pure = pure_fold(records)

    def source(**where: Any) -> ClickHouseSource:
        audit = AuditFilter(**where)
        return ClickHouseSource(ch_client, ch_database, topics.topic, where=audit, batch_size=50)

    report = _rebuild(topics, app_id, "v2", source())
    assert version_states(topics, app_id, "v2") == pure
    assert committed(topics, f"{app_id}-v2") == ends_of(records)
    assert (report.events, report.sessions) == (len(records), len(pure))
    assert report.dead_letters == Counter(r for r, _ in expected_dead_letters(sim).elements())

    cut_ms = sorted(r.timestamp for r in records)[len(records) // 3]
    prefix, ends = prefix_until(records, cut_ms)
    _rebuild(topics, app_id, "v3", source(until_ms=cut_ms))
    assert 0 < len(prefix) < len(records)
    assert version_states(topics, app_id, "v3") == pure_fold(prefix)
    assert committed(topics, f"{app_id}-v3") == ends

    session = sorted(pure)[len(pure) // 2]
    _rebuild(topics, app_id, "v4", source(session_id=session), commit=False)
    assert version_states(topics, app_id, "v4") == {session: pure[session]}
    assert committed(topics, f"{app_id}-v4") == {}


def test_republish_writes_each_audited_record_once_however_often_it_runs(
    topics: KafkaSettings, ch_client: Any, ch_database: str, tmp_path: Path
) -> None:
    sim = simulate(recent_plan(30, 9, 1), CODEC.encode)
    fill(topics, ch_client, ch_database, tmp_path, sim)
    records = topic_records(topics)
    name = unique_name("test-republished")
    target = topics.model_copy(update={"topic": name, "dlq_topic": f"{name}.dlq"})
    asyncio.run(create_topics(target, TopicSettings(partitions=6, retention_ms=-1)))
    cut_ms = sorted(r.timestamp for r in records)[len(records) // 2]
    prefix, _ = prefix_until(records, cut_ms)

    def run(**where: Any) -> tuple[int, int]:
        source = ClickHouseSource(ch_client, ch_database, topics.topic, where=AuditFilter(**where))
        report = asyncio.run(republish(topics, source, name))
        return report.written, report.skipped

    assert run(until_ms=cut_ms) == (len(prefix), 0)  # a first run that stopped half-way
    assert run() == (len(records) - len(prefix), len(prefix))
    assert run() == (0, len(records))

    written = topic_records(topics, name)
    originals = {(r.partition, r.offset): r for r in records}
    origins = Counter(
        (dict(w.headers)[H_TOPIC].decode(), int(dict(w.headers)[H_PARTITION]),
         int(dict(w.headers)[H_OFFSET]))
        for w in written
    )  # fmt: skip
    assert origins == Counter((topics.topic, p, o) for p, o in originals)
    for w in written:
        origin = originals[(w.partition, int(dict(w.headers)[H_OFFSET]))]
        assert (w.key, w.value, w.timestamp) == (origin.key, origin.value, origin.timestamp)
