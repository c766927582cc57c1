"""JSONL input: every bad line reported with its number and reason; defaults filled in."""

from __future__ import annotations

import json
import time

import pytest
from aiokafka.record.default_records import DefaultRecordBatchBuilder

from sessionflow.producers.jsonl import JsonlError, JsonlReader, decode_text
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


def test_a_line_too_large_to_send_is_invalid_with_its_size_and_the_limit() -> None:
    big = "x" * 3_000_000
    lines = [line(), line(payload={"message_id": "m2", "role": "user", "content": big})]

    batch = JsonlReader("jsonl", NOW).read(lines)
    moved = batch.reject_oversized(1_048_576, "SESSIONFLOW_PRODUCER_MAX_REQUEST_SIZE")

    assert moved == 1
    assert [v.number for v in batch.valid] == [1]
    (bad,) = batch.invalid
    assert bad.number == 2
    # 3,000,000 content bytes alone exceed the limit; the reason gives the record's own size
    size = int(bad.reason.split("the record is ")[1].split(" bytes")[0])
    assert size > 3_000_000
    assert "over the 1048576-byte limit (SESSIONFLOW_PRODUCER_MAX_REQUEST_SIZE)" in bad.reason


def test_the_record_size_bound_is_never_below_the_real_batch() -> None:
    lines = [line(payload={"message_id": f"m{n}", "role": "user", "content": "y" * n})
             for n in (0, 1, 127, 128, 20_000, 1_000_000)]  # fmt: skip

    for valid in JsonlReader("jsonl", NOW).read(lines).valid:
        key = valid.event.session_id.encode()
        builder = DefaultRecordBatchBuilder(2, 0, 0, -1, -1, -1, 2**31 - 1)
        builder.append(0, int(time.time() * 1000), key, valid.value, [])

        # the bound (aiokafka's own estimate, the one its producer checks) covers the bytes
        # a one-record batch really takes on the wire, so a line that passes can be sent
        assert valid.record_bytes >= len(builder.build())


def test_a_line_nested_thousands_deep_is_one_invalid_line() -> None:
    lines = [line(), "[" * 100_000 + "]" * 100_000, line()]

    batch = JsonlReader("jsonl", NOW).read(lines)

    assert [v.number for v in batch.valid] == [1, 3]
    assert [str(bad) for bad in batch.invalid] == ["line 2: nested too deeply to read"]


def test_input_that_is_not_utf8_names_the_first_bad_byte() -> None:
    data = (line() + "\n" + line() + "\n").encode() + b'{"a": "\xff"}\n'

    with pytest.raises(JsonlError) as caught:
        decode_text(data, "events.jsonl")

    assert str(caught.value) == "events.jsonl: not UTF-8 text (byte 0xff at line 3, column 8)"
