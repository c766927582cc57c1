"""Building and validating events with one-line, actionable error messages."""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from pydantic import ValidationError

from sessionflow.schemas.enums import EventType
from sessionflow.schemas.errors import EventValidationError, SchemaArgumentError
from sessionflow.schemas.ids import new_event_id
from sessionflow.schemas.models import PAYLOAD_MODELS, ContractModel, EventEnvelope


def validation_error(event_type: object, exc: ValidationError) -> EventValidationError:
    """Turn a pydantic error into an :class:`EventValidationError` about its first problem.

    The message reads ``<event type>: <field path>: <problem> (got <input>)``; further
    problems are counted (``... (+2 more)``) so the message stays on one line.
    """
    errors = exc.errors(include_url=False)
    first = errors[0]
    field = ".".join(str(part) for part in first["loc"]) or "<event>"
    problem = " ".join(str(first["msg"]).split()).removeprefix("Value error, ")
    if first["type"] != "missing":
        problem += f" (got {_short(first['input'])})"
    if len(errors) > 1:
        problem += f" (+{len(errors) - 1} more)"
    name = event_type.value if isinstance(event_type, EventType) else str(event_type or "")
    return EventValidationError(name, field, problem)


def validate_event(data: Mapping[str, Any]) -> EventEnvelope:
    """Validate a plain event dict (e.g. the output of ``EventCodec.decode``) into a model.

    ``occurred_at`` may be an aware datetime, an ISO string, or int milliseconds since the
    epoch. Raises :class:`EventValidationError`.
    """
    fields = dict(data)
    millis = fields.get("occurred_at")
    try:
        if isinstance(millis, int) and not isinstance(millis, bool):
            fields["occurred_at"] = millis_to_datetime(millis)
        return EventEnvelope.model_validate(fields)
    except ValidationError as exc:
        raise validation_error(fields.get("event_type"), exc) from None
    except OverflowError as exc:
        raise EventValidationError(
            str(fields.get("event_type", "")), "occurred_at", f"out of the datetime range ({exc})"
        ) from None


def make_event(
    event_type: EventType | str,
    session_id: str,
    sequence: int,
    source: str,
    payload: ContractModel | Mapping[str, Any],
    *,
    occurred_at: datetime | None = None,
    event_id: str | None = None,
    causation_id: str | None = None,
    correlation_id: str | None = None,
    producer_id: str | None = None,
) -> EventEnvelope:
    """Build a validated envelope; ``event_id`` defaults to a new UUIDv7, ``occurred_at`` to now.

    Raises :class:`EventValidationError` (one line: event type, field, problem).
    """
    body = payload if isinstance(payload, ContractModel) else dict(payload)
    return validate_event(
        {
            "event_id": new_event_id() if event_id is None else event_id,
            "event_type": event_type,
            "session_id": session_id,
            "sequence": sequence,
            "occurred_at": datetime.now(UTC) if occurred_at is None else occurred_at,
            "source": source,
            "causation_id": causation_id,
            "correlation_id": correlation_id,
            "producer_id": producer_id,
            "payload": body,
        }
    )


def payload_model(event_type: EventType | str) -> type[ContractModel]:
    """Return the payload model class of ``event_type``; EventValidationError if unknown."""
    try:
        return PAYLOAD_MODELS[EventType(event_type)]
    except ValueError:
        raise EventValidationError(str(event_type), "event_type", "unknown event type") from None


_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)
_MILLI = timedelta(milliseconds=1)


def millis_to_datetime(millis: int) -> datetime:
    """Convert ``occurred_at`` as returned by the fast decode path to an aware UTC datetime."""
    return _EPOCH + timedelta(milliseconds=millis)


def datetime_to_millis(moment: datetime) -> int:
    """Convert an aware datetime to milliseconds since the epoch (what goes on the wire)."""
    if moment.tzinfo is None:
        raise SchemaArgumentError("naive datetime: occurred_at must be timezone-aware")
    return (moment - _EPOCH) // _MILLI


def _short(value: object, limit: int = 60) -> str:
    text = repr(value)
    return text if len(text) <= limit else text[: limit - 3] + "..."
