"""``sessionflow dlq list|show|replay`` on the real broker, against a real worker's dead letters.

Ground truth is the simulator's list of injected anomalies; what a re-injected event does is
read from the worker's state API and from the topics themselves.
"""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
from collections import Counter
from datetime import timedelta
from pathlib import Path
from typing import Any

from click.testing import CliRunner, Result

from sessionflow.cli.main import cli
from sessionflow.core.kafka_clients import new_producer
from sessionflow.core.settings import KafkaSettings
from sessionflow.core.topic_reader import offset_bounds
from sessionflow.processors.dlq import DeadLetterReader, Selection
from sessionflow.processors.dlq.replay import Reinjector, ReplayLedger
from sessionflow.processors.domain import Record
from sessionflow.processors.domain.deadletters import DeadLetter, Reason
from sessionflow.processors.domain.ordering import scope_key
from sessionflow.processors.runtime.deadletter_writer import (
    H_OFFSET,
    H_PARTITION,
    H_REASON,
    H_REPLAY_DLQ,
    H_REPLAY_HISTORY,
    H_REPLAY_ORIGIN,
    H_TOPIC,
    DeadLetterWriter,
)
from sessionflow.producers.simulator import AnomalyKind, InjectedAnomaly, Simulation
from sessionflow.schemas import models as m
from sessionflow.schemas.enums import ApprovalMode, EventType
from sessionflow.schemas.validation import make_event, millis_to_datetime
from sessionflow.testing import kafka_env
from tests.processors.conftest import CODEC, SimulationFactory, topic_records
from tests.processors.expected import expected_dead_letters
from tests.processors.harness import Worker, caught_up, wait_for, worker_env, workers
from tests.processors.views import origin_of


def dlq(kafka: KafkaSettings, *args: str) -> Result:
    """Run ``sessionflow dlq ARGS`` in-process with ``kafka``'s environment."""
    result = CliRunner().invoke(cli, ["dlq", *args], env=kafka_env(kafka))
    assert result.exit_code == 0, (result.output, result.stderr)
    return result


def letters_json(kafka: KafkaSettings, *args: str) -> dict[str, Any]:
    """``dlq list --format json ARGS`` parsed."""
    data: dict[str, Any] = json.loads(dlq(kafka, "list", "--format", "json", *args).stdout)
    return data


def header(record: Record, name: str) -> str | None:
    """Header ``name`` of ``record`` as text."""
    values = dict(record.headers)
    return values[name].decode() if name in values else None


def replayed(kafka: KafkaSettings) -> list[Record]:
    """The records on the domain topic that a replay wrote."""
    return [r for r in topic_records(kafka) if header(r, H_REPLAY_DLQ) is not None]


def repair(anomaly: InjectedAnomaly, sim: Simulation) -> list[tuple[str, bytes]]:
    """The missing session.created and session.activated of an unknown_session anomaly's
    session, from an ops producer (message.created needs an ACTIVE session)."""
    bad = next(r.event for r in sim.records if r.event and r.event.event_id == anomaly.event_id)
    assert bad is not None
    at = bad.occurred_at - timedelta(seconds=1)
    created = make_event(
        EventType.SESSION_CREATED, anomaly.session_id, 1, "ops-repair",
        m.SessionCreated(config=m.SessionConfig(approval_mode=ApprovalMode.AUTO)),
        occurred_at=at, producer_id="ops-repair-1",
    )  # fmt: skip
    activated = make_event(
        EventType.SESSION_ACTIVATED, anomaly.session_id, 2, "ops-repair",
        m.SessionActivated(reason="repair"), occurred_at=at, producer_id="ops-repair-1",
    )  # fmt: skip
    return [(anomaly.session_id, CODEC.encode(event)) for event in (created, activated)]


def send_raw(kafka: KafkaSettings, records: list[tuple[str, bytes]]) -> None:
    """Send (key, value) records to the domain topic, keyed like every producer."""

    async def run() -> None:
        producer = new_producer(kafka)
        await producer.start()
        try:
            for key, value in records:
                await (await producer.send(kafka.topic, value, key=key.encode()))
        finally:
            await producer.stop()

    asyncio.run(run())


def session_view(worker: Worker, session_id: str) -> Any:
    """The worker's view of ``session_id``, None if it has none."""
    status, body = worker.get(f"/sessions/{session_id}")
    return body if status == 200 else None


def active(worker: Worker, session_id: str) -> bool:
    """True once the worker holds ``session_id`` as ACTIVE."""
    view = session_view(worker, session_id)
    return view is not None and view["status"] == "ACTIVE"


def test_list_show_and_replay_against_a_worker(
    topics: KafkaSettings, simulated: SimulationFactory, app_id: str, tmp_path: Path
) -> None:
    sim = simulated(12, 11, 2)
    truth = expected_dead_letters(sim)
    unknown = [a for a in sim.injected if a.kind is AnomalyKind.UNKNOWN_SESSION]
    raws = {r.raw for r in sim.records if r.raw is not None}
    env = worker_env(topics, app_id, tmp_path, SESSIONFLOW_PROCESSOR_PLUGINS="")
    with workers(env, tmp_path) as (worker,):
        wait_for(lambda: caught_up(topics, [worker]), 120, "the worker to fold the topic")

        # list: the injected set, by reason and by event
        listed = letters_json(topics)
        assert listed["by_reason"] == {k.value: n for k, n in sim.injected_counts().items() if n}
        assert Counter((d["reason"], d["event_id"]) for d in listed["letters"]) == truth
        only = letters_json(topics, "--reason", "unknown_session", "--reason", "undecodable")
        assert Counter(d["reason"] for d in only["letters"]) == {
            "unknown_session": 2, "undecodable": 2,
        }  # fmt: skip
        assert len(letters_json(topics, "--limit", "3")["letters"]) == 3
        assert letters_json(topics, "--since", "2099-01-01")["matching"] == 0
        table = dlq(topics, "list").stdout
        assert "unknown_session" in table
        assert "sequence_gap" in table

        # show: a decodable letter decodes to the injected event, an undecodable one does not
        by_reason = {d["reason"]: d for d in listed["letters"]}
        shown = json.loads(
            dlq(topics, "show", by_reason["unknown_session"]["position"], "--format", "json").stdout
        )
        assert shown["event"]["event_id"] in {a.event_id for a in unknown}
        assert shown["origin"].startswith(f"{topics.topic}/")
        junk = json.loads(dlq(topics, "show", by_reason["undecodable"]["position"],
                              "--format", "json").stdout)  # fmt: skip
        assert junk["event"] is None
        assert junk["decode_error"]
        assert any(raw is not None and raw[:64].hex() == junk["hex_prefix"] for raw in raws)
        bare = dlq(topics, "show", str(by_reason["sequence_gap"]["offset"])).stdout
        assert "sequence_gap" in bare
        assert "event:" in bare

        # the fix: the sessions of the unknown_session letters now exist
        send_raw(topics, [record for a in unknown for record in repair(a, sim)])
        wait_for(lambda: all(active(worker, a.session_id) for a in unknown), 60,
                 "the repaired sessions to be ACTIVE")  # fmt: skip
        dlq_end = asyncio.run(offset_bounds(topics, topics.dlq_topic))[1][0]

        dry = dlq(topics, "replay", "--dry-run").stdout
        assert "would re-inject 4" in dry
        assert replayed(topics) == []
        first = dlq(topics, "replay").stdout
        assert "re-injected 4;" in first
        wait_for(lambda: caught_up(topics, [worker]), 60, "the worker to fold the replay")
        views = {a.session_id: session_view(worker, a.session_id) for a in unknown}

        second = dlq(topics, "replay").stdout
        assert "re-injected 0; skipped 4 re-injected before and 2 that came back" in second

    # each fixable letter re-injected exactly once, bytes and key unchanged
    before = {d["position"]: d for d in only["letters"]}
    again = replayed(topics)
    assert sorted(header(r, H_REPLAY_DLQ) or "" for r in again) == sorted(before)
    dead = {f"0:{r.offset}": r for r in topic_records(topics, topics.dlq_topic)}
    originals = {(r.partition, r.offset): r for r in topic_records(topics)}
    for record in again:
        letter = dead[header(record, H_REPLAY_DLQ) or ""]
        assert (record.key, record.value, record.timestamp) == (
            letter.key, letter.value, letter.timestamp,
        )  # fmt: skip
        assert record.partition == origin_of(letter)[0]
        assert header(record, H_REPLAY_HISTORY) == f"{header(letter, H_REASON)}@0:{letter.offset}"
        first_read = originals[origin_of(letter)]
        origin = f"{topics.topic}/{first_read.partition}@{first_read.offset}"
        assert header(record, H_REPLAY_ORIGIN) == origin

    # the unknown_session events were applied after the fix
    for anomaly in unknown:
        view = views[anomaly.session_id]
        assert view["last_event_id"] == anomaly.event_id
        assert view["stats"]["messages_by_role"] == {"user": 1}
        assert view["producers"][scope_key(anomaly.producer_id, "chat-api")] == 1

    # the undecodable bytes came back to the DLQ, with their history, and only they did
    returned = [r for r in topic_records(topics, topics.dlq_topic) if r.offset >= dlq_end]
    undecodable = {p for p, d in before.items() if d["reason"] == "undecodable"}
    assert sorted(header(r, H_REPLAY_DLQ) or "" for r in returned) == sorted(undecodable)
    assert {header(r, H_REASON) for r in returned} == {"undecodable"}
    assert {header(r, H_REPLAY_HISTORY) for r in returned} == {
        f"undecodable@{p}" for p in undecodable
    }
    assert {r.value for r in returned} <= raws


def test_replay_after_a_crash_between_produce_and_the_end_sends_only_the_rest(
    topics: KafkaSettings,
) -> None:
    """A run killed after its produce was acknowledged left records and nothing else: the
    next run finds them on the topic and sends only what is missing."""
    asyncio.run(_dead_letters(topics, 6))

    async def crashed_run() -> None:
        async with DeadLetterReader(topics) as reader:
            letters = Selection().apply(await reader.read_all())
        async with ReplayLedger(topics) as ledger:
            await ledger.mark_floor()
        async with Reinjector(topics, 6) as reinjector:
            await reinjector.send(letters[:2], lambda n: None)

    asyncio.run(crashed_run())
    out = dlq(topics, "replay").stdout
    assert "re-injected 4; skipped 2 re-injected before" in out
    assert "re-injected 0; skipped 6" in dlq(topics, "replay").stdout
    positions = Counter(header(r, H_REPLAY_DLQ) for r in replayed(topics))
    assert positions == {f"0:{n}": 1 for n in range(6)}


async def _dead_letters(kafka: KafkaSettings, count: int) -> None:
    """``count`` unknown_session dead letters written by the real writer."""
    producer = new_producer(kafka)
    await producer.start()

    async def get() -> Any:
        return producer

    try:
        writer = DeadLetterWriter(kafka, get, "test-group", 1)
        letters = [
            DeadLetter(
                Record(kafka.topic, n % 6, n, f"sess-{n}".encode(), b"junk-%d" % n, 1_000 + n),
                Reason.UNKNOWN_SESSION, "no session.created before it",
            )
            for n in range(count)
        ]  # fmt: skip
        assert await writer.write(letters) == count
    finally:
        await producer.stop()


def test_a_letter_time_is_its_record_time(topics: KafkaSettings) -> None:
    asyncio.run(_dead_letters(topics, 2))
    listed = letters_json(topics)
    assert [d["time"] for d in listed["letters"]] == [
        millis_to_datetime(1_000 + n).isoformat(timespec="milliseconds") for n in range(2)
    ]


async def _many_letters(kafka: KafkaSettings, count: int) -> None:
    """``count`` unknown_session letters, produced straight to the DLQ (fast)."""
    producer = new_producer(kafka, linger_ms=20)
    await producer.start()
    try:
        futures = []
        for n in range(count):
            headers = [
                (H_REASON, b"unknown_session"),
                (H_TOPIC, kafka.topic.encode()),
                (H_PARTITION, str(n % 6).encode()),
                (H_OFFSET, str(n).encode()),
            ]
            futures.append(
                await producer.send(
                    kafka.dlq_topic, b"v%d" % n, key=b"s%d" % n, headers=headers,
                    timestamp_ms=1_700_000_000_000 + n,
                )
            )  # fmt: skip
        await asyncio.gather(*futures)
    finally:
        await producer.stop()


def test_ctrl_c_stops_a_replay_and_running_it_again_completes_it(topics: KafkaSettings) -> None:
    count = 20_000
    asyncio.run(_many_letters(topics, count))
    env = {**os.environ, **kafka_env(topics), "COLUMNS": "200"}
    command = [sys.executable, "-m", "sessionflow.cli", "dlq", "replay"]
    process = subprocess.Popen(command, env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE)
    try:
        wait_for(lambda: process.poll() is not None or written(topics) > 0, 120,
                 "the replay to write its first records")  # fmt: skip
        process.send_signal(signal.SIGINT)
        _, err = process.communicate(timeout=120)
    finally:
        if process.poll() is None:
            process.kill()
    stopped_at = written(topics)

    assert process.returncode == 130, err.decode()
    assert "Traceback" not in err.decode()
    assert f"of {count} re-injected" in err.decode()
    assert "run `sessionflow dlq replay` with the same options again to continue" in err.decode()
    assert 0 < stopped_at < count
    rest = subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)
    assert rest.returncode == 0, rest.stderr
    assert f"re-injected {count - stopped_at}; skipped {stopped_at} re-injected before" in " ".join(
        rest.stdout.split()
    )
    positions = Counter(header(r, H_REPLAY_DLQ) for r in replayed(topics))
    assert positions == {f"0:{n}": 1 for n in range(count)}


def written(kafka: KafkaSettings) -> int:
    """Records on the domain topic now."""
    return sum(asyncio.run(offset_bounds(kafka, kafka.topic))[1].values())
