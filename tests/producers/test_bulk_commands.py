"""`sessionflow simulate` and `sessionflow produce` as a user runs them, against the real broker."""

from __future__ import annotations

import asyncio
import json
import time
from collections import Counter
from datetime import datetime
from pathlib import Path

import pytest
from click.testing import CliRunner

from sessionflow.cli.main import cli
from sessionflow.core.settings import KafkaSettings
from sessionflow.schemas import DecodeError, EventCodec
from sessionflow.testing import kafka_env
from tests.producers.conftest import read_all
from tests.producers.referee import Referee, verdicts

SESSION = "sess_20260101_090000_abcdef"


def env_of(kafka: KafkaSettings) -> dict[str, str]:
    return kafka_env(kafka)


def epoch_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)  # occurred_at has whole milliseconds


def topic_values(kafka: KafkaSettings) -> list[bytes]:
    return [record.value for record in asyncio.run(read_all(kafka))]


def jsonl_line(message_id: str, role: str = "user", **extra: object) -> str:
    payload = {"message_id": message_id, "role": role, "content": f"text of {message_id}"}
    return json.dumps(
        {"event_type": "message.created", "session_id": SESSION, "payload": payload, **extra}
    )


def test_simulate_sends_exactly_what_its_ground_truth_says(
    events_kafka: KafkaSettings, tmp_path: Path
) -> None:
    truth_file = tmp_path / "truth.json"
    args = ["simulate", "--sessions", "12", "--seed", "5", "--anomalies", "--anomaly-count", "2"]
    before = time.time_ns() // 1_000_000

    result = CliRunner().invoke(
        cli, [*args, "--ground-truth", str(truth_file)], env=env_of(events_kafka)
    )
    after = time.time_ns() // 1_000_000
    truth = json.loads(truth_file.read_text())
    records = asyncio.run(read_all(events_kafka))
    codec = EventCodec()
    referees: dict[str, Referee] = {}
    found: list[str | None] = []  # the referee's verdict on each record, in topic order
    by_event_id: dict[str, str | None] = {}
    for record in records:
        try:
            event = codec.decode_model(record.value)
        except DecodeError:
            found.append("undecodable")
            continue
        (verdict,) = verdicts([event], referees)
        found.append(verdict)
        by_event_id.setdefault(event.event_id, verdict)
        assert record.timestamp == epoch_ms(event.occurred_at), event
    injected = {kind: n for kind, n in truth["injected"].items() if n}
    accepted_scopes = {
        (session, scope) for session, referee in referees.items() for scope in referee.last
    }

    assert result.exit_code == 0, result.output
    assert len(records) == truth["records"]
    assert Counter(v for v in found if v is not None) == injected
    assert found.count(None) == truth["valid_events"]
    # every anomaly is dead-lettered, a duplicate's extra copy included (Simulation docs)
    assert len([v for v in found if v is not None]) == truth["dead_letters_expected"]
    assert len(accepted_scopes) == truth["scopes"]
    for anomaly in truth["anomalies"]:
        if anomaly["kind"] not in ("undecodable", "duplicate_event_id"):
            assert by_event_id[anomaly["event_id"]] == anomaly["kind"], anomaly
    assert before - 7 * 86_400_000 < min(r.timestamp for r in records)
    assert max(r.timestamp for r in records) <= after  # default: the simulated sessions end now
    assert {r.timestamp_type for r in records} == {0}  # CreateTime: the producer's timestamp
    assert "injected sequence_gap" in result.output


def test_simulate_dry_run_sends_nothing(events_kafka: KafkaSettings) -> None:
    result = CliRunner().invoke(
        cli, ["simulate", "--sessions", "3", "--dry-run"], env=env_of(events_kafka)
    )

    assert result.exit_code == 0, result.output
    assert "dry run: nothing sent" in result.output
    assert topic_values(events_kafka) == []


def test_produce_refuses_a_file_with_invalid_lines(
    events_kafka: KafkaSettings, tmp_path: Path
) -> None:
    source = tmp_path / "events.jsonl"
    source.write_text("\n".join([jsonl_line("m1"), jsonl_line("m2", role="robot"), "{oops"]) + "\n")

    result = CliRunner().invoke(cli, ["produce", str(source)], env=env_of(events_kafka))

    assert result.exit_code == 1
    assert "line 2: message.created: payload.role" in result.output
    assert "line 3: not valid JSON" in result.output
    assert "nothing sent" in result.output
    assert topic_values(events_kafka) == []


def test_produce_skip_invalid_sends_the_valid_lines_in_order(
    events_kafka: KafkaSettings, tmp_path: Path
) -> None:
    source = tmp_path / "events.jsonl"
    lines = [jsonl_line("m1"), jsonl_line("m2", role="robot"), jsonl_line("m3", role="assistant")]
    source.write_text("\n".join(lines) + "\n")

    result = CliRunner().invoke(
        cli, ["produce", str(source), "--skip-invalid"], env=env_of(events_kafka)
    )
    events = [EventCodec().decode(value) for value in topic_values(events_kafka)]

    assert result.exit_code == 0, result.output
    assert "sent 2, rejected 1, valid 2" in result.output
    assert [(e["payload"]["message_id"], e["sequence"]) for e in events] == [("m1", 1), ("m3", 2)]
    assert {e["source"] for e in events} == {"jsonl:events.jsonl"}


def test_produce_reads_stdin_and_dry_run_sends_nothing(events_kafka: KafkaSettings) -> None:
    result = CliRunner().invoke(
        cli, ["produce", "-", "--dry-run"], input=jsonl_line("m1") + "\n", env=env_of(events_kafka)
    )

    assert result.exit_code == 0, result.output
    assert "dry run: nothing sent" in result.output
    assert "message.created" in result.output
    assert topic_values(events_kafka) == []


@pytest.mark.parametrize("rate", [400.0])
def test_simulate_rate_paces_the_send(events_kafka: KafkaSettings, rate: float) -> None:
    import time

    started = time.monotonic()
    result = CliRunner().invoke(
        cli,
        ["simulate", "--sessions", "8", "--seed", "1", "--rate", str(rate)],
        env=env_of(events_kafka),
    )
    elapsed = time.monotonic() - started
    sent = len(topic_values(events_kafka))

    assert result.exit_code == 0, result.output
    assert elapsed >= (sent - rate / 10) / rate * 0.9  # cannot beat the target rate
