"""Dead letters as read back from the DLQ topic, and how ops select them (pure, no I/O).

A :class:`StoredLetter` is one DLQ record with its headers parsed (see
:mod:`sessionflow.processors.runtime.deadletter_writer` for what the writer puts there).
:class:`Selection` says which letters a command works on: reasons, a time floor on the
record timestamp (the dead-lettered record's own timestamp, i.e. its event time), a limit.
"""

from __future__ import annotations

import re
from collections import Counter
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sessionflow.core.errors import SessionflowError
from sessionflow.processors.domain.deadletters import Reason
from sessionflow.processors.domain.fold import Decoder
from sessionflow.processors.runtime.deadletter_writer import (
    H_DETAIL,
    H_ERROR,
    H_GROUP,
    H_OFFSET,
    H_PARTITION,
    H_REASON,
    H_REPLAY_DLQ,
    H_REPLAY_HISTORY,
    H_REPLAY_ORIGIN,
    H_TOPIC,
)
from sessionflow.schemas.errors import DecodeError

_DURATION = re.compile(r"^(\d+)([smhdw])$")
_UNITS = {"s": "seconds", "m": "minutes", "h": "hours", "d": "days", "w": "weeks"}


class BadSelectionError(SessionflowError, ValueError):
    """A DLQ position or a time given by the user is malformed; the message says how."""


@dataclass(frozen=True, slots=True)
class Position:
    """A record's place in the DLQ topic: partition and offset."""

    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.partition}:{self.offset}"


def parse_position(text: str) -> tuple[int | None, int]:
    """``PARTITION:OFFSET`` or a bare ``OFFSET`` -> (partition or None, offset).

    Raises :class:`BadSelectionError` saying what is wrong.
    """
    partition, colon, offset = text.strip().rpartition(":")
    if not offset.isdigit() or (colon and not partition.isdigit()):
        raise BadSelectionError(
            f"{text!r} is not PARTITION:OFFSET or OFFSET (non-negative integers)"
        )
    return (int(partition) if colon else None), int(offset)


def parse_since(text: str, now: datetime) -> datetime:
    """An ISO 8601 time (naive = UTC) or a duration back from ``now`` (``30m``, ``1h``, ``2d``).

    Raises :class:`BadSelectionError` saying what is wrong.
    """
    match = _DURATION.match(text.strip())
    if match:
        amount, unit = match.groups()
        return now - timedelta(**{_UNITS[unit]: int(amount)})
    try:
        moment = datetime.fromisoformat(text.strip())
    except ValueError:
        raise BadSelectionError(
            f"{text!r} is neither an ISO 8601 time nor a duration like 30m, 1h, 2d"
        ) from None
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


@dataclass(frozen=True, slots=True)
class StoredLetter:
    """One DLQ record: where it is, the original record, and why it is there."""

    position: Position
    timestamp: int
    key: bytes | None
    value: bytes
    headers: tuple[tuple[str, bytes], ...]

    def header(self, name: str) -> str | None:
        """The header ``name`` as text (the last one if repeated), None when absent."""
        found = None
        for key, value in self.headers:
            if key == name:
                found = value
        return None if found is None else found.decode("utf-8", "replace")

    @property
    def reason(self) -> str:
        """The reason it was dead-lettered for (``?`` when the header is missing)."""
        return self.header(H_REASON) or "?"

    @property
    def detail(self) -> str:
        """The writer's one-line detail."""
        return self.header(H_DETAIL) or ""

    @property
    def origin_partition(self) -> int | None:
        """Partition of the topic the record was read from, if the header says."""
        text = self.header(H_PARTITION)
        return int(text) if text and text.isdigit() else None

    @property
    def origin(self) -> str:
        """``topic/partition@offset`` the record was read at."""
        return f"{self.header(H_TOPIC) or '?'}/{self.header(H_PARTITION) or '?'}@" + (
            self.header(H_OFFSET) or "?"
        )

    @property
    def group(self) -> str:
        """The consumer group that dead-lettered it."""
        return self.header(H_GROUP) or ""

    @property
    def error_class(self) -> str:
        """The exception class behind it (undecodable bytes, plugin failures), or ''."""
        return self.header(H_ERROR) or ""

    @property
    def replayed_from(self) -> str | None:
        """For a letter that came back after a replay: the DLQ position it was re-injected from."""
        return self.header(H_REPLAY_DLQ)

    @property
    def history(self) -> list[str]:
        """Earlier dead letterings of this event (``reason@partition:offset``), oldest first."""
        text = self.header(H_REPLAY_HISTORY)
        return text.split(",") if text else []

    @property
    def first_origin(self) -> str:
        """Where the event was first read (before any replay)."""
        return self.header(H_REPLAY_ORIGIN) or self.origin

    def time(self) -> datetime:
        """The record timestamp as an aware UTC time."""
        return datetime.fromtimestamp(self.timestamp / 1000, UTC)


def letter_of(record: Any) -> StoredLetter:
    """A :class:`StoredLetter` from an aiokafka consumer record of the DLQ topic."""
    headers = tuple(
        (str(k), v if isinstance(v, bytes) else str(v).encode()) for k, v in record.headers or ()
    )
    return StoredLetter(
        Position(record.partition, record.offset),
        record.timestamp,
        record.key,
        record.value or b"",
        headers,
    )


@dataclass(frozen=True, slots=True)
class Selection:
    """Which letters: any of ``reasons`` (empty = all), timestamp >= ``since``, last ``limit``."""

    reasons: frozenset[str] = frozenset()
    since: datetime | None = None
    limit: int | None = None

    def matches(self, letter: StoredLetter) -> bool:
        """True when ``letter`` passes the reason and time filters."""
        if self.reasons and letter.reason not in self.reasons:
            return False
        return self.since is None or letter.time() >= self.since

    def apply(self, letters: Iterable[StoredLetter]) -> list[StoredLetter]:
        """The matching letters by (timestamp, partition, offset); the newest ``limit`` ones."""
        chosen = sorted(
            (letter for letter in letters if self.matches(letter)),
            key=lambda d: (d.timestamp, d.position.partition, d.position.offset),
        )
        return chosen if self.limit is None else chosen[max(0, len(chosen) - self.limit) :]


def count_by_reason(letters: Iterable[StoredLetter]) -> dict[str, int]:
    """How many letters per reason."""
    return dict(Counter(letter.reason for letter in letters))


@dataclass(frozen=True, slots=True)
class Decoded:
    """What the bytes of a letter are: the event (as a dict) or why they are not one."""

    event: dict[str, Any] | None
    error: str | None

    @property
    def event_type(self) -> str:
        """The event's type, '' when undecodable."""
        return str(self.event["event_type"]) if self.event else ""

    @property
    def session_id(self) -> str:
        """The event's session, '' when undecodable."""
        return str(self.event["session_id"]) if self.event else ""


def decode_letter(codec: Decoder, letter: StoredLetter) -> Decoded:
    """Decode ``letter``'s bytes with ``codec`` (an EventCodec); the event or the error."""
    try:
        return Decoded(codec.decode(letter.value), None)
    except DecodeError as exc:
        return Decoded(None, f"{type(exc).__name__}: {exc}")


def known_reasons() -> Sequence[str]:
    """Every reason name a dead letter can carry."""
    return [reason.value for reason in Reason]
