"""An independent summary of what the processors must hold, computed from the simulation.

Only the simulator's ground truth is used: the records it labels valid (``anomaly is None``),
in send order, summarised by plain counting — no state machine, no ordering checks — and the
anomalies it injected. Tests compare the processors' states and dead letters against this.
"""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field
from typing import Any

from sessionflow.producers.simulator import AnomalyKind, Simulation
from sessionflow.schemas.models import EventEnvelope

_STATUS_AFTER = {
    "session.created": "CREATED",
    "session.activated": "ACTIVE",
    "session.suspended": "SUSPENDED",
    "session.ended": "ENDED",
}
_TOOL_STATUS_AFTER = {
    "tool_call.pending": "PENDING",
    "tool_call.approved": "APPROVED",
    "tool_call.rejected": "REJECTED",
    "tool_call.completed": "COMPLETED",
    "tool_call.failed": "FAILED",
}


@dataclass
class ExpectedSession:
    """What one session must look like after every valid event was applied."""

    status: str = ""
    events: int = 0
    messages_by_role: Counter[str] = field(default_factory=Counter)
    tool_status: dict[str, str] = field(default_factory=dict)
    tools_used: Counter[str] = field(default_factory=Counter)
    errors_by_code: Counter[str] = field(default_factory=Counter)
    streams: int = 0
    stream_chunks: int = 0
    total_tokens: int = 0
    outcome: str | None = None
    user_id: str | None = None

    def tool_calls_by_status(self) -> Counter[str]:
        """Tool calls per final status."""
        return Counter(self.tool_status.values())


def expected_sessions(sim: Simulation) -> dict[str, ExpectedSession]:
    """Per session id, the summary of its valid events (see the module docstring)."""
    sessions: dict[str, ExpectedSession] = defaultdict(ExpectedSession)
    usage: dict[tuple[str, str], int] = {}
    for record in sim.records:
        if record.anomaly is not None or record.event is None:
            continue
        event = record.event
        summary = sessions[event.session_id]
        summary.events += 1
        _count(summary, event, usage)
    return dict(sessions)


def _count(
    summary: ExpectedSession, event: EventEnvelope, usage: dict[tuple[str, str], int]
) -> None:
    kind, payload = event.event_type.value, event.payload
    data: dict[str, Any] = payload.model_dump(mode="json")
    if kind in _STATUS_AFTER:
        summary.status = _STATUS_AFTER[kind]
        if kind == "session.created":
            summary.user_id = data["user_id"]
        if kind == "session.ended":
            summary.outcome = data["outcome"]
    elif kind == "message.created":
        summary.messages_by_role[data["role"]] += 1
        if data["usage"]:
            usage[(event.session_id, data["message_id"])] = data["usage"]["total_tokens"]
            summary.total_tokens += data["usage"]["total_tokens"]
    elif kind == "message.updated" and data["usage"]:
        key = (event.session_id, data["message_id"])
        summary.total_tokens += data["usage"]["total_tokens"] - usage.get(key, 0)
        usage[key] = data["usage"]["total_tokens"]
    elif kind in _TOOL_STATUS_AFTER:
        summary.tool_status[data["tool_call_id"]] = _TOOL_STATUS_AFTER[kind]
        if kind == "tool_call.pending":
            summary.tools_used[data["tool_name"]] += 1
    elif kind == "error.occurred":
        summary.errors_by_code[data["error_code"]] += 1
    elif kind == "stream.started":
        summary.streams += 1
    elif kind == "stream.chunk":
        summary.stream_chunks += 1


def expected_dead_letters(sim: Simulation) -> Counter[tuple[str, str | None]]:
    """(reason, event_id) of every record that must be dead-lettered (event_id None: raw)."""
    return Counter((a.kind.value, a.event_id if a.kind is not AnomalyKind.UNDECODABLE else None)
                   for a in sim.injected)  # fmt: skip


def summary_of_state(state: Any) -> dict[str, Any]:
    """The figures of a processor state that :class:`ExpectedSession` predicts."""
    stats = state.stats
    return {
        "status": state.status.value,
        "events": stats.events,
        "messages_by_role": Counter(stats.messages_by_role),
        "tool_calls_by_status": Counter({k: v for k, v in stats.tool_calls_by_status.items() if v}),
        "tools_used": Counter(stats.tools_used),
        "errors_by_code": Counter(stats.errors_by_code),
        "streams": stats.streams,
        "stream_chunks": stats.stream_chunks,
        "total_tokens": stats.total_tokens,
        "outcome": state.outcome,
        "user_id": state.user_id,
    }


def summary_of_expected(expected: ExpectedSession) -> dict[str, Any]:
    """The same figures from the independent summary."""
    return {
        "status": expected.status,
        "events": expected.events,
        "messages_by_role": expected.messages_by_role,
        "tool_calls_by_status": expected.tool_calls_by_status(),
        "tools_used": expected.tools_used,
        "errors_by_code": expected.errors_by_code,
        "streams": expected.streams,
        "stream_chunks": expected.stream_chunks,
        "total_tokens": expected.total_tokens,
        "outcome": expected.outcome,
        "user_id": expected.user_id,
    }
