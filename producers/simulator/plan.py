"""What to simulate, and the records the simulation hands to a sender."""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from sessionflow.producers.delivery import EncodedRecord
from sessionflow.producers.errors import InvalidArgumentError
from sessionflow.schemas.models import EventEnvelope
from sessionflow.schemas.validation import datetime_to_millis

DEFAULT_START = datetime(2026, 1, 1, 9, 0, tzinfo=UTC)


class AnomalyKind(StrEnum):
    """Rule-breaking inputs the simulator can inject, each in a known quantity."""

    ILLEGAL_TRANSITION = "illegal_transition"
    SEQUENCE_GAP = "sequence_gap"
    SEQUENCE_REPEAT = "sequence_repeat"
    UNKNOWN_SESSION = "unknown_session"
    DUPLICATE_EVENT_ID = "duplicate_event_id"
    UNDECODABLE = "undecodable"


@dataclass(frozen=True)
class SimulationPlan:
    """How many sessions, how many at once, from which seed and start time, which anomalies.

    The same plan always gives the same records, byte for byte. With ``end`` set, the whole
    simulation is moved so its latest event occurred at ``end`` (``start`` is then ignored):
    the same sessions, at other times (so other ids, which embed times).
    """

    sessions: int = 100
    concurrency: int = 10
    seed: int = 42
    start: datetime = DEFAULT_START
    anomalies: dict[AnomalyKind, int] = field(default_factory=dict)
    end: datetime | None = None

    def __post_init__(self) -> None:
        if self.sessions < 0 or self.concurrency < 1:
            raise InvalidArgumentError("sessions must be >= 0 and concurrency >= 1")
        if any(count < 0 for count in self.anomalies.values()):
            raise InvalidArgumentError("anomaly counts must be >= 0")


@dataclass(frozen=True)
class Outgoing:
    """One record to send: a valid envelope, or raw bytes that are not a decodable event.

    ``anomaly`` names the rule the record breaks (None for a valid, first-time event). Raw
    bytes stand for an event: ``stands_for`` is that event's ``occurred_at``.
    """

    key: str
    event: EventEnvelope | None = None
    raw: bytes | None = None
    anomaly: AnomalyKind | None = None
    stands_for: datetime | None = None

    @property
    def occurred_at(self) -> datetime:
        """Event time of the record: its event's ``occurred_at`` (raw: ``stands_for``)."""
        moment = self.event.occurred_at if self.event is not None else self.stands_for
        assert moment is not None, "a record carries an event, or raw bytes and their time"
        return moment

    def encoded(self, encode: Callable[[EventEnvelope], bytes]) -> EncodedRecord:
        """What goes on the wire: key, raw bytes or encoded event, event time as timestamp."""
        if self.raw is not None:
            value = self.raw
        else:
            assert self.event is not None, "a record carries an event or raw bytes"
            value = encode(self.event)
        return EncodedRecord(self.key, value, datetime_to_millis(self.occurred_at))


@dataclass(frozen=True)
class InjectedAnomaly:
    """Ground truth for one injected anomaly: which kind, where, and what it is.

    ``producer_id`` is the ordering scope of the bad event (None for raw bytes).
    """

    kind: AnomalyKind
    session_id: str
    event_id: str | None
    detail: str
    producer_id: str | None = None


@dataclass(frozen=True)
class ProducerRestart:
    """A session continued by a new instance of ``service``: a new scope, starting at 1."""

    session_id: str
    service: str
    old_producer_id: str
    new_producer_id: str


@dataclass(frozen=True)
class Simulation:
    """The records in send order plus the ground truth a processor must reproduce."""

    records: tuple[Outgoing, ...]
    sessions: int
    injected: tuple[InjectedAnomaly, ...]
    restarts: tuple[ProducerRestart, ...] = ()

    def injected_counts(self) -> dict[AnomalyKind, int]:
        """How many anomalies of each kind were injected (every kind listed, zeros too)."""
        counts = dict.fromkeys(AnomalyKind, 0)
        for anomaly in self.injected:
            counts[anomaly.kind] += 1
        return counts

    def valid_event_count(self) -> int:
        """Distinct events that break no rule: what the audit and state must account for."""
        return sum(1 for r in self.records if r.anomaly is None)

    def dead_letter_count(self) -> int:
        """Records that must reach the dead-letter topic: every anomaly.

        A duplicate delivery is applied once; its extra copy is dead-lettered (reason
        ``duplicate_event_id``) so it is visible, never applied twice.
        """
        return sum(1 for r in self.records if r.anomaly is not None)

    def scopes(self) -> Counter[tuple[str, str | None]]:
        """Valid events per ordering scope (session_id, producer_id)."""
        return Counter(
            (r.event.session_id, r.event.producer_id)
            for r in self.records
            if r.anomaly is None and r.event is not None
        )
