"""Read and validate a JSON Lines file of events before anything is sent.

One JSON object per line, the envelope's fields (docs/events.md) with these defaults:
``event_id`` a new UUIDv7, ``occurred_at`` now (ISO 8601 or epoch milliseconds accepted),
``source`` the reader's default source, ``causation_id``/``correlation_id`` null. A session's
``sequence`` is either given on every line of that session (and strictly increasing) or on
none, in which case lines are numbered 1, 2, ... in file order. Blank lines are skipped.

Each valid line is encoded during validation, so a caller can reject lines too large to send
(:meth:`JsonlBatch.reject_oversized`) before anything is sent. Input that is not UTF-8 text
raises :class:`JsonlError` naming the first bad byte; a line nested too deeply for the parser
is an invalid line like any other.
"""

from __future__ import annotations

import json
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from aiokafka.record.default_records import DefaultRecordBatchBuilder

from sessionflow.producers.errors import ProducerError
from sessionflow.schemas import EventCodec, EventEnvelope, EventValidationError, validate_event
from sessionflow.schemas.ids import new_event_id
from sessionflow.schemas.validation import datetime_to_millis


class JsonlError(ProducerError):
    """The input cannot be sent as it is: not UTF-8 text, invalid lines, or no events at all."""


class LineRejectedError(ProducerError):
    """One line cannot be sent; collected as an :class:`InvalidLine`, never escapes ``read``."""


@dataclass(frozen=True)
class InvalidLine:
    """A line that cannot be sent, with its 1-based number and a one-line reason."""

    number: int
    reason: str

    def __str__(self) -> str:
        return f"line {self.number}: {self.reason}"


@dataclass(frozen=True)
class ValidLine:
    """A line that validated: its number, its event and the event's encoded bytes."""

    number: int
    event: EventEnvelope
    value: bytes

    @property
    def timestamp_ms(self) -> int:
        """The record timestamp: the event's ``occurred_at`` in epoch milliseconds."""
        return datetime_to_millis(self.event.occurred_at)

    @property
    def record_bytes(self) -> int:
        """Size of this event alone in a Kafka record batch, as the producer estimates it."""
        size: int = DefaultRecordBatchBuilder.estimate_size_in_bytes(
            self.event.session_id.encode(), self.value, []
        )
        return size


@dataclass
class JsonlBatch:
    """The valid lines of a file in file order, and every invalid line in line order."""

    valid: list[ValidLine] = field(default_factory=list)
    invalid: list[InvalidLine] = field(default_factory=list)

    @property
    def events(self) -> list[EventEnvelope]:
        """The valid events, in file order."""
        return [line.event for line in self.valid]

    def counts_by_type(self) -> Counter[str]:
        """Valid events per event type."""
        return Counter(line.event.event_type.value for line in self.valid)

    def reject_oversized(self, limit: int, what: str) -> int:
        """Move every valid line whose record exceeds ``limit`` bytes to ``invalid``.

        ``what`` names the limit in the reason (a setting, a topic config). Returns how many
        lines were moved.
        """
        kept: list[ValidLine] = []
        moved = 0
        for line in self.valid:
            size = line.record_bytes
            if size <= limit:
                kept.append(line)
                continue
            moved += 1
            self.invalid.append(
                InvalidLine(
                    line.number,
                    f"{line.event.event_type.value}: the record is {size} bytes, over the "
                    f"{limit}-byte limit ({what})",
                )
            )
        self.valid = kept
        self.invalid.sort(key=lambda bad: bad.number)
        return moved


def decode_text(data: bytes, name: str) -> str:
    """``data`` as UTF-8 text (a leading BOM dropped); :class:`JsonlError` names the bad byte."""
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - (data.rfind(b"\n", 0, exc.start) + 1) + 1
        raise JsonlError(
            f"{name}: not UTF-8 text (byte 0x{data[exc.start]:02x} at line {line}, column {column})"
        ) from None


@dataclass
class _SessionNumbering:
    explicit: bool
    last: int
    first_line: int


def _parse(line: str) -> dict[str, Any]:
    try:
        value = json.loads(line)
    except json.JSONDecodeError as exc:
        raise LineRejectedError(f"not valid JSON: {exc.msg} (column {exc.colno})") from None
    if not isinstance(value, dict):
        raise LineRejectedError(f"expected a JSON object, got {type(value).__name__}")
    return value


class JsonlReader:
    """Validates lines into envelopes; keeps per-session sequence numbering across lines.

    ``codec`` encodes each valid event (default: the latest published schema).
    """

    def __init__(
        self, default_source: str, now_millis: int, *, codec: EventCodec | None = None
    ) -> None:
        self._source = default_source
        self._now = now_millis
        self._codec = codec if codec is not None else EventCodec()
        self._sessions: dict[str, _SessionNumbering] = {}

    def read(self, lines: Iterable[str]) -> JsonlBatch:
        """Every line validated and encoded; a bad line never stops the others being checked."""
        batch = JsonlBatch()
        for number, line in enumerate(lines, start=1):
            if not line.strip():
                continue
            try:
                event = self._event(number, _parse(line))
                batch.valid.append(ValidLine(number, event, self._codec.encode(event)))
            except (LineRejectedError, EventValidationError) as exc:
                batch.invalid.append(InvalidLine(number, str(exc)))
            except RecursionError:  # json or a validator met a value nested thousands deep
                batch.invalid.append(InvalidLine(number, "nested too deeply to read"))
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
            raise LineRejectedError(
                f"{event.event_type.value}: sequence: line {number} {given} it but line "
                f"{state.first_line} of session {event.session_id} does not; give it on all or none"
            )
        sequence = event.sequence if explicit else state.last + 1
        if sequence <= state.last:
            raise LineRejectedError(
                f"{event.event_type.value}: sequence: {sequence} is not above {state.last}, "
                f"the previous sequence of session {event.session_id}"
            )
        state.last = sequence
        return sequence
