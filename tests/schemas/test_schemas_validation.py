"""Validation errors are one actionable line; identifiers have the contract's forms."""

from __future__ import annotations

import re
import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from sessionflow.schemas import (
    EventCodec,
    EventType,
    EventValidationError,
    SessionEnded,
    SessionSuspended,
    is_session_id,
    make_event,
    new_event_id,
    new_session_id,
    payload_model,
    validate_event,
)
from sessionflow.schemas.examples import example_events

CODEC = EventCodec()
PENDING = {
    "tool_call_id": "call_1",
    "message_id": "msg_1",
    "tool_name": "search",
    "arguments": "{}",
    "approval_mode": "auto",
}


@pytest.mark.parametrize(
    ("event_type", "payload", "sequence", "expected"),
    [
        (
            "session.created",
            {"config": {"approval_mode": "sometimes"}},
            1,
            "session.created: payload.config.approval_mode: Input should be 'auto' or 'manual'"
            " (got 'sometimes')",
        ),
        ("session.created", {}, 1, "session.created: payload.config: Field required"),
        (
            "tool_call.pending",
            {**PENDING, "arguments": "{oops"},
            1,
            "tool_call.pending: payload.arguments: not valid JSON text",
        ),
        (
            "session.ended",
            {"outcome": "completed", "colour": "red"},
            1,
            "session.ended: payload.colour: Extra inputs are not permitted (got 'red')",
        ),
        (
            "session.ended",
            {"outcome": "completed"},
            -1,
            "session.ended: sequence: Input should be greater than or equal to 0 (got -1)",
        ),
        (
            "session.ended",
            SessionSuspended(),
            1,
            "session.ended: payload: session.ended needs a SessionEnded payload"
            " (got 'SessionSuspended')",
        ),
        ("session.bogus", {}, 1, "session.bogus: event_type: Input should be 'session.created'"),
    ],
)
def test_validation_errors_are_one_line_naming_type_field_problem(
    event_type: str, payload: Any, sequence: int, expected: str
) -> None:
    with pytest.raises(EventValidationError) as info:
        make_event(event_type, "sess_1", sequence, "svc", payload)
    message = str(info.value)
    assert "\n" not in message
    assert message.startswith(expected)
    assert info.value.event_type == event_type


def test_several_problems_are_counted_on_the_same_line() -> None:
    with pytest.raises(EventValidationError, match=r"\(\+1 more\)$"):
        make_event(
            "tool_call.pending", "sess_1", 1, "svc", {**PENDING, "tool_call_id": ""} | {"x": 1}
        )


def test_naive_occurred_at_is_rejected() -> None:
    with pytest.raises(EventValidationError, match="occurred_at: Input should have timezone info"):
        make_event("session.ended", "s", 1, "svc", SessionEnded(outcome="completed"),
                   occurred_at=datetime(2024, 1, 1))  # fmt: skip


def test_encode_record_names_the_field_the_models_reject() -> None:
    record = CODEC.decode(CODEC.encode(example_events()[4]))
    bad = {**record, "payload": {**record["payload"], "role": "robot"}}
    with pytest.raises(EventValidationError, match=r"^message\.created: payload\.role: .*'robot'"):
        CODEC.encode_record(bad)
    with pytest.raises(EventValidationError, match=r"^nope: event_type: unknown event type$"):
        CODEC.encode_record({**record, "event_type": "nope"})
    with pytest.raises(
        EventValidationError, match=r"^message\.created: payload: must be a mapping"
    ):
        CODEC.encode_record({**record, "payload": None})
    with pytest.raises(EventValidationError, match=r"occurred_at: out of the datetime range"):
        CODEC.encode_record({**record, "occurred_at": 2**63})  # past Avro's long, past datetime


def test_validate_event_accepts_the_fast_path_shape() -> None:
    for event in example_events():
        assert validate_event(CODEC.decode(CODEC.encode(event))) == event


def test_make_event_fills_ids_and_time() -> None:
    before = datetime.now(UTC).replace(microsecond=0)
    event = make_event(EventType.SESSION_ENDED, "sess_1", 7, "svc", {"outcome": "abandoned"})
    assert uuid.UUID(event.event_id).version == 7
    assert event.occurred_at >= before
    assert event.payload == SessionEnded(outcome="abandoned")
    assert payload_model("stream.chunk").__name__ == "StreamChunk"
    with pytest.raises(EventValidationError):
        payload_model("nope")


def test_session_ids_have_seed_003_form_and_sort_by_time() -> None:
    early = new_session_id(datetime(2024, 1, 15, 10, 30, 45, tzinfo=UTC))
    late = new_session_id(datetime(2024, 1, 15, 10, 30, 46, tzinfo=UTC))
    assert re.fullmatch(r"sess_20240115_103045_[0-9a-f]{6}", early)
    assert early < late
    assert is_session_id(new_session_id())
    assert not is_session_id("sess_2024_1")
    assert len({new_session_id() for _ in range(50)}) == 50


def test_event_ids_are_canonical_time_ordered_uuid7() -> None:
    ids = [new_event_id() for _ in range(200)]
    assert all(str(uuid.UUID(i)) == i and uuid.UUID(i).version == 7 for i in ids)
    assert len(set(ids)) == 200
    assert [i[:13] for i in ids] == sorted(i[:13] for i in ids)  # millisecond prefix ordered
