"""The simulator: realistic sessions that obey the state machines, anomalies as promised."""

from __future__ import annotations

from collections import Counter, defaultdict
from dataclasses import dataclass, field

import pytest

from sessionflow.producers.simulator import AnomalyKind, Outgoing, SimulationPlan, simulate
from sessionflow.schemas import DecodeError, EventCodec, EventEnvelope, EventType, is_session_id

SESSION_MOVES = {
    (None, "session.created"): "CREATED",
    ("CREATED", "session.activated"): "ACTIVE",
    ("SUSPENDED", "session.activated"): "ACTIVE",
    ("ACTIVE", "session.suspended"): "SUSPENDED",
    ("CREATED", "session.ended"): "ENDED",
    ("ACTIVE", "session.ended"): "ENDED",
    ("SUSPENDED", "session.ended"): "ENDED",
}
TOOL_MOVES = {
    (None, "tool_call.pending"): "PENDING",
    ("PENDING", "tool_call.approved"): "APPROVED",
    ("PENDING", "tool_call.rejected"): "REJECTED",
    ("APPROVED", "tool_call.completed"): "COMPLETED",
    ("APPROVED", "tool_call.failed"): "FAILED",
}
AUTO_MOVES = {
    ("PENDING", "tool_call.completed"): "COMPLETED",
    ("PENDING", "tool_call.failed"): "FAILED",
}


@dataclass
class Referee:
    """An independent reading of DESIGN.md's rules, to judge the simulator's output."""

    status: str | None = None
    sequence: int = 0
    tools: dict[str, str] = field(default_factory=dict)
    auto: bool = False
    streams: dict[str, int] = field(default_factory=dict)

    def check(self, event: EventEnvelope) -> str | None:
        """The rule ``event`` breaks, or None; state advances only on a legal event."""
        if self.status is None and event.event_type is not EventType.SESSION_CREATED:
            return "unknown_session"
        if event.sequence != self.sequence + 1:
            return "sequence_gap" if event.sequence > self.sequence else "sequence_repeat"
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
        self.sequence = event.sequence
        return None


@pytest.fixture(scope="module")
def codec() -> EventCodec:
    return EventCodec()


def judge(records: tuple[Outgoing, ...]) -> dict[str, Referee]:
    referees: dict[str, Referee] = defaultdict(Referee)
    for record in records:
        if record.anomaly is None:
            assert record.event is not None
            assert referees[record.key].check(record.event) is None, record.event
    return referees


def last_record_of(records: tuple[Outgoing, ...], key: str) -> Outgoing:
    return [r for r in records if r.key == key][-1]


def test_same_plan_gives_the_same_bytes(codec: EventCodec) -> None:
    plan = SimulationPlan(
        sessions=30, concurrency=5, seed=11, anomalies={AnomalyKind.UNDECODABLE: 3}
    )

    first = [r.raw or codec.encode(r.event) for r in simulate(plan, codec.encode).records]  # type: ignore[arg-type]
    second = [r.raw or codec.encode(r.event) for r in simulate(plan, codec.encode).records]  # type: ignore[arg-type]
    other_seed = simulate(SimulationPlan(sessions=30, concurrency=5, seed=12), codec.encode)

    assert first == second
    assert other_seed.records[0].event != simulate(plan, codec.encode).records[0].event


def test_sessions_are_realistic_and_obey_every_state_machine(codec: EventCodec) -> None:
    sim = simulate(SimulationPlan(sessions=150, concurrency=20, seed=3), codec.encode)
    events = [r.event for r in sim.records if r.event is not None]

    referees = judge(sim.records)
    types = Counter(e.event_type for e in events)
    ends = Counter(r.status for r in referees.values())

    assert set(types) == set(EventType)
    assert len(referees) == 150
    assert all(is_session_id(session_id) for session_id in referees)
    assert len({e.event_id for e in events}) == len(events)
    assert ends["ENDED"] > 100
    assert ends["ACTIVE"] > 0
    assert all(not r.streams for r in referees.values())  # every stream closed
    assert all(
        s in {"COMPLETED", "FAILED", "REJECTED"}
        for r in referees.values()
        for s in r.tools.values()
    )


def test_concurrency_bounds_overlapping_sessions(codec: EventCodec) -> None:
    sim = simulate(SimulationPlan(sessions=40, concurrency=4, seed=5), codec.encode)
    open_now: set[str] = set()
    peak = 0
    last_of = {r.key: i for i, r in enumerate(sim.records)}

    for index, record in enumerate(sim.records):
        open_now.add(record.key)
        peak = max(peak, len(open_now))
        if last_of[record.key] == index:
            open_now.discard(record.key)

    assert 2 <= peak <= 4


@pytest.mark.parametrize(
    "kind",
    [
        AnomalyKind.ILLEGAL_TRANSITION,
        AnomalyKind.SEQUENCE_GAP,
        AnomalyKind.SEQUENCE_REPEAT,
        AnomalyKind.UNKNOWN_SESSION,
    ],
)
def test_each_rule_breaking_anomaly_breaks_exactly_its_rule(
    codec: EventCodec, kind: AnomalyKind
) -> None:
    sim = simulate(SimulationPlan(sessions=10, seed=9, anomalies={kind: 4}), codec.encode)
    referees = judge(sim.records)  # every record not flagged as an anomaly is legal
    bad = [r for r in sim.records if r.anomaly is not None]

    verdicts = [referees[r.key].check(r.event) for r in bad if r.event is not None]

    assert sim.injected_counts()[kind] == 4
    assert verdicts == [kind.value] * 4
    assert all(last_record_of(sim.records, r.key) is r for r in bad)


def test_duplicates_repeat_an_earlier_event_unchanged(codec: EventCodec) -> None:
    sim = simulate(
        SimulationPlan(sessions=10, seed=4, anomalies={AnomalyKind.DUPLICATE_EVENT_ID: 5}),
        codec.encode,
    )
    first_seen: dict[str, int] = {}
    copies = []

    for index, record in enumerate(sim.records):
        assert record.event is not None
        if record.anomaly is AnomalyKind.DUPLICATE_EVENT_ID:
            copies.append((first_seen[record.event.event_id], index, record.event))
        else:
            first_seen.setdefault(record.event.event_id, index)

    assert len(copies) == 5
    assert all(original < copy for original, copy, _ in copies)
    assert all(sim.records[original].event == event for original, _, event in copies)
    assert sim.dead_letter_count() == 0


def test_undecodable_records_never_decode(codec: EventCodec) -> None:
    sim = simulate(
        SimulationPlan(sessions=5, seed=2, anomalies={AnomalyKind.UNDECODABLE: 6}), codec.encode
    )
    raws = [r.raw for r in sim.records if r.anomaly is AnomalyKind.UNDECODABLE]

    assert len(raws) == 6
    for raw in raws:
        assert raw is not None
        with pytest.raises(DecodeError):
            codec.decode(raw)
    assert sim.dead_letter_count() == 6
