"""What to simulate, and the records the simulation hands to a sender."""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from enum import StrEnum

from sessionflow.producers.errors import InvalidArgumentError
from sessionflow.schemas.models import EventEnvelope

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

    The same plan always gives the same records, byte for byte.
    """

    sessions: int = 100
    concurrency: int = 10
    seed: int = 42
    start: datetime = DEFAULT_START
    anomalies: dict[AnomalyKind, int] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.sessions < 0 or self.concurrency < 1:
            raise InvalidArgumentError("sessions must be >= 0 and concurrency >= 1")
        if any(count < 0 for count in self.anomalies.values()):
            raise InvalidArgumentError("anomaly counts must be >= 0")


@dataclass(frozen=True)
class Outgoing:
    """One record to send: a valid envelope, or raw bytes that are not a decodable event.

    ``anomaly`` names the rule the record breaks (None for a valid, first-time event).
    """

    key: str
    event: EventEnvelope | None = None
    raw: bytes | None = None
    anomaly: AnomalyKind | None = None


@dataclass(frozen=True)
class InjectedAnomaly:
    """Ground truth for one injected anomaly: which kind, where, and what it is."""

    kind: AnomalyKind
    session_id: str
    event_id: str | None
    detail: str


@dataclass(frozen=True)
class Simulation:
    """The records in send order plus the ground truth a processor must reproduce."""

    records: tuple[Outgoing, ...]
    sessions: int
    injected: tuple[InjectedAnomaly, ...]

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
        """Records that must reach the dead-letter topic (duplicates collapse instead)."""
        return sum(
            1
            for r in self.records
            if r.anomaly is not None and r.anomaly is not AnomalyKind.DUPLICATE_EVENT_ID
        )
