"""Point-in-time state and ``sessionflow verify`` against the real broker and chdb.

Expected states are pure folds of prefixes of the records read back from the topic (the
test picks the prefix itself); verify is checked on equal versions, on a live version that
moved past the cut, and on a corrupted rebuilt version, which it must catch.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
from collections.abc import Callable
from datetime import UTC, datetime
from typing import Any

from sessionflow.core.kafka_clients import new_producer
from sessionflow.core.settings import KafkaSettings
from sessionflow.processors.domain import Record, SessionState
from sessionflow.processors.domain.records import to_record, to_view
from sessionflow.processors.replay.pointintime import (
    PointInTime,
    clickhouse_source,
    session_partition,
    state_at,
    topic_source,
)
from sessionflow.processors.replay.rebuild import catch_up
from sessionflow.processors.settings import ProcessorSettings
from sessionflow.schemas.state_codec import StateCodec, state_topic
from sessionflow.sinks.clickhouse.migrate import migrate
from sessionflow.testing import kafka_env
from tests.processors.conftest import CODEC, topic_records
from tests.replay.kit import ends_of, pure_fold, version_states

Simulated = Callable[[int, int, int], Any]


def session_with_most_records(records: list[Record]) -> tuple[str, list[Record]]:
    by_session: dict[str, list[Record]] = {}
    for record in records:
        if record.key is not None:
            by_session.setdefault(record.key.decode(), []).append(record)
    session = max(by_session, key=lambda s: len(by_session[s]))
    return session, by_session[session]


def same(found: SessionState | None, expected: SessionState | None) -> bool:
    assert found is not None
    assert expected is not None
    return to_record(found) == to_record(expected)


def test_state_at_a_time_and_at_a_sequence_is_the_fold_of_the_prefix(
    topics: KafkaSettings, simulated: Simulated, ch_client: Any, ch_database: str
) -> None:
    simulated(12, 31, 1)
    records = topic_records(topics)
    session, mine = session_with_most_records(records)
    assert len(mine) > 6
    cut = mine[len(mine) // 2]
    before = PointInTime(at_ms=cut.timestamp - 1)
    prefix = []  # the session's records before its first one after the time
    for record in mine:
        if record.timestamp > cut.timestamp - 1:
            break
        prefix.append(record)
    expected_at_time = pure_fold(prefix)[session]
    sequence = CODEC.decode(cut.value)["sequence"]
    through = next(r for r in mine if CODEC.decode(r.value)["sequence"] == sequence)
    expected_at_sequence = pure_fold([r for r in mine if r.offset <= through.offset])[session]

    async def from_topic(point: PointInTime) -> SessionState | None:
        return (await state_at(await topic_source(topics, session, point), session, point,
                               CODEC)).state  # fmt: skip

    assert same(asyncio.run(from_topic(before)), expected_at_time)
    assert same(asyncio.run(from_topic(PointInTime(at_sequence=sequence))), expected_at_sequence)
    assert same(asyncio.run(from_topic(PointInTime())), pure_fold(mine)[session])

    migrate(ch_client, ch_database, 30)
    ch_client.insert(
        f"{ch_database}.events",
        [[r.key or b"", r.value, r.topic, r.partition, r.offset,
          datetime.fromtimestamp(r.timestamp / 1000, UTC), (r.key or b"").decode()]
         for r in records],
        column_names=["key", "avro", "topic", "partition", "offset", "kafka_timestamp",
                      "session_id"],
    )  # fmt: skip

    async def from_clickhouse(point: PointInTime) -> SessionState | None:
        source = clickhouse_source(ch_client, ch_database, topics.topic, session)
        return (await state_at(source, session, point, CODEC)).state

    assert same(asyncio.run(from_clickhouse(before)), expected_at_time)
    assert same(asyncio.run(from_clickhouse(PointInTime(at_sequence=sequence))),
                expected_at_sequence)  # fmt: skip

    shown = cli(topics, {}, "state", session, "--at-sequence", str(sequence), "--format", "json")
    assert shown.returncode == 0, shown.stderr
    assert json.loads(shown.stdout) == json.loads(json.dumps(to_view(expected_at_sequence),
                                                              default=str))  # fmt: skip
    missing = cli(topics, {}, "state", "show", session, "--at-sequence", "999999")
    assert missing.returncode == 1
    assert missing.stderr.count("\n") == 1
    assert "no record with sequence 999999" in missing.stderr


def cli(
    kafka: KafkaSettings, extra: dict[str, str], *args: str
) -> subprocess.CompletedProcess[str]:
    env = {**os.environ, **kafka_env(kafka), **extra, "COLUMNS": "200"}
    return subprocess.run([sys.executable, "-m", "sessionflow.cli", *args], env=env,
                          capture_output=True, text=True, timeout=300)  # fmt: skip


def test_verify_passes_on_equal_versions_skips_what_live_moved_and_catches_a_difference(
    topics: KafkaSettings, simulated: Simulated, app_id: str
) -> None:
    simulated(15, 41, 1)
    at_cut = pure_fold(topic_records(topics))
    elsewhere = {
        "SESSIONFLOW_PROCESSOR_APP_ID": app_id,
        "SESSIONFLOW_PROCESSOR_STATE_VERSION": "v9",
    }
    for version in ("v1", "v2"):
        built = cli(topics, elsewhere, "replay", "--source", "topic", "--version", version)
        assert built.returncode == 0, built.stderr
    live_v1 = {"SESSIONFLOW_PROCESSOR_APP_ID": app_id, "SESSIONFLOW_PROCESSOR_STATE_VERSION": "v1"}

    checked = cli(topics, live_v1, "verify", "--version", "v2")
    assert checked.returncode == 0, checked.stdout + checked.stderr
    assert "equal" in checked.stdout
    assert "live sessions changed after the cut (not compared): 0" in checked.stdout

    simulated(5, 42, 0)  # live v1 moves on past v2's cut
    settings = ProcessorSettings(app_id=app_id)
    asyncio.run(catch_up(topics, settings, "v1", ends_of(topic_records(topics))))
    moved = cli(topics, live_v1, "verify", "--version", "v2")
    assert moved.returncode == 0, moved.stdout + moved.stderr
    assert "live sessions changed after the cut (not compared): 5" in moved.stdout

    victim = sorted(at_cut)[0]  # one session of the rebuilt version, altered
    wrong = at_cut[victim]
    wrong.outcome = "tampered"
    asyncio.run(_write_state(topics, state_topic(f"{app_id}-v2"), victim, wrong))
    caught = cli(topics, live_v1, "verify", "--version", "v2")
    assert caught.returncode == 1, caught.stdout
    assert victim in caught.stdout
    assert "tampered" in caught.stdout

    swapped = cli(topics, live_v1, "replay", "--source", "topic", "--swap")  # no worker runs
    assert swapped.returncode == 0, swapped.stdout + swapped.stderr
    assert "promoted v1 -> v3" in swapped.stdout
    assert cli(topics, live_v1, "state", "current").stdout.startswith("v3")
    assert version_states(topics, app_id, "v3") == pure_fold(topic_records(topics))


async def _write_state(kafka: KafkaSettings, topic: str, session: str, state: SessionState) -> None:
    producer = new_producer(kafka)
    await producer.start()
    try:
        partitions = sorted(await producer.partitions_for(topic))
        partition = session_partition(session, len(partitions))
        value = StateCodec().encode(to_record(state))
        await producer.send_and_wait(topic, value, key=session.encode(), partition=partition)
    finally:
        await producer.stop()
