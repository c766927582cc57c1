"""Session state <-> the plain records of the state contract (``schemas/state/v<N>.avsc``).

:func:`to_record` and :func:`from_record` are exact inverses; :func:`to_view` is the JSON
shape served over HTTP (no ordering bookkeeping, statistics with derived figures).
"""

from __future__ import annotations

from typing import Any

from sessionflow.processors.domain.model import (
    OpenStream,
    Scope,
    SessionState,
    SessionStats,
    SessionStatus,
    ToolCall,
    ToolCallStatus,
    Usage,
)

_PLAIN = (
    "session_id", "created_at", "name", "user_id", "agent_id", "session_type", "purpose",
    "approval_mode", "updated_at", "activated_at", "active_since", "suspended_at", "ended_at",
    "outcome", "end_reason", "version", "last_event_id", "last_offset",
)  # fmt: skip


def to_record(state: SessionState) -> dict[str, Any]:
    """The state as a record of the state schema."""
    record: dict[str, Any] = {name: getattr(state, name) for name in _PLAIN}
    record["status"] = state.status.value
    record["tags"] = list(state.tags)
    record["settings"] = dict(state.settings)
    record["metadata"] = dict(state.metadata)
    record["scopes"] = {
        key: {"last_sequence": s.last_sequence, "event_hashes": bytes(s.event_hashes)}
        for key, s in state.scopes.items()
    }
    record["tool_calls"] = {
        key: {**_slots(call), "status": call.status.value} for key, call in state.tool_calls.items()
    }
    record["streams"] = {key: _slots(stream) for key, stream in state.streams.items()}
    record["message_usage"] = {key: usage._asdict() for key, usage in state.message_usage.items()}
    record["stats"] = _slots(state.stats)
    return record


def from_record(record: dict[str, Any]) -> SessionState:
    """The state a record of the state schema describes."""
    fields = {name: record[name] for name in _PLAIN}
    return SessionState(
        **fields,
        status=SessionStatus(record["status"]),
        tags=list(record["tags"]),
        settings=dict(record["settings"]),
        metadata=dict(record["metadata"]),
        scopes={
            key: Scope(s["last_sequence"], bytearray(s["event_hashes"]))
            for key, s in record["scopes"].items()
        },
        tool_calls={
            key: ToolCall(**{**call, "status": ToolCallStatus(call["status"])})
            for key, call in record["tool_calls"].items()
        },
        streams={key: OpenStream(**stream) for key, stream in record["streams"].items()},
        message_usage={key: Usage(**usage) for key, usage in record["message_usage"].items()},
        stats=_stats(record["stats"]),
    )  # fmt: skip


def _stats(record: dict[str, Any]) -> SessionStats:
    stats = SessionStats()
    for name, value in record.items():
        setattr(stats, name, dict(value) if isinstance(value, dict) else value)
    return stats


def to_view(state: SessionState, now_ms: int | None = None) -> dict[str, Any]:
    """JSON-ready view of a session: state, tool calls, open streams and statistics.

    ``now_ms`` (when given) adds the running ACTIVE period to ``active_ms``.
    """
    view = to_record(state)
    del view["scopes"], view["message_usage"], view["last_offset"]
    view["producers"] = {key: s.last_sequence for key, s in state.scopes.items()}
    view["tool_calls"] = list(view["tool_calls"].values())
    view["streams"] = [
        {k: v for k, v in s.items() if k != "text"} | {"text_length": len(s["text"])}
        for s in view["streams"].values()
    ]
    stats = view["stats"]
    if now_ms is not None and state.active_since is not None:
        stats["active_ms"] += max(0, now_ms - state.active_since)
    stats["pending_approvals"] = state.pending_approvals()
    stats["tool_duration_ms_avg"] = _avg(stats["tool_duration_ms_total"], stats["tool_durations"])
    stats["first_chunk_ms_avg"] = _avg(stats["first_chunk_ms_total"], stats["streams_with_chunks"])
    stats["duration_ms"] = (state.ended_at or state.updated_at) - state.created_at
    return view


def _avg(total: int, count: int) -> float | None:
    return total / count if count else None


def _slots(obj: Any) -> dict[str, Any]:
    """Shallow field dict of a slotted dataclass; dict values are copied one level deep."""
    return {
        name: dict(value) if isinstance(value, dict) else value
        for name in obj.__slots__
        for value in (getattr(obj, name),)
    }
