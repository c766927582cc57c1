"""Read and validate a JSON Lines file of events before anything is sent.

One JSON object per line, the envelope's fields (DESIGN.md) with these defaults:
``event_id`` a new UUIDv7, ``occurred_at`` now (ISO 8601 or epoch milliseconds accepted),
``source`` the reader's default source, ``causation_id``/``correlation_id`` null. A session's
``sequence`` is either given on every line of that session (and strictly increasing) or on
none, in which case lines are numbered 1, 2, ... in file order. Blank lines are skipped.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from sessionflow.schemas import EventEnvelope, EventValidationError, validate_event
from sessionflow.schemas.ids import new_event_id


@dataclass(frozen=True)
class InvalidLine:
    """A line that cannot be sent, with its 1-based number and a one-line reason."""

    number: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.number}: {self.reason}"


@dataclass
class JsonlBatch:
    """The valid events of a file in file order, and every invalid line."""

    events: list[EventEnvelope] = field(default_factory=list)
    invalid: list[InvalidLine] = field(default_factory=list)

    def counts_by_type(self) -> Counter[str]:
        """Valid events per event type."""
        return Counter(event.event_type.value for event in self.events)


@dataclass
class _SessionNumbering:
    explicit: bool
    last: int
    first_line: int


def _parse(line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        raise ValueError(f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(value, dict):
        raise ValueError(f"expected a JSON object, got {type(value).__name__}")
    return value


class JsonlReader:
    """Validates lines into envelopes; keeps per-session sequence numbering across lines."""

    def __init__(self, default_source: str, now_millis: int) -> None:
        self._source = default_source
        self._now = now_millis
        self._sessions: dict[str, _SessionNumbering] = {}

    def read(self, lines: Iterable[str]) -> JsonlBatch:
        """Every line validated; a bad line never stops the others from being checked."""
        batch = JsonlBatch()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                batch.events.append(self._event(number, _parse(line)))
            except (ValueError, EventValidationError) as exc:
                batch.invalid.append(InvalidLine(number, str(exc)))
        return batch

    def _event(self, number: int, fields: dict[str, Any]) -> EventEnvelope:
        fields.setdefault("event_id", new_event_id())
        fields.setdefault("occurred_at", self._now)
        fields.setdefault("source", self._source)
        explicit = "sequence" in fields
        if not explicit:
            fields["sequence"] = 0  # placeholder, numbered below once the event is valid
        event = validate_event(fields)
        sequence = self._sequence(number, event, explicit)
        return event if explicit else event.model_copy(update={"sequence": sequence})

    def _sequence(self, number: int, event: EventEnvelope, explicit: bool) -> int:
        state = self._sessions.get(event.session_id)
        if state is None:
            state = self._sessions[event.session_id] = _SessionNumbering(explicit, 0, number)
        if state.explicit != explicit:
            given = "gives" if explicit else "omits"
            raise ValueError(
                f"{event.event_type.value}: sequence: line {number} {given} it but line "
                f"{state.first_line} of session {event.session_id} does not; give it on all or none"
            )
        sequence = event.sequence if explicit else state.last + 1
        if sequence <= state.last:
            raise ValueError(
                f"{event.event_type.value}: sequence: {sequence} is not above {state.last}, "
                f"the previous sequence of session {event.session_id}"
            )
        state.last = sequence
        return sequence
