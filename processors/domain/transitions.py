"""Transitions: how one decoded event changes a session's state and statistics.

:func:`start_session` builds the state of a ``session.created`` event; :func:`apply` applies
any other event to a state it may change in place (the fold hands it a private clone) and
returns ``None``, or — changing nothing — the one-line reason the event is illegal.

Rules: the session lifecycle is CREATED -> ACTIVE <-> SUSPENDED -> ENDED plus
CREATED -> ENDED; every other event needs an ACTIVE session. A tool call goes PENDING ->
APPROVED | REJECTED, APPROVED -> COMPLETED | FAILED, and in auto approval mode also PENDING ->
COMPLETED | FAILED. A stream's chunks arrive with chunk_index 0, 1, 2 ... between
stream.started and stream.ended.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from sessionflow.processors.domain.model import (
    OpenStream,
    SessionState,
    SessionStatus,
    ToolCall,
    ToolCallStatus,
    Usage,
)

Event = dict[str, Any]
Handler = Callable[[SessionState, Event], str | None]

_ACTIVE = SessionStatus.ACTIVE
_PENDING = ToolCallStatus.PENDING
_APPROVED = ToolCallStatus.APPROVED


def start_session(event: Event) -> SessionState:
    """The state a ``session.created`` event starts (status CREATED)."""
    payload, at = event["payload"], event["occurred_at"]
    config = payload["config"]
    return SessionState(
        session_id=event["session_id"],
        status=SessionStatus.CREATED,
        created_at=at,
        name=payload.get("name"),
        user_id=payload.get("user_id"),
        agent_id=payload.get("agent_id"),
        session_type=payload.get("session_type"),
        purpose=payload.get("purpose"),
        tags=list(payload.get("tags") or ()),
        approval_mode=config["approval_mode"],
        settings=dict(config.get("settings") or {}),
        metadata=dict(payload.get("metadata") or {}),
        updated_at=at,
    )


def apply(state: SessionState, event: Event) -> str | None:
    """Apply a non-creation event to ``state``; the illegal-transition detail, or None."""
    kind = event["event_type"]
    handler = _HANDLERS.get(kind)
    if handler is None:
        return f"{kind} on an existing session (status {state.status.value})"
    if kind not in _LIFECYCLE and state.status is not _ACTIVE:
        return f"{kind} on a {state.status.value} session (needs ACTIVE)"
    return handler(state, event)


def _bump(counter: dict[str, int], key: str, by: int = 1) -> None:
    counter[key] = counter.get(key, 0) + by


def _close_active(state: SessionState, at: int) -> None:
    if state.active_since is not None:
        state.stats.active_ms += max(0, at - state.active_since)
        state.active_since = None


# ----------------------------------------------------------------------------- lifecycle


def _activated(state: SessionState, event: Event) -> str | None:
    at = event["occurred_at"]
    if state.status not in (SessionStatus.CREATED, SessionStatus.SUSPENDED):
        return f"session.activated on a {state.status.value} session"
    state.status = _ACTIVE
    state.activated_at = state.activated_at or at
    state.active_since = at
    state.suspended_at = None
    return None


def _suspended(state: SessionState, event: Event) -> str | None:
    at = event["occurred_at"]
    if state.status is not _ACTIVE:
        return f"session.suspended on a {state.status.value} session"
    _close_active(state, at)
    state.status = SessionStatus.SUSPENDED
    state.suspended_at = at
    return None


def _ended(state: SessionState, event: Event) -> str | None:
    payload, at = event["payload"], event["occurred_at"]
    if state.status is SessionStatus.ENDED:
        return "session.ended on an ENDED session"
    _close_active(state, at)
    state.status = SessionStatus.ENDED
    state.ended_at = at
    state.outcome = payload["outcome"]
    state.end_reason = payload.get("reason")
    return None


# ----------------------------------------------------------------------------- messages


def _add_usage(state: SessionState, usage: Usage, sign: int) -> None:
    stats = state.stats
    stats.prompt_tokens += sign * usage.prompt
    stats.completion_tokens += sign * usage.completion
    stats.total_tokens += sign * usage.total
    if usage.model:
        _bump(stats.tokens_by_model, usage.model, sign * usage.total)


def _usage(payload: dict[str, Any], model: str | None) -> Usage | None:
    usage = payload.get("usage")
    if usage is None:
        return None
    return Usage(usage["prompt_tokens"], usage["completion_tokens"], usage["total_tokens"], model)


def _message_created(state: SessionState, event: Event) -> str | None:
    payload = event["payload"]
    _bump(state.stats.messages_by_role, payload["role"])
    usage = _usage(payload, payload.get("model"))
    if usage is not None:
        _add_usage(state, usage, 1)
        state.message_usage[payload["message_id"]] = usage
    return None


def _message_updated(state: SessionState, event: Event) -> str | None:
    payload = event["payload"]
    message_id = payload["message_id"]
    previous = state.message_usage.get(message_id)
    usage = _usage(payload, previous.model if previous else None)
    if usage is not None:
        if previous is not None:
            _add_usage(state, previous, -1)
        _add_usage(state, usage, 1)
        state.message_usage[message_id] = usage
    return None


# ----------------------------------------------------------------------------- tool calls


def _set_status(state: SessionState, call: ToolCall, status: ToolCallStatus) -> None:
    by_status = state.stats.tool_calls_by_status
    by_status[call.status.value] -= 1
    _bump(by_status, status.value)
    call.status = status


def _tool_pending(state: SessionState, event: Event) -> str | None:
    payload, at = event["payload"], event["occurred_at"]
    call_id = payload["tool_call_id"]
    if call_id in state.tool_calls:
        return f"tool_call.pending for {call_id}, already {state.tool_calls[call_id].status.value}"
    state.tool_calls[call_id] = ToolCall(
        call_id, payload["message_id"], payload["tool_name"], payload["approval_mode"],
        _PENDING, at, event["event_id"],
    )  # fmt: skip
    _bump(state.stats.tool_calls_by_status, _PENDING.value)
    _bump(state.stats.tools_used, payload["tool_name"])
    return None


def _pending_call(state: SessionState, payload: dict[str, Any], kind: str) -> ToolCall | str:
    call = state.tool_calls.get(payload["tool_call_id"])
    if call is None:
        return f"{kind} for unknown tool call {payload['tool_call_id']}"
    if call.status is not _PENDING:
        return f"{kind} for {call.tool_call_id}, which is {call.status.value}"
    return call


def _decide(state: SessionState, payload: dict[str, Any], at: int, approved: bool) -> str | None:
    kind = "tool_call.approved" if approved else "tool_call.rejected"
    call = _pending_call(state, payload, kind)
    if isinstance(call, str):
        return call
    _set_status(state, call, _APPROVED if approved else ToolCallStatus.REJECTED)
    call.decided_at = at
    call.decided_by = payload.get("approved_by" if approved else "rejected_by")
    state.stats.approval_wait_ms_total += max(0, at - call.requested_at)
    state.stats.approvals_decided += 1
    return None


def _tool_approved(state: SessionState, event: Event) -> str | None:
    payload, at = event["payload"], event["occurred_at"]
    return _decide(state, payload, at, approved=True)


def _tool_rejected(state: SessionState, event: Event) -> str | None:
    payload, at = event["payload"], event["occurred_at"]
    return _decide(state, payload, at, approved=False)


def _finish(
    state: SessionState, payload: dict[str, Any], at: int, status: ToolCallStatus
) -> str | None:
    kind = "tool_call.completed" if status is ToolCallStatus.COMPLETED else "tool_call.failed"
    call = state.tool_calls.get(payload["tool_call_id"])
    if call is None:
        return f"{kind} for unknown tool call {payload['tool_call_id']}"
    runnable = call.status is _APPROVED or (
        call.status is _PENDING and call.approval_mode == "auto"
    )
    if not runnable:
        return (
            f"{kind} for {call.tool_call_id}, which is {call.status.value} ({call.approval_mode})"
        )
    _set_status(state, call, status)
    call.finished_at = at
    call.duration_ms = payload.get("duration_ms")
    call.error_code = payload.get("error_code")
    if call.duration_ms is not None:
        stats = state.stats
        stats.tool_durations += 1
        stats.tool_duration_ms_total += call.duration_ms
        stats.tool_duration_ms_max = max(stats.tool_duration_ms_max, call.duration_ms)
    return None


def _tool_completed(state: SessionState, event: Event) -> str | None:
    payload, at = event["payload"], event["occurred_at"]
    return _finish(state, payload, at, ToolCallStatus.COMPLETED)


def _tool_failed(state: SessionState, event: Event) -> str | None:
    payload, at = event["payload"], event["occurred_at"]
    return _finish(state, payload, at, ToolCallStatus.FAILED)


# ----------------------------------------------------------------------------- streams


def _stream_started(state: SessionState, event: Event) -> str | None:
    payload, at = event["payload"], event["occurred_at"]
    stream_id = payload["stream_id"]
    if stream_id in state.streams:
        return f"stream.started for {stream_id}, which is already open"
    state.streams[stream_id] = OpenStream(
        stream_id, at, payload.get("message_id"), payload.get("model")
    )
    state.stats.streams += 1
    return None


def _stream_chunk(state: SessionState, event: Event) -> str | None:
    payload, at = event["payload"], event["occurred_at"]
    stream = state.streams.get(payload["stream_id"])
    if stream is None:
        return f"stream.chunk for {payload['stream_id']}, which is not open"
    index = payload["chunk_index"]
    if index != stream.next_chunk:
        problem = "a duplicate" if index < stream.next_chunk else "a gap"
        return (
            f"stream.chunk {index} of {stream.stream_id} expected {stream.next_chunk} ({problem})"
        )
    stats = state.stats
    if stream.first_chunk_at is None:
        stream.first_chunk_at = at
        latency = max(0, at - stream.started_at)
        stats.streams_with_chunks += 1
        stats.first_chunk_ms_total += latency
        stats.first_chunk_ms_max = max(stats.first_chunk_ms_max, latency)
    stream.next_chunk += 1
    stream.text += payload["delta"]
    stats.stream_chunks += 1
    return None


def _stream_ended(state: SessionState, event: Event) -> str | None:
    payload, at = event["payload"], event["occurred_at"]
    stream = state.streams.pop(payload["stream_id"], None)
    if stream is None:
        return f"stream.ended for {payload['stream_id']}, which is not open"
    state.stats.stream_duration_ms_total += max(0, at - stream.started_at)
    return None


def _error(state: SessionState, event: Event) -> str | None:
    payload = event["payload"]
    _bump(state.stats.errors_by_code, payload["error_code"])
    if payload["error_code"] == "APPROVAL_TIMEOUT":
        call = state.tool_calls.get((payload.get("details") or {}).get("tool_call_id", ""))
        if call is not None:
            call.approval_timed_out = True
    return None


_LIFECYCLE = frozenset({"session.activated", "session.suspended", "session.ended"})
_HANDLERS: dict[str, Handler] = {
    "session.activated": _activated,
    "session.suspended": _suspended,
    "session.ended": _ended,
    "message.created": _message_created,
    "message.updated": _message_updated,
    "tool_call.pending": _tool_pending,
    "tool_call.approved": _tool_approved,
    "tool_call.rejected": _tool_rejected,
    "tool_call.completed": _tool_completed,
    "tool_call.failed": _tool_failed,
    "stream.started": _stream_started,
    "stream.chunk": _stream_chunk,
    "stream.ended": _stream_ended,
    "error.occurred": _error,
}
