"""Deterministic example events: one per event type (golden vectors, docs, benchmarks)."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

from sessionflow.schemas.enums import (
    ApprovalMode,
    ErrorCode,
    EventType,
    MessageRole,
    SessionOutcome,
)
from sessionflow.schemas.models import (
    Attachment,
    ContractModel,
    ErrorOccurred,
    EventEnvelope,
    MessageCreated,
    MessageUpdated,
    SessionActivated,
    SessionConfig,
    SessionCreated,
    SessionEnded,
    SessionSuspended,
    StreamChunk,
    StreamEnded,
    StreamStarted,
    TokenUsage,
    ToolCallApproved,
    ToolCallCompleted,
    ToolCallFailed,
    ToolCallPending,
    ToolCallRejected,
)

SESSION_ID = "sess_20240115_103045_a1b2c3"
PRODUCER_ID = "session-service-5c3b7a1e9f00d2c4"
_T0 = datetime(2024, 1, 15, 10, 30, 45, 123000, tzinfo=UTC)
_USAGE = TokenUsage(prompt_tokens=812, completion_tokens=164, total_tokens=976)

_PAYLOADS: tuple[ContractModel, ...] = (
    SessionCreated(
        name="Debug authentication issue",
        user_id="user123",
        agent_id="agent-support-1",
        session_type="chat",
        purpose="Investigate failing logins after the 2.3 release",
        tags=["bug-fix", "authentication"],
        config=SessionConfig(
            approval_mode=ApprovalMode.MANUAL, settings={"model": "gpt-4o", "temperature": "0.2"}
        ),
        metadata={"priority": "high"},
    ),
    SessionActivated(reason="first user message"),
    SessionSuspended(reason="user idle for 15 minutes"),
    SessionEnded(outcome=SessionOutcome.COMPLETED, reason="user closed the session"),
    MessageCreated(
        message_id="msg_0001",
        role=MessageRole.ASSISTANT,
        content="I will look at the auth logs. Ünïcödé ✓",
        attachments=[
            Attachment(
                attachment_id="att_01",
                name="auth.log",
                mime_type="text/plain",
                size_bytes=20480,
                uri="s3://bucket/auth.log",
            )
        ],
        tool_call_ids=["call_01"],
        usage=_USAGE,
        model="gpt-4o",
    ),
    MessageUpdated(message_id="msg_0001", content="I looked at the auth logs.", usage=_USAGE),
    ToolCallPending(
        tool_call_id="call_01",
        message_id="msg_0001",
        tool_name="log_search",
        arguments='{"query": "status:401", "limit": 50}',
        approval_mode=ApprovalMode.MANUAL,
    ),
    ToolCallApproved(tool_call_id="call_01", approved_by="user123"),
    ToolCallRejected(tool_call_id="call_02", rejected_by="user123", reason="touches production"),
    ToolCallCompleted(tool_call_id="call_01", result='{"hits": 17}', duration_ms=342),
    ToolCallFailed(
        tool_call_id="call_03",
        error_code=ErrorCode.TOOL_TIMEOUT,
        error_message="log_search did not answer within 30 s",
        duration_ms=30000,
    ),
    StreamStarted(stream_id="str_01", message_id="msg_0002", model="gpt-4o"),
    StreamChunk(stream_id="str_01", chunk_index=3, delta=" the token expired"),
    StreamEnded(
        stream_id="str_01",
        finish_reason="stop",
        chunk_count=42,
        first_chunk_latency_ms=380,
        duration_ms=2150,
        usage=_USAGE,
    ),
    ErrorOccurred(
        error_code=ErrorCode.RATE_LIMITED,
        message="LLM provider rate limit hit",
        details={"retry_after_s": "20", "provider": "azure-openai"},
        recoverable=True,
    ),
)


def example_events() -> list[EventEnvelope]:
    """One fixed, valid event per type, in :class:`EventType` order, on one session."""
    events = []
    for index, (event_type, payload) in enumerate(zip(EventType, _PAYLOADS, strict=True)):
        events.append(
            EventEnvelope(
                event_id=f"018d0c8e-5c3b-7a1e-9f00-{index:012x}",
                event_type=event_type,
                session_id=SESSION_ID,
                sequence=index + 1,
                occurred_at=_T0 + timedelta(milliseconds=1500 * index),
                source="session-service",
                producer_id=PRODUCER_ID,
                causation_id=None if index == 0 else f"018d0c8e-5c3b-7a1e-9f00-{index - 1:012x}",
                correlation_id="req-7f3a" if index % 3 else None,
                payload=payload,
            )
        )
    return events
