"""Closed sets of the event contract.

Every enum here except :class:`EventType` is an Avro ``enum`` on the wire (symbols are the
member *values*). :class:`EventType` travels as an Avro ``string`` holding the dotted name,
because Avro enum symbols cannot contain dots and a string lets a new event type be added
without breaking readers that predate it.
"""

from __future__ import annotations

from enum import StrEnum


class EventType(StrEnum):
    """The 15 session event types, by their dotted wire name."""

    SESSION_CREATED = "session.created"
    SESSION_ACTIVATED = "session.activated"
    SESSION_SUSPENDED = "session.suspended"
    SESSION_ENDED = "session.ended"
    MESSAGE_CREATED = "message.created"
    MESSAGE_UPDATED = "message.updated"
    TOOL_CALL_PENDING = "tool_call.pending"
    TOOL_CALL_APPROVED = "tool_call.approved"
    TOOL_CALL_REJECTED = "tool_call.rejected"
    TOOL_CALL_COMPLETED = "tool_call.completed"
    TOOL_CALL_FAILED = "tool_call.failed"
    STREAM_STARTED = "stream.started"
    STREAM_CHUNK = "stream.chunk"
    STREAM_ENDED = "stream.ended"
    ERROR_OCCURRED = "error.occurred"


class MessageRole(StrEnum):
    """Author of a message."""

    USER = "user"
    ASSISTANT = "assistant"
    SYSTEM = "system"
    TOOL = "tool"


class ApprovalMode(StrEnum):
    """How tool calls are approved: ``auto`` runs them at once, ``manual`` waits for a human."""

    AUTO = "auto"
    MANUAL = "manual"


class SessionOutcome(StrEnum):
    """Final outcome of an ended session."""

    COMPLETED = "completed"
    FAILED = "failed"
    ABANDONED = "abandoned"


class ErrorCode(StrEnum):
    """The 22 session error codes, grouped by category."""

    SESSION_NOT_FOUND = "SESSION_NOT_FOUND"
    SESSION_ALREADY_EXISTS = "SESSION_ALREADY_EXISTS"
    INVALID_STATE = "INVALID_STATE"
    SESSION_EXPIRED = "SESSION_EXPIRED"
    MESSAGE_NOT_FOUND = "MESSAGE_NOT_FOUND"
    INVALID_MESSAGE = "INVALID_MESSAGE"
    MESSAGE_TOO_LONG = "MESSAGE_TOO_LONG"
    TOOL_NOT_FOUND = "TOOL_NOT_FOUND"
    TOOL_EXECUTION_FAILED = "TOOL_EXECUTION_FAILED"
    TOOL_TIMEOUT = "TOOL_TIMEOUT"
    INVALID_TOOL_ARGS = "INVALID_TOOL_ARGS"
    APPROVAL_REQUIRED = "APPROVAL_REQUIRED"
    APPROVAL_TIMEOUT = "APPROVAL_TIMEOUT"
    APPROVAL_REJECTED = "APPROVAL_REJECTED"
    LLM_ERROR = "LLM_ERROR"
    LLM_TIMEOUT = "LLM_TIMEOUT"
    RATE_LIMITED = "RATE_LIMITED"
    TOKEN_LIMIT = "TOKEN_LIMIT"
    INTERNAL_ERROR = "INTERNAL_ERROR"
    DATABASE_ERROR = "DATABASE_ERROR"
    CACHE_ERROR = "CACHE_ERROR"
    VALIDATION_ERROR = "VALIDATION_ERROR"
