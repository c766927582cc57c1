"""The state the processors keep per session: plain slotted dataclasses, no framework.

One :class:`SessionState` per session id holds everything: lifecycle status and metadata,
the tool calls with their approval workflow, the open streams, the ordering bookkeeping of
every producer scope, the Kafka offset of the last record folded in, and the session's
statistics. Times are epoch milliseconds (UTC), as the codec decodes them.

The fold mutates states only through :meth:`SessionState.clone` copies it made itself, so a
state handed to :func:`~sessionflow.processors.domain.fold.fold` is never changed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import StrEnum
from typing import NamedTuple


class SessionStatus(StrEnum):
    """Lifecycle: CREATED -> ACTIVE <-> SUSPENDED -> ENDED, and CREATED -> ENDED."""

    CREATED = "CREATED"
    ACTIVE = "ACTIVE"
    SUSPENDED = "SUSPENDED"
    ENDED = "ENDED"


class ToolCallStatus(StrEnum):
    """PENDING -> APPROVED -> COMPLETED | FAILED; PENDING -> REJECTED; auto: PENDING -> done."""

    PENDING = "PENDING"
    APPROVED = "APPROVED"
    REJECTED = "REJECTED"
    COMPLETED = "COMPLETED"
    FAILED = "FAILED"


TERMINAL_TOOL_STATUSES = frozenset(
    {ToolCallStatus.REJECTED, ToolCallStatus.COMPLETED, ToolCallStatus.FAILED}
)


@dataclass(slots=True)
class ToolCall:
    """One tool call of a session and where it is in its approval workflow."""

    tool_call_id: str
    message_id: str
    tool_name: str
    approval_mode: str
    status: ToolCallStatus
    requested_at: int
    requested_event_id: str
    decided_at: int | None = None
    decided_by: str | None = None
    finished_at: int | None = None
    duration_ms: int | None = None
    error_code: str | None = None
    approval_timed_out: bool = False

    def clone(self) -> ToolCall:
        """An independent copy."""
        return ToolCall(
            self.tool_call_id, self.message_id, self.tool_name, self.approval_mode,
            self.status, self.requested_at, self.requested_event_id, self.decided_at,
            self.decided_by, self.finished_at, self.duration_ms, self.error_code,
            self.approval_timed_out,
        )  # fmt: skip


@dataclass(slots=True)
class OpenStream:
    """A stream between stream.started and stream.ended, reassembled chunk by chunk."""

    stream_id: str
    started_at: int
    message_id: str | None
    model: str | None
    next_chunk: int = 0
    first_chunk_at: int | None = None
    text: str = ""

    def clone(self) -> OpenStream:
        """An independent copy."""
        return OpenStream(
            self.stream_id, self.started_at, self.message_id, self.model,
            self.next_chunk, self.first_chunk_at, self.text,
        )  # fmt: skip


@dataclass(slots=True)
class Scope:
    """Ordering bookkeeping of one producer scope (session, producer instance).

    ``event_hashes`` holds an 8-byte digest of the event_id of every sequence applied in
    order (index = sequence - 1), so a record arriving again can be told apart: the same
    event_id at its sequence is a duplicate delivery, another event_id is a repeat.
    """

    last_sequence: int = 0
    event_hashes: bytearray = field(default_factory=bytearray)

    def clone(self) -> Scope:
        """An independent copy."""
        return Scope(self.last_sequence, bytearray(self.event_hashes))


class Usage(NamedTuple):
    """Tokens one message spent, and the model that spent them."""

    prompt: int
    completion: int
    total: int
    model: str | None


@dataclass(slots=True)
class SessionStats:
    """Per-session statistics, updated by every applied event."""

    events: int = 0
    duplicates: int = 0
    messages_by_role: dict[str, int] = field(default_factory=dict)
    tool_calls_by_status: dict[str, int] = field(default_factory=dict)
    tools_used: dict[str, int] = field(default_factory=dict)
    tool_duration_ms_total: int = 0
    tool_duration_ms_max: int = 0
    tool_durations: int = 0
    approval_wait_ms_total: int = 0
    approvals_decided: int = 0
    prompt_tokens: int = 0
    completion_tokens: int = 0
    total_tokens: int = 0
    tokens_by_model: dict[str, int] = field(default_factory=dict)
    streams: int = 0
    stream_chunks: int = 0
    first_chunk_ms_total: int = 0
    first_chunk_ms_max: int = 0
    streams_with_chunks: int = 0
    stream_duration_ms_total: int = 0
    errors_by_code: dict[str, int] = field(default_factory=dict)
    active_ms: int = 0

    def clone(self) -> SessionStats:
        """An independent copy (the dict counters are copied)."""
        copy = SessionStats.__new__(SessionStats)
        for name in SessionStats.__slots__:
            value = getattr(self, name)
            setattr(copy, name, dict(value) if isinstance(value, dict) else value)
        return copy


@dataclass(slots=True)
class SessionState:
    """Everything known about one session, as of the last record folded in."""

    session_id: str
    status: SessionStatus
    created_at: int
    name: str | None = None
    user_id: str | None = None
    agent_id: str | None = None
    session_type: str | None = None
    purpose: str | None = None
    tags: list[str] = field(default_factory=list)
    approval_mode: str = "auto"
    settings: dict[str, str] = field(default_factory=dict)
    metadata: dict[str, str] = field(default_factory=dict)
    updated_at: int = 0
    activated_at: int | None = None
    active_since: int | None = None
    suspended_at: int | None = None
    ended_at: int | None = None
    outcome: str | None = None
    end_reason: str | None = None
    version: int = 0
    last_event_id: str | None = None
    last_offset: int = -1
    scopes: dict[str, Scope] = field(default_factory=dict)
    tool_calls: dict[str, ToolCall] = field(default_factory=dict)
    streams: dict[str, OpenStream] = field(default_factory=dict)
    message_usage: dict[str, Usage] = field(default_factory=dict)
    stats: SessionStats = field(default_factory=SessionStats)

    def clone(self) -> SessionState:
        """A deep copy the fold may change without touching this one."""
        return SessionState(
            self.session_id, self.status, self.created_at, self.name, self.user_id,
            self.agent_id, self.session_type, self.purpose, list(self.tags), self.approval_mode,
            dict(self.settings), dict(self.metadata), self.updated_at, self.activated_at,
            self.active_since, self.suspended_at, self.ended_at, self.outcome, self.end_reason,
            self.version, self.last_event_id, self.last_offset,
            {k: s.clone() for k, s in self.scopes.items()},
            {k: t.clone() for k, t in self.tool_calls.items()},
            {k: s.clone() for k, s in self.streams.items()},
            dict(self.message_usage), self.stats.clone(),
        )  # fmt: skip

    def pending_approvals(self) -> int:
        """Manual tool calls waiting for a decision."""
        return sum(
            1
            for call in self.tool_calls.values()
            if call.status is ToolCallStatus.PENDING and call.approval_mode == "manual"
        )
