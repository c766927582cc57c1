"""One typed method per event type, written once and shared by every producer flavour.

:class:`EventMethods` declares the 15 methods as :class:`EventMethod` descriptors built from
the payload models, so each method's keyword arguments *are* the payload model's fields
(mypy checks names and required fields through ``ParamSpec``). The flavour decides what a
call returns through the type parameter ``R``: the async producer returns a coroutine of
:class:`~sessionflow.producers.delivery.Delivery`, its ``enqueue`` view a coroutine of a
delivery future, the sync facade a :class:`~sessionflow.producers.delivery.Delivery`.

Method names are the event types with dots as underscores (``message.created`` ->
``message_created``); the first positional argument is the session id.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from functools import partial
from typing import Any, Concatenate, Generic, NamedTuple, ParamSpec, TypeVar, cast, overload

from pydantic import ValidationError

from sessionflow.producers.errors import DeclarationError, EventValidationFailedError
from sessionflow.schemas.enums import EventType
from sessionflow.schemas.models import (
    ContractModel,
    ErrorOccurred,
    MessageCreated,
    MessageUpdated,
    SessionActivated,
    SessionCreated,
    SessionEnded,
    SessionSuspended,
    StreamChunk,
    StreamEnded,
    StreamStarted,
    ToolCallApproved,
    ToolCallCompleted,
    ToolCallFailed,
    ToolCallPending,
    ToolCallRejected,
)

P = ParamSpec("P")
R = TypeVar("R")


@dataclass(frozen=True, slots=True)
class EnvelopeMeta:
    """Envelope fields a caller may set around the payload; None means "SDK default"."""

    causation_id: str | None = None
    correlation_id: str | None = None
    occurred_at: datetime | None = None
    source: str | None = None


class PayloadCall(NamedTuple):
    """A typed-method call, not yet validated: event type, session id and payload arguments.

    (A NamedTuple rather than a frozen dataclass: built once per event, it is 2x cheaper.)
    """

    event_type: EventType
    model: type[ContractModel]
    session_id: str
    args: tuple[Any, ...]
    kwargs: Mapping[str, Any]

    def build(self) -> ContractModel:
        """The validated payload model; raises :class:`EventValidationFailedError`."""
        if not isinstance(self.session_id, str) or not self.session_id:
            raise EventValidationFailedError(
                f"{self.event_type.value}: session_id: must be a non-empty string"
            )
        try:
            return self.model(*self.args, **self.kwargs)
        except ValidationError as exc:
            problems = "; ".join(
                f"{'.'.join(map(str, e['loc'])) or '<payload>'}: {e['msg']}" for e in exc.errors()
            )
            raise EventValidationFailedError(f"{self.event_type.value}: {problems}") from exc


class EventMethod(Generic[P]):
    """Descriptor: ``obj.<event>(session_id, **payload_fields)`` -> ``obj._dispatch_with(...)``."""

    def __init__(self, event_type: EventType, model: Callable[P, ContractModel]) -> None:
        self.event_type = event_type
        self.model = cast(type[ContractModel], model)

    def __set_name__(self, owner: type, name: str) -> None:
        expected = self.event_type.value.replace(".", "_")
        if name != expected:
            raise DeclarationError(f"{self.event_type.value} must be declared as {expected!r}")

    @overload
    def __get__(self, obj: None, owner: type) -> EventMethod[P]: ...

    @overload
    def __get__(self, obj: EventMethods[R], owner: type) -> Callable[Concatenate[str, P], R]: ...

    def __get__(self, obj: EventMethods[Any] | None, owner: type) -> Any:
        if obj is None:
            return self
        return partial(_call, obj, self.event_type, self.model)


def _call(
    target: EventMethods[R],
    event_type: EventType,
    model: type[ContractModel],
    session_id: str,
    /,
    *args: Any,
    **kwargs: Any,
) -> R:
    return target._dispatch_with(_NO_META, PayloadCall(event_type, model, session_id, args, kwargs))


class EventMethods(ABC, Generic[R]):
    """The 15 typed event methods plus :meth:`with_context`; flavours implement dispatch."""

    @abstractmethod
    def _dispatch_with(self, meta: EnvelopeMeta, call: PayloadCall) -> R:
        """Send ``call`` with envelope fields ``meta``; the flavour's return value."""

    def with_context(
        self,
        *,
        causation_id: str | None = None,
        correlation_id: str | None = None,
        occurred_at: datetime | None = None,
        source: str | None = None,
    ) -> EventMethods[R]:
        """The same methods, setting these envelope fields on every event sent through them.

        ``occurred_at`` must be timezone-aware (default: now); it is also the Kafka record's
        timestamp, so it must lie after 1970 and at most 1 h ahead (checked at send time).
        ``source`` overrides the producer's configured source (e.g. ``plugin:<name>``); the
        event is still numbered in this producer's scope (its ``producer_id``).
        """
        if occurred_at is not None and occurred_at.tzinfo is None:
            raise EventValidationFailedError("occurred_at: must be timezone-aware")
        meta = EnvelopeMeta(causation_id, correlation_id, occurred_at, source)
        return _ContextView(self, meta)

    session_created = EventMethod(EventType.SESSION_CREATED, SessionCreated)
    session_activated = EventMethod(EventType.SESSION_ACTIVATED, SessionActivated)
    session_suspended = EventMethod(EventType.SESSION_SUSPENDED, SessionSuspended)
    session_ended = EventMethod(EventType.SESSION_ENDED, SessionEnded)
    message_created = EventMethod(EventType.MESSAGE_CREATED, MessageCreated)
    message_updated = EventMethod(EventType.MESSAGE_UPDATED, MessageUpdated)
    tool_call_pending = EventMethod(EventType.TOOL_CALL_PENDING, ToolCallPending)
    tool_call_approved = EventMethod(EventType.TOOL_CALL_APPROVED, ToolCallApproved)
    tool_call_rejected = EventMethod(EventType.TOOL_CALL_REJECTED, ToolCallRejected)
    tool_call_completed = EventMethod(EventType.TOOL_CALL_COMPLETED, ToolCallCompleted)
    tool_call_failed = EventMethod(EventType.TOOL_CALL_FAILED, ToolCallFailed)
    stream_started = EventMethod(EventType.STREAM_STARTED, StreamStarted)
    stream_chunk = EventMethod(EventType.STREAM_CHUNK, StreamChunk)
    stream_ended = EventMethod(EventType.STREAM_ENDED, StreamEnded)
    error_occurred = EventMethod(EventType.ERROR_OCCURRED, ErrorOccurred)


_NO_META = EnvelopeMeta()


class _ContextView(EventMethods[R]):
    """The parent's methods with fixed envelope fields (see :meth:`EventMethods.with_context`)."""

    def __init__(self, parent: EventMethods[R], meta: EnvelopeMeta) -> None:
        self._parent = parent
        self._meta = meta

    def _dispatch_with(self, meta: EnvelopeMeta, call: PayloadCall) -> R:
        merged = EnvelopeMeta(
            meta.causation_id or self._meta.causation_id,
            meta.correlation_id or self._meta.correlation_id,
            meta.occurred_at or self._meta.occurred_at,
            meta.source or self._meta.source,
        )
        return self._parent._dispatch_with(merged, call)


def event_method_names() -> dict[EventType, str]:
    """Event type -> typed method name, for every event type (used by tests and docs)."""
    return {
        attr.event_type: name
        for name, attr in vars(EventMethods).items()
        if isinstance(attr, EventMethod)
    }
