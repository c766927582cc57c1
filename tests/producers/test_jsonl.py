"""JSONL input: every bad line reported with its number and reason; defaults filled in."""

from __future__ import annotations

import json

from sessionflow.producers.jsonl import JsonlReader
from sessionflow.schemas import EventType

SESSION = "sess_20260101_090000_abcdef"
NOW = 1_767_258_000_000


def line(**fields: object) -> str:
    base: dict[str, object] = {
        "event_type": "message.created",
        "session_id": SESSION,
        "payload": {"message_id": "m1", "role": "user", "content": "hi"},
    }
    base.update(fields)
    return json.dumps(base)


def test_valid_lines_get_defaults_and_sequences_in_file_order() -> None:
    lines = [line(), "", line(payload={"message_id": "m2", "role": "assistant", "content": "yo"})]

    batch = JsonlReader("jsonl:test", NOW).read(lines)

    assert batch.invalid == []
    assert [e.sequence for e in batch.events] == [1, 2]
    assert {e.source for e in batch.events} == {"jsonl:test"}
    assert len({e.event_id for e in batch.events}) == 2
    assert int(batch.events[0].occurred_at.timestamp() * 1000) == NOW
    assert batch.counts_by_type() == {EventType.MESSAGE_CREATED.value: 2}


def test_each_invalid_line_is_named_with_its_reason() -> None:
    lines = [
        line(),
        "{not json",
        "[1, 2]",
        line(payload={"message_id": "m3", "role": "bot", "content": "x"}),
        line(event_type="session.exploded"),
        line(session_id="sess_other", payload={"message_id": "m4", "role": "user"}),
    ]

    batch = JsonlReader("jsonl", NOW).read(lines)
    reasons = {bad.number: str(bad) for bad in batch.invalid}

    assert len(batch.events) == 1
    assert sorted(reasons) == [2, 3, 4, 5, 6]
    assert reasons[2].startswith("line 2: not valid JSON")
    assert "expected a JSON object" in reasons[3]
    assert "message.created" in reasons[4]
    assert "payload.role" in reasons[4]
    assert "'bot'" in reasons[4]
    assert "event_type" in reasons[5]
    assert "payload.content" in reasons[6]


def test_explicit_sequences_must_increase_and_not_mix_with_implicit() -> None:
    lines = [line(sequence=5), line(sequence=5), line(sequence=9), line()]

    batch = JsonlReader("jsonl", NOW).read(lines)
    reasons = {bad.number: bad.reason for bad in batch.invalid}

    assert [e.sequence for e in batch.events] == [5, 9]
    assert "5 is not above 5" in reasons[2]
    assert "line 4 omits it but line 1" in reasons[4]
