"""Pure row building for the state stream (sessions, tool calls, statistics) and dead letters.

A state record (key: session id, value: the state contract's single-object encoding) gives
one ``sessions`` row, one ``session_stats`` row and one ``tool_calls`` row per tool call; a
record without a value (a tombstone) gives none. A dead-letter record gives one row with the
reason and origin from its headers and, when the original value decodes, the event's ids.
"""

from __future__ import annotations

import json
from typing import Final

from sessionflow.schemas.codec import EventCodec
from sessionflow.schemas.errors import DecodeError
from sessionflow.schemas.state_codec import StateCodec
from sessionflow.sinks.base import SinkRecord
from sessionflow.sinks.clickhouse.rows import Row

SESSION_COLUMNS: Final = (
    "session_id", "status", "name", "user_id", "agent_id", "session_type", "purpose", "tags",
    "approval_mode", "settings", "metadata", "created_at", "updated_at", "activated_at",
    "suspended_at", "ended_at", "outcome", "end_reason", "open_tool_calls", "open_streams",
    "version", "last_event_id", "topic", "partition", "offset",
)  # fmt: skip
TOOL_CALL_COLUMNS: Final = (
    "session_id", "tool_call_id", "message_id", "tool_name", "approval_mode", "status",
    "requested_at", "decided_at", "decided_by", "finished_at", "duration_ms", "error_code",
    "approval_timed_out", "version", "topic", "partition", "offset",
)  # fmt: skip
_STAT_NAMES: Final = (
    "events", "duplicates", "messages_by_role", "tool_calls_by_status", "tools_used",
    "tool_duration_ms_total", "tool_duration_ms_max", "tool_durations",
    "approval_wait_ms_total", "approvals_decided", "prompt_tokens", "completion_tokens",
    "total_tokens", "tokens_by_model", "streams", "stream_chunks", "first_chunk_ms_total",
    "first_chunk_ms_max", "streams_with_chunks", "stream_duration_ms_total", "errors_by_code",
    "active_ms",
)  # fmt: skip
STATS_COLUMNS: Final = (
    "session_id", "user_id", "status", *_STAT_NAMES, "version", "topic", "partition", "offset",
)  # fmt: skip
DEAD_LETTER_COLUMNS: Final = (
    "reason", "detail", "origin_topic", "origin_partition", "origin_offset", "origin_index",
    "consumer_group", "error_class", "event_id", "event_type", "session_id", "payload", "key",
    "value", "topic", "partition", "offset", "kafka_timestamp",
)  # fmt: skip
_STATE_FIELDS: Final = SESSION_COLUMNS[: SESSION_COLUMNS.index("open_tool_calls")]
"""The sessions columns copied from the state record as they are."""
_TERMINAL: Final = frozenset({"REJECTED", "COMPLETED", "FAILED"})


def state_rows(record: SinkRecord, codec: StateCodec) -> tuple[Row, Row, list[Row]] | None:
    """(sessions row, session_stats row, tool_calls rows) of a state record; None: tombstone.

    Raises :class:`DecodeError` for a value that is not a state of the contract.
    """
    if not record.value:
        return None
    state = codec.decode(record.value)
    where = {"topic": record.topic, "partition": record.partition, "offset": record.offset}
    version = state["version"]
    calls = state["tool_calls"]
    session: Row = {name: state[name] for name in _STATE_FIELDS}
    session.update(
        open_tool_calls=sum(1 for call in calls.values() if call["status"] not in _TERMINAL),
        open_streams=len(state["streams"]),
        version=version,
        last_event_id=state["last_event_id"],
        **where,
    )
    stats: Row = {
        "session_id": state["session_id"],
        "user_id": state["user_id"],
        "status": state["status"],
        **{name: state["stats"][name] for name in _STAT_NAMES},
        "version": version,
        **where,
    }
    tool_calls = [
        {
            **{name: call[name] for name in TOOL_CALL_COLUMNS[2:13]},
            "session_id": state["session_id"],
            "tool_call_id": call_id,
            "version": version,
            **where,
        }
        for call_id, call in calls.items()
    ]
    return session, stats, tool_calls


def dead_letter_row(record: SinkRecord, codec: EventCodec) -> Row:
    """The ``dead_letters`` row of one record of the dead-letter topic."""
    headers = {name: value.decode("utf-8", "replace") for name, value in record.headers}
    row: Row = {
        "reason": headers.get("sessionflow.reason", ""),
        "detail": headers.get("sessionflow.detail", ""),
        "origin_topic": headers.get("sessionflow.origin.topic", ""),
        "origin_partition": _int(headers.get("sessionflow.origin.partition"), -1),
        "origin_offset": _int(headers.get("sessionflow.origin.offset"), -1),
        "origin_index": _int(headers.get("sessionflow.origin.index"), 0),
        "consumer_group": headers.get("sessionflow.group", ""),
        "error_class": headers.get("sessionflow.error_class", ""),
        "key": record.key or b"",
        "value": record.value or b"",
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "kafka_timestamp": record.timestamp_ms,
        "event_id": None,
        "event_type": None,
        "session_id": None,
        "payload": None,
    }
    try:
        event = codec.decode(record.value or b"")
    except DecodeError:
        return row
    row.update(
        event_id=event["event_id"],
        event_type=event["event_type"],
        session_id=event["session_id"],
        payload=json.dumps(event["payload"], separators=(",", ":"), default=str),
    )
    return row


def _int(text: str | None, default: int) -> int:
    try:
        return int(text) if text is not None else default
    except ValueError:
        return default
