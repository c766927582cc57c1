"""An independent reading of the consumer-side rules, to judge what producers send.

Ordering: the scope of an event is (session_id, producer_id), or (session_id, source) when
producer_id is null (v1/v2 data). In a scope the first event has sequence 1 and each next
one the previous + 1. An event whose event_id was already accepted is a duplicate delivery
(it collapses); a lower-or-equal sequence with a new event_id is a ``sequence_repeat``, a
higher one a ``sequence_gap``. Then the session and tool-call state machines, and streams.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from sessionflow.schemas import EventEnvelope, EventType

SESSION_MOVES: dict[tuple[str | None, str], str] = {
    (None, "session.created"): "CREATED",
    ("CREATED", "session.activated"): "ACTIVE",
    ("SUSPENDED", "session.activated"): "ACTIVE",
    ("ACTIVE", "session.suspended"): "SUSPENDED",
    ("CREATED", "session.ended"): "ENDED",
    ("ACTIVE", "session.ended"): "ENDED",
    ("SUSPENDED", "session.ended"): "ENDED",
}
TOOL_MOVES: dict[tuple[str | None, str], str] = {
    (None, "tool_call.pending"): "PENDING",
    ("PENDING", "tool_call.approved"): "APPROVED",
    ("PENDING", "tool_call.rejected"): "REJECTED",
    ("APPROVED", "tool_call.completed"): "COMPLETED",
    ("APPROVED", "tool_call.failed"): "FAILED",
}
AUTO_MOVES: dict[tuple[str | None, str], str] = {
    ("PENDING", "tool_call.completed"): "COMPLETED",
    ("PENDING", "tool_call.failed"): "FAILED",
}


def scope_of(event: EventEnvelope) -> tuple[str, str]:
    """The ordering scope of ``event`` within its session."""
    if event.producer_id is not None:
        return ("producer", event.producer_id)
    return ("source", event.source)


@dataclass
class Referee:
    """One session as a reader judges it, event by event in topic order."""

    status: str | None = None
    last: dict[tuple[str, str], int] = field(default_factory=dict)
    accepted: set[str] = field(default_factory=set)
    tools: dict[str, str] = field(default_factory=dict)
    auto: bool = False
    streams: dict[str, int] = field(default_factory=dict)

    def check(self, event: EventEnvelope) -> str | None:
        """The rule ``event`` breaks (or ``duplicate_event_id``), or None if accepted.

        State advances only on an accepted event.
        """
        if event.event_id in self.accepted:
            return "duplicate_event_id"
        if self.status is None and event.event_type is not EventType.SESSION_CREATED:
            return "unknown_session"
        scope = scope_of(event)
        last = self.last.get(scope, 0)
        if event.sequence != last + 1:
            return "sequence_gap" if event.sequence > last + 1 else "sequence_repeat"
        problem = self._move(event)
        if problem is None:
            self.last[scope] = event.sequence
            self.accepted.add(event.event_id)
        return problem

    def _move(self, event: EventEnvelope) -> str | None:
        kind = event.event_type.value
        if kind.startswith("session."):
            new = SESSION_MOVES.get((self.status, kind))
            if new is None:
                return "illegal_transition"
            if kind == "session.created":
                self.auto = event.payload.config.approval_mode.value == "auto"  # type: ignore[union-attr]
            self.status = new
        elif self.status != "ACTIVE":
            return "illegal_transition"
        elif kind.startswith("tool_call."):
            call = event.payload.tool_call_id  # type: ignore[union-attr]
            moves = {**TOOL_MOVES, **AUTO_MOVES} if self.auto else TOOL_MOVES
            new = moves.get((self.tools.get(call), kind))
            if new is None:
                return "illegal_transition"
            self.tools[call] = new
        elif kind.startswith("stream."):
            stream = event.payload.stream_id  # type: ignore[union-attr]
            if kind == "stream.chunk" and self.streams.get(stream) != event.payload.chunk_index:  # type: ignore[union-attr]
                return "illegal_transition"
            self.streams[stream] = self.streams.get(stream, 0) + (kind == "stream.chunk")
            if kind == "stream.ended":
                del self.streams[stream]
        return None


def verdicts(
    events: Iterable[EventEnvelope], referees: dict[str, Referee] | None = None
) -> list[str | None]:
    """Each event's verdict, judged in the given (topic) order, one referee per session."""
    judges: dict[str, Referee] = defaultdict(Referee) if referees is None else referees
    return [judges.setdefault(e.session_id, Referee()).check(e) for e in events]
