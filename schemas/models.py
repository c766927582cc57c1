"""Pydantic v2 models mirroring the Avro schemas one-to-one.

These models are the single source of truth for the *current* schema version:
:mod:`sessionflow.schemas.avrogen` derives the ``.avsc`` files from them and a test proves the
committed latest version equals the derivation, field by field (names, types, defaults, docs).
Published versions under ``schemas/avsc/v*/`` are frozen files and never regenerated.

Type mapping: ``str`` -> string, ``int`` -> long, ``bool`` -> boolean, aware datetime ->
long/timestamp-millis, ``StrEnum`` -> enum (except :class:`EventType`: string), ``list`` ->
array, ``dict[str, str]`` -> map, ``X | None`` -> ``["null", X]`` with default null, nested
models -> named records. Constraints Avro cannot express (UUID form, ``>= 0``, JSON text) are
enforced here and stated in the field docs.
"""

from __future__ import annotations

import json
import uuid
from datetime import UTC, datetime
from typing import Annotated, Any, Final

from pydantic import (
    AfterValidator,
    AwareDatetime,
    BaseModel,
    ConfigDict,
    Field,
    ModelWrapValidatorHandler,
    ValidationError,
    model_validator,
)
from pydantic_core import PydanticCustomError

from sessionflow.schemas.enums import (
    ApprovalMode,
    ErrorCode,
    EventType,
    MessageRole,
    SessionOutcome,
)

AVRO_NAMESPACE: Final = "sessionflow.events"
_LONG_MAX: Final = 2**63 - 1


def _check_json(value: str) -> str:
    try:
        json.loads(value)
    except ValueError as exc:
        raise ValueError(f"not valid JSON text ({exc})") from None
    return value


def _check_uuid(value: str) -> str:
    try:
        canonical = str(uuid.UUID(value))
    except ValueError:
        raise ValueError("not a UUID") from None
    if canonical != value:
        raise ValueError(f"UUID must be in canonical lowercase form {canonical!r}")
    return value


def _to_utc_millis(value: datetime) -> datetime:
    value = value.astimezone(UTC)
    return value.replace(microsecond=value.microsecond // 1000 * 1000)


Long = Annotated[int, Field(ge=-(2**63), le=_LONG_MAX)]
Count = Annotated[int, Field(ge=0, le=_LONG_MAX)]
Text = Annotated[str, Field(min_length=1)]
JsonText = Annotated[str, AfterValidator(_check_json)]
UuidText = Annotated[str, AfterValidator(_check_uuid)]
TimestampMillis = Annotated[AwareDatetime, AfterValidator(_to_utc_millis)]


class ContractModel(BaseModel):
    """Base of every contract model: immutable, unknown fields rejected."""

    model_config = ConfigDict(extra="forbid", frozen=True)


# --------------------------------------------------------------------------- nested records


class SessionConfig(ContractModel):
    """Session configuration fixed at creation."""

    approval_mode: ApprovalMode = Field(
        description="How tool calls in this session are approved (auto or manual)."
    )
    settings: dict[str, str] = Field(
        default_factory=dict,
        description="Open set of further settings as strings (e.g. model, temperature).",
    )


class Attachment(ContractModel):
    """A file or resource attached to a message."""

    attachment_id: Text = Field(description="Identifier of the attachment.")
    name: str = Field(description="File name as shown to the user.")
    mime_type: str = Field(description="MIME type, e.g. text/plain.")
    size_bytes: Count | None = Field(default=None, description="Size in bytes, if known; >= 0.")
    uri: str | None = Field(default=None, description="Where the content can be fetched, if any.")


class TokenUsage(ContractModel):
    """LLM token counts."""

    prompt_tokens: Count = Field(description="Tokens sent to the model; >= 0.")
    completion_tokens: Count = Field(description="Tokens produced by the model; >= 0.")
    total_tokens: Count = Field(description="prompt_tokens + completion_tokens; >= 0.")


# --------------------------------------------------------------------------- session payloads


class SessionCreated(ContractModel):
    """Payload of session.created: the session's metadata (status becomes CREATED)."""

    name: str | None = Field(default=None, description="Human-readable session name.")
    user_id: str | None = Field(default=None, description="User who owns the session.")
    agent_id: str | None = Field(default=None, description="Agent serving the session.")
    session_type: str | None = Field(
        default=None, description="Open set of session kinds, e.g. chat, agent, assessment."
    )
    purpose: str | None = Field(default=None, description="What the session is for.")
    tags: list[str] = Field(default_factory=list, description="Free tags for categorization.")
    config: SessionConfig = Field(description="Configuration, including the approval mode.")
    metadata: dict[str, str] = Field(
        default_factory=dict, description="Open set of custom metadata as strings."
    )


class SessionActivated(ContractModel):
    """Payload of session.activated: CREATED or SUSPENDED -> ACTIVE."""

    reason: str | None = Field(default=None, description="Why the session was (re)activated.")


class SessionSuspended(ContractModel):
    """Payload of session.suspended: ACTIVE -> SUSPENDED."""

    reason: str | None = Field(default=None, description="Why the session was suspended.")


class SessionEnded(ContractModel):
    """Payload of session.ended: CREATED, ACTIVE or SUSPENDED -> ENDED."""

    outcome: SessionOutcome = Field(description="Final outcome: completed, failed or abandoned.")
    reason: str | None = Field(default=None, description="Why the session ended.")


# --------------------------------------------------------------------------- message payloads


class MessageCreated(ContractModel):
    """Payload of message.created: a new message in the conversation."""

    message_id: Text = Field(description="Identifier of the message, unique in the session.")
    role: MessageRole = Field(description="Author: user, assistant, system or tool.")
    content: str = Field(description="Message text.")
    attachments: list[Attachment] = Field(
        default_factory=list, description="Files attached to the message."
    )
    tool_call_ids: list[str] = Field(
        default_factory=list, description="Tool calls requested by (or answered in) the message."
    )
    usage: TokenUsage | None = Field(
        default=None, description="Tokens spent producing the message, if known."
    )
    model: str | None = Field(
        default=None, description="Model that produced the message, if any (added in v2)."
    )


class MessageUpdated(ContractModel):
    """Payload of message.updated: a change to an existing message."""

    message_id: Text = Field(description="Identifier of the updated message.")
    content: str | None = Field(default=None, description="New full content; null = unchanged.")
    tool_call_ids: list[str] = Field(
        default_factory=list, description="Tool call ids added to the message."
    )
    usage: TokenUsage | None = Field(
        default=None, description="Updated token counts; null = unchanged."
    )


# --------------------------------------------------------------------------- tool-call payloads


class ToolCallPending(ContractModel):
    """Payload of tool_call.pending: a tool call was requested (state PENDING)."""

    tool_call_id: Text = Field(description="Identifier of the tool call.")
    message_id: Text = Field(description="Message that requested the call.")
    tool_name: Text = Field(description="Name of the tool.")
    arguments: JsonText = Field(description="Tool arguments as JSON text (an object).")
    approval_mode: ApprovalMode = Field(
        description="Mode governing this call: auto allows PENDING -> COMPLETED|FAILED."
    )


class ToolCallApproved(ContractModel):
    """Payload of tool_call.approved: PENDING -> APPROVED (manual mode)."""

    tool_call_id: Text = Field(description="Identifier of the tool call.")
    approved_by: str | None = Field(default=None, description="Who approved it (user id).")


class ToolCallRejected(ContractModel):
    """Payload of tool_call.rejected: PENDING -> REJECTED."""

    tool_call_id: Text = Field(description="Identifier of the tool call.")
    rejected_by: str | None = Field(default=None, description="Who rejected it (user id).")
    reason: str | None = Field(default=None, description="Why it was rejected.")


class ToolCallCompleted(ContractModel):
    """Payload of tool_call.completed: APPROVED (or PENDING in auto mode) -> COMPLETED."""

    tool_call_id: Text = Field(description="Identifier of the tool call.")
    result: JsonText = Field(description="Tool result as JSON text.")
    duration_ms: Count = Field(description="Execution time in milliseconds; >= 0.")


class ToolCallFailed(ContractModel):
    """Payload of tool_call.failed: APPROVED (or PENDING in auto mode) -> FAILED."""

    tool_call_id: Text = Field(description="Identifier of the tool call.")
    error_code: ErrorCode = Field(description="Why it failed (an ErrorCode).")
    error_message: str = Field(description="Human-readable error.")
    duration_ms: Count | None = Field(
        default=None, description="Time spent before failing in ms, if it ran; >= 0."
    )


# --------------------------------------------------------------------------- stream payloads


class StreamStarted(ContractModel):
    """Payload of stream.started: an LLM response stream opened."""

    stream_id: Text = Field(description="Identifier of the stream.")
    message_id: str | None = Field(default=None, description="Message being streamed, if any.")
    model: str | None = Field(default=None, description="Model producing the stream.")


class StreamChunk(ContractModel):
    """Payload of stream.chunk: one delta of an open stream."""

    stream_id: Text = Field(description="Identifier of the stream.")
    chunk_index: Count = Field(description="0-based position of the chunk in the stream.")
    delta: str = Field(description="Text added by this chunk.")


class StreamEnded(ContractModel):
    """Payload of stream.ended: the stream closed."""

    stream_id: Text = Field(description="Identifier of the stream.")
    finish_reason: str = Field(
        description="Open set: stop, length, tool_calls, content_filter, error, cancelled."
    )
    chunk_count: Count = Field(description="Number of chunks sent; >= 0.")
    first_chunk_latency_ms: Count | None = Field(
        default=None, description="Milliseconds from start to first chunk, if any chunk came."
    )
    duration_ms: Count = Field(description="Milliseconds from start to end; >= 0.")
    usage: TokenUsage | None = Field(default=None, description="Token usage, if reported.")


# --------------------------------------------------------------------------- error payload


class ErrorOccurred(ContractModel):
    """Payload of error.occurred: an error in the session."""

    error_code: ErrorCode = Field(description="What went wrong (an ErrorCode).")
    message: str = Field(description="Human-readable error.")
    details: dict[str, str] = Field(
        default_factory=dict, description="Open set of details as strings."
    )
    recoverable: bool = Field(description="Whether the session can continue.")


Payload = (
    SessionCreated
    | SessionActivated
    | SessionSuspended
    | SessionEnded
    | MessageCreated
    | MessageUpdated
    | ToolCallPending
    | ToolCallApproved
    | ToolCallRejected
    | ToolCallCompleted
    | ToolCallFailed
    | StreamStarted
    | StreamChunk
    | StreamEnded
    | ErrorOccurred
)

PAYLOAD_MODELS: Final[dict[EventType, type[ContractModel]]] = {
    EventType.SESSION_CREATED: SessionCreated,
    EventType.SESSION_ACTIVATED: SessionActivated,
    EventType.SESSION_SUSPENDED: SessionSuspended,
    EventType.SESSION_ENDED: SessionEnded,
    EventType.MESSAGE_CREATED: MessageCreated,
    EventType.MESSAGE_UPDATED: MessageUpdated,
    EventType.TOOL_CALL_PENDING: ToolCallPending,
    EventType.TOOL_CALL_APPROVED: ToolCallApproved,
    EventType.TOOL_CALL_REJECTED: ToolCallRejected,
    EventType.TOOL_CALL_COMPLETED: ToolCallCompleted,
    EventType.TOOL_CALL_FAILED: ToolCallFailed,
    EventType.STREAM_STARTED: StreamStarted,
    EventType.STREAM_CHUNK: StreamChunk,
    EventType.STREAM_ENDED: StreamEnded,
    EventType.ERROR_OCCURRED: ErrorOccurred,
}
"""Event type -> payload model (read-only by convention; the order is the Avro union order)."""


class EventEnvelope(ContractModel):
    """One session event as it flows on topic session-events (keyed by session_id).

    The payload record type must match event_type. A payload given as a dict is validated
    against the model of ``event_type``, so errors point at ``payload.<field>``.
    """

    event_id: UuidText = Field(
        description="Idempotency key: a UUID (v7 by default) in canonical lowercase form."
    )
    event_type: EventType = Field(
        description="Dotted event type (Avro string), one of: "
        + ", ".join(member.value for member in EventType)
        + "."
    )
    session_id: Text = Field(
        description="Session the event belongs to (Kafka key); "
        "default form sess_YYYYMMDD_HHMMSS_<6 hex>."
    )
    sequence: Count = Field(
        description="Number given by the producer instance named by producer_id: 1, 2, 3 ... "
        "per (session_id, producer_id); per (session_id, source) when producer_id is null."
    )
    occurred_at: TimestampMillis = Field(
        description="When it happened at the source (UTC, millisecond precision)."
    )
    source: Text = Field(description="Emitting service, or plugin:<name> for plugin events.")
    producer_id: Text | None = Field(
        default=None,
        description="Id of the producer instance that numbered the event (a new id for every "
        "producer started); null in v1/v2 data and in events numbered outside the SDK.",
    )
    causation_id: str | None = Field(
        default=None, description="event_id of the event that caused this one, if any."
    )
    correlation_id: str | None = Field(
        default=None, description="Id of the request or flow this event belongs to, if any."
    )
    payload: Payload = Field(description="Type-specific payload; its record matches event_type.")

    @model_validator(mode="wrap")
    @classmethod
    def _dispatch_payload(
        cls, data: Any, handler: ModelWrapValidatorHandler[EventEnvelope]
    ) -> EventEnvelope:
        if isinstance(data, dict) and isinstance(data.get("payload"), dict):
            model = _payload_model_for(data.get("event_type"))
            if model is not None:
                try:
                    payload = model.model_validate(data["payload"])
                except ValidationError as exc:
                    raise _prefixed(exc, "payload") from None
                data = {**data, "payload": payload}
        envelope = handler(data)
        expected = PAYLOAD_MODELS[envelope.event_type]
        if type(envelope.payload) is not expected:
            problem = PydanticCustomError(
                "payload_type",
                "{event_type} needs a {expected} payload",
                {"event_type": envelope.event_type.value, "expected": expected.__name__},
            )
            raise ValidationError.from_exception_data(
                cls.__name__,
                [{"type": problem, "loc": ("payload",), "input": type(envelope.payload).__name__}],
            )
        return envelope


def _payload_model_for(event_type: object) -> type[ContractModel] | None:
    if not isinstance(event_type, str):
        return None
    try:
        return PAYLOAD_MODELS[EventType(event_type)]
    except ValueError:
        return None


def _prefixed(exc: ValidationError, prefix: str) -> ValidationError:
    errors: list[Any] = [
        {
            "type": err["type"],
            "loc": (prefix, *err["loc"]),
            "input": err["input"],
            "ctx": err.get("ctx", {}),
        }
        for err in exc.errors()
    ]
    return ValidationError.from_exception_data(EventEnvelope.__name__, errors)
