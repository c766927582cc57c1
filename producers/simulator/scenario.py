"""One realistic session as a list of events that obey the session and tool state machines.

A session is created, activated, runs a few turns (user message, an optional streamed
assistant answer, tool calls under auto or manual approval, tool results, edits, recoverable
errors, suspensions and resumptions) and usually ends with an outcome. Its events are written
by several producer instances (:mod:`sessionflow.producers.simulator.fleet`), each numbering
its own scope; some sessions continue on a restarted instance. Pure: the events depend only
on the ``random.Random`` passed in, the fleet and the start time.
"""

from __future__ import annotations

import json
import random
from dataclasses import dataclass, field
from datetime import datetime, timedelta

from sessionflow.producers.simulator.fleet import (
    CHAT,
    LLM,
    SERVICE_OF,
    TOOL_RUNNER,
    Fleet,
    SessionProducers,
)
from sessionflow.producers.simulator.ids import seeded_uuid7, short_id
from sessionflow.producers.simulator.vocabulary import (
    AGENTS,
    FINISH_REASONS,
    MODELS,
    PURPOSES,
    RECOVERABLE_ERRORS,
    SESSION_TYPES,
    TAGS,
    TOOL_FAILURES,
    TOOLS,
    USERS,
    sentence,
)
from sessionflow.schemas import models as m
from sessionflow.schemas.enums import (
    ApprovalMode,
    ErrorCode,
    EventType,
    MessageRole,
    SessionOutcome,
)


@dataclass
class SessionBuilder:
    """Appends events to one session, advancing its clock and the sequence of each scope."""

    rng: random.Random
    session_id: str
    clock: datetime
    producers: SessionProducers
    events: list[m.EventEnvelope] = field(default_factory=list)
    correlation_id: str | None = None
    last: dict[str, int] = field(default_factory=dict)
    model: str | None = None
    """The model the session was configured with (its assistant messages report it)."""

    def last_sequence(self, service: str) -> int:
        """Last sequence in the scope of ``service``'s current instance (0 before its first)."""
        return self.last.get(self.producers.producer_of(service), 0)

    def emit(
        self,
        event_type: EventType,
        payload: m.ContractModel,
        *,
        after_ms: tuple[int, int] = (50, 800),
        cause: m.EventEnvelope | None = None,
        sequence: int | None = None,
        service: str | None = None,
    ) -> m.EventEnvelope:
        """Append one event ``after_ms`` (a random range) after the previous one.

        It is numbered by the current instance of ``service`` (default: the one owning
        ``event_type``), next in its scope unless ``sequence`` is given.
        """
        self.clock += timedelta(milliseconds=self.rng.randint(*after_ms))
        service = service or SERVICE_OF[event_type]
        producer_id = self.producers.producer_of(service)
        number = self.last.get(producer_id, 0) + 1 if sequence is None else sequence
        event = m.EventEnvelope(
            event_id=seeded_uuid7(self.rng, self.clock),
            event_type=event_type,
            session_id=self.session_id,
            sequence=number,
            occurred_at=self.clock,
            source=service,
            producer_id=producer_id,
            causation_id=cause.event_id if cause else None,
            correlation_id=self.correlation_id,
            payload=payload,
        )
        self.last[producer_id] = number
        self.events.append(event)
        return event


def new_builder(
    rng: random.Random, fleet: Fleet, session_id: str, start: datetime
) -> SessionBuilder:
    """A builder for session ``session_id``, its instances drawn from ``fleet``."""
    return SessionBuilder(rng, session_id, start, SessionProducers(rng, fleet, session_id))


def create(b: SessionBuilder, mode: ApprovalMode) -> m.EventEnvelope:
    """session.created with realistic metadata."""
    rng = b.rng
    payload = m.SessionCreated(
        name=f"{rng.choice(PURPOSES)} #{rng.randint(1, 999)}",
        user_id=rng.choice(USERS),
        agent_id=rng.choice(AGENTS),
        session_type=rng.choice(SESSION_TYPES),
        purpose=rng.choice(PURPOSES),
        tags=sorted(rng.sample(TAGS, rng.randint(0, 3))),
        config=m.SessionConfig(approval_mode=mode, settings={"model": rng.choice(MODELS)}),
    )
    b.model = payload.config.settings["model"]
    return b.emit(EventType.SESSION_CREATED, payload, after_ms=(0, 0))


def stream_answer(b: SessionBuilder, cause: m.EventEnvelope, message_id: str) -> str:
    """stream.started, chunks, stream.ended; returns the streamed text."""
    rng = b.rng
    stream_id = short_id(rng, "str")
    started = b.emit(
        EventType.STREAM_STARTED,
        m.StreamStarted(stream_id=stream_id, message_id=message_id, model=rng.choice(MODELS)),
        cause=cause,
    )
    first_latency = rng.randint(120, 1500)
    deltas = [sentence(rng, 2, 6) + " " for _ in range(rng.randint(2, 10))]
    for index, delta in enumerate(deltas):
        gap = (first_latency, first_latency) if index == 0 else (15, 120)
        b.emit(
            EventType.STREAM_CHUNK,
            m.StreamChunk(stream_id=stream_id, chunk_index=index, delta=delta),
            after_ms=gap,
        )
    duration = int((b.clock - started.occurred_at).total_seconds() * 1000) + 5
    prompt = rng.randint(200, 3000)
    completion = sum(len(d.split()) for d in deltas) * 2
    b.emit(
        EventType.STREAM_ENDED,
        m.StreamEnded(
            stream_id=stream_id,
            finish_reason=rng.choice(FINISH_REASONS),
            chunk_count=len(deltas),
            first_chunk_latency_ms=first_latency,
            duration_ms=duration,
            usage=m.TokenUsage(
                prompt_tokens=prompt, completion_tokens=completion, total_tokens=prompt + completion
            ),
        ),
        after_ms=(5, 5),
        cause=started,
    )
    return "".join(deltas).strip()


def tool_call(
    b: SessionBuilder, message: m.EventEnvelope, call_id: str, mode: ApprovalMode
) -> None:
    """One tool call through its state machine, and the tool's result message if it ran."""
    rng = b.rng
    tool = rng.choice(TOOLS)
    assert isinstance(message.payload, m.MessageCreated), "tool calls come from a message"
    message_id = message.payload.message_id
    pending = b.emit(
        EventType.TOOL_CALL_PENDING,
        m.ToolCallPending(
            tool_call_id=call_id,
            message_id=message_id,
            tool_name=tool,
            arguments=json.dumps({"query": sentence(rng, 2, 5), "limit": rng.randint(1, 20)}),
            approval_mode=mode,
        ),
        cause=message,
    )
    cause = pending
    b.producers.route_tool_call()
    if mode is ApprovalMode.MANUAL:
        if rng.random() < 0.15:
            b.emit(
                EventType.TOOL_CALL_REJECTED,
                m.ToolCallRejected(tool_call_id=call_id, rejected_by=rng.choice(USERS),
                                   reason="not allowed for this workspace"),
                after_ms=(2_000, 30_000), cause=pending,
            )  # fmt: skip
            return
        cause = b.emit(
            EventType.TOOL_CALL_APPROVED,
            m.ToolCallApproved(tool_call_id=call_id, approved_by=rng.choice(USERS)),
            after_ms=(2_000, 30_000),
            cause=pending,
        )
    duration = rng.randint(20, 4_000)
    if rng.random() < 0.15:
        b.emit(
            EventType.TOOL_CALL_FAILED,
            m.ToolCallFailed(tool_call_id=call_id, error_code=rng.choice(TOOL_FAILURES),
                             error_message=f"{tool} failed", duration_ms=duration),
            after_ms=(duration, duration), cause=cause,
        )  # fmt: skip
        return
    completed = b.emit(
        EventType.TOOL_CALL_COMPLETED,
        m.ToolCallCompleted(tool_call_id=call_id, duration_ms=duration,
                            result=json.dumps({"items": rng.randint(0, 9), "ok": True})),
        after_ms=(duration, duration), cause=cause,
    )  # fmt: skip
    b.emit(
        EventType.MESSAGE_CREATED,
        m.MessageCreated(message_id=short_id(rng, "msg"), role=MessageRole.TOOL,
                         content=f"{tool} returned results", tool_call_ids=[call_id]),
        cause=completed, service=TOOL_RUNNER,
    )  # fmt: skip


def turn(b: SessionBuilder, mode: ApprovalMode) -> None:
    """A user message, the assistant's (maybe streamed) answer, its tool calls, extras."""
    rng = b.rng
    b.correlation_id = short_id(rng, "req")
    user = b.emit(
        EventType.MESSAGE_CREATED,
        m.MessageCreated(message_id=short_id(rng, "msg"), role=MessageRole.USER,
                         content=sentence(rng, 4, 16) + "?"),
        after_ms=(1_000, 20_000),
    )  # fmt: skip
    message_id = short_id(rng, "msg")
    streamed = rng.random() < 0.7
    text = stream_answer(b, user, message_id) if streamed else sentence(rng, 8, 30) + "."
    calls = [short_id(rng, "call") for _ in range(rng.choices((0, 1, 2), (5, 4, 1))[0])]
    prompt, completion = rng.randint(200, 3000), rng.randint(20, 600)
    answer = b.emit(
        EventType.MESSAGE_CREATED,
        m.MessageCreated(
            message_id=message_id, role=MessageRole.ASSISTANT, content=text, tool_call_ids=calls,
            usage=m.TokenUsage(prompt_tokens=prompt, completion_tokens=completion,
                               total_tokens=prompt + completion),
            model=b.model,
        ),
        cause=user,
    )  # fmt: skip
    for call_id in calls:
        tool_call(b, answer, call_id, mode)
    if rng.random() < 0.1:
        b.emit(
            EventType.MESSAGE_UPDATED,
            m.MessageUpdated(message_id=message_id, content=text + " (edited)"),
            cause=answer,
        )
    if rng.random() < 0.08:
        b.emit(
            EventType.ERROR_OCCURRED,
            m.ErrorOccurred(error_code=rng.choice(RECOVERABLE_ERRORS), message="transient failure",
                            details={"retry_after_ms": str(rng.randint(100, 5000))},
                            recoverable=True),
        )  # fmt: skip


def end(b: SessionBuilder, outcome: SessionOutcome, reason: str) -> m.EventEnvelope:
    """session.ended with ``outcome``."""
    b.correlation_id = None
    return b.emit(EventType.SESSION_ENDED, m.SessionEnded(outcome=outcome, reason=reason))


def build_session(
    rng: random.Random, fleet: Fleet, session_id: str, start: datetime
) -> SessionBuilder:
    """One realistic session starting at ``start``: its builder holds its events in order."""
    b = new_builder(rng, fleet, session_id, start)
    mode = ApprovalMode.MANUAL if rng.random() < 0.4 else ApprovalMode.AUTO
    create(b, mode)
    if rng.random() < 0.03:  # abandoned before it ever started: CREATED -> ENDED
        end(b, SessionOutcome.ABANDONED, "never started")
        return b
    b.emit(EventType.SESSION_ACTIVATED, m.SessionActivated(reason="user connected"))
    turns = rng.randint(1, 6)
    for index in range(turns):
        if index and b.rng.random() < 0.1:  # a pod restarted: the session moves to a new one
            b.producers.restart(CHAT if b.rng.random() < 0.7 else LLM)
        turn(b, mode)
        if index < turns - 1 and rng.random() < 0.1:
            b.emit(EventType.SESSION_SUSPENDED, m.SessionSuspended(reason="user idle"))
            b.emit(EventType.SESSION_ACTIVATED, m.SessionActivated(reason="user returned"),
                   after_ms=(10_000, 120_000))  # fmt: skip
    finish(b)
    return b


def finish(b: SessionBuilder) -> None:
    """End most sessions (completed, failed after a fatal error, abandoned); leave some open."""
    roll = b.rng.random()
    if roll < 0.12:
        return  # still active: the live tables must show open sessions too
    if roll < 0.27:
        b.emit(
            EventType.ERROR_OCCURRED,
            m.ErrorOccurred(error_code=ErrorCode.INTERNAL_ERROR, message="agent crashed",
                            recoverable=False),
        )  # fmt: skip
        end(b, SessionOutcome.FAILED, "unrecoverable error")
    elif roll < 0.37:
        b.emit(EventType.SESSION_SUSPENDED, m.SessionSuspended(reason="user idle"))
        end(b, SessionOutcome.ABANDONED, "idle timeout")
    else:
        end(b, SessionOutcome.COMPLETED, "user closed the session")
