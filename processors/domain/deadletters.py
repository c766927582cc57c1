"""Dead letters: why a record was not applied, and where it came from.

A record that breaks a rule never stops the pipeline and is never silently dropped: the fold
returns a :class:`DeadLetter` for it, and the runtime produces it to the dead-letter topic
with the original key, bytes and timestamp, the reason and its origin.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from typing import NamedTuple


class Reason(StrEnum):
    """Why a record went to the dead-letter topic."""

    UNDECODABLE = "undecodable"
    KEY_MISMATCH = "key_mismatch"
    UNKNOWN_SESSION = "unknown_session"
    ILLEGAL_TRANSITION = "illegal_transition"
    SEQUENCE_GAP = "sequence_gap"
    SEQUENCE_REPEAT = "sequence_repeat"
    DUPLICATE_EVENT_ID = "duplicate_event_id"
    PLUGIN_FAILED = "plugin_failed"
    PLUGIN_TIMEOUT = "plugin_timeout"


@dataclass(frozen=True, slots=True)
class Origin:
    """Where a record was read: topic, partition, offset."""

    topic: str
    partition: int
    offset: int

    def __str__(self) -> str:
        return f"{self.topic}/{self.partition}@{self.offset}"


class Record(NamedTuple):
    """One Kafka record as the fold sees it (no client types; a named tuple: built once per
    record on every path, where a frozen dataclass costs three times as much)."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes
    timestamp: int
    headers: tuple[tuple[str, bytes], ...] = ()

    @property
    def origin(self) -> Origin:
        """Where this record was read."""
        return Origin(self.topic, self.partition, self.offset)


@dataclass(frozen=True, slots=True)
class DeadLetter:
    """A record that was not applied: the record itself, the reason and a one-line detail.

    ``session_id``/``event_id``/``event_type`` are set when the record could be decoded;
    ``error_class`` names the exception behind an undecodable record or a failing plugin.
    """

    record: Record
    reason: Reason
    detail: str
    session_id: str | None = None
    event_id: str | None = None
    event_type: str | None = None
    error_class: str | None = None

    @property
    def origin(self) -> Origin:
        """Where the dead-lettered record was read."""
        return self.record.origin
