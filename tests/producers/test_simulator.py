"""The simulator: realistic multi-producer sessions that obey the rules, anomalies as promised."""

from __future__ import annotations

from collections import Counter, defaultdict
from datetime import UTC, datetime, timedelta

import pytest

from sessionflow.producers.simulator import AnomalyKind, Outgoing, SimulationPlan, simulate
from sessionflow.schemas import DecodeError, EventCodec, EventEnvelope, EventType, is_session_id
from tests.producers.referee import Referee, scope_of

SEQUENCE_KINDS = (AnomalyKind.SEQUENCE_GAP, AnomalyKind.SEQUENCE_REPEAT)


@pytest.fixture(scope="module")
def codec() -> EventCodec:
    return EventCodec()


def judge(records: tuple[Outgoing, ...]) -> dict[str, Referee]:
    """Judge every record in send order: each verdict must be the record's anomaly label."""
    referees: dict[str, Referee] = defaultdict(Referee)
    for record in records:
        if record.event is None:
            assert record.anomaly is AnomalyKind.UNDECODABLE
            continue
        expected = None if record.anomaly is None else record.anomaly.value
        assert referees[record.key].check(record.event) == expected, record.event
    return referees


def events_of(records: tuple[Outgoing, ...]) -> list[EventEnvelope]:
    return [r.event for r in records if r.event is not None and r.anomaly is None]


def last_record_of(records: tuple[Outgoing, ...], key: str) -> Outgoing:
    return [r for r in records if r.key == key][-1]


def epoch_ms(moment: datetime) -> int:
    return round(moment.timestamp() * 1000)  # occurred_at has whole milliseconds


def test_same_plan_gives_the_same_records(codec: EventCodec) -> None:
    plan = SimulationPlan(
        sessions=30, concurrency=5, seed=11, anomalies={AnomalyKind.UNDECODABLE: 3}
    )

    first = [r.encoded(codec.encode) for r in simulate(plan, codec.encode).records]
    second = [r.encoded(codec.encode) for r in simulate(plan, codec.encode).records]
    other_seed = simulate(SimulationPlan(sessions=30, concurrency=5, seed=12), codec.encode)

    assert first == second
    assert other_seed.records[0].event != simulate(plan, codec.encode).records[0].event


def test_sessions_are_realistic_and_obey_every_state_machine(codec: EventCodec) -> None:
    sim = simulate(SimulationPlan(sessions=150, concurrency=20, seed=3), codec.encode)
    events = events_of(sim.records)

    referees = judge(sim.records)  # every record breaks no rule
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


def test_sessions_are_written_by_several_producers_interleaved(codec: EventCodec) -> None:
    sim = simulate(SimulationPlan(sessions=150, concurrency=20, seed=3), codec.encode)
    events = events_of(sim.records)
    scopes: dict[str, list[tuple[str, str]]] = defaultdict(list)
    for event in events:
        scopes[event.session_id].append(scope_of(event))

    per_session = Counter(len(set(order)) for order in scopes.values())
    interleaved = sum(  # a scope that resumes after another scope's events
        any(order[i] != order[i - 1] and order[i] in order[: i - 1] for i in range(2, len(order)))
        for order in scopes.values()
    )
    by_source = {e.source for e in events}

    judge(sim.records)
    assert by_source == {"chat-api", "llm-gateway", "tool-runner", "approval-ui"}
    assert sum(n for scopes_seen, n in per_session.items() if scopes_seen >= 3) > 75
    assert interleaved > 100
    assert all(e.producer_id and e.producer_id.startswith(f"{e.source}-") for e in events)
    assert sum(sim.scopes().values()) == len(events)
    assert len(sim.scopes()) == sum(len(set(order)) for order in scopes.values())


def test_restarted_producers_continue_sessions_in_a_new_scope(codec: EventCodec) -> None:
    sim = simulate(SimulationPlan(sessions=150, concurrency=20, seed=3), codec.encode)
    order = {r.event.event_id: i for i, r in enumerate(sim.records) if r.event is not None}
    by_scope: dict[tuple[str, str | None], list[EventEnvelope]] = defaultdict(list)
    for event in events_of(sim.records):
        by_scope[(event.session_id, event.producer_id)].append(event)

    judge(sim.records)  # the continuation breaks no rule
    assert len(sim.restarts) >= 10
    assert {r.service for r in sim.restarts} == {"chat-api", "llm-gateway"}
    for restart in sim.restarts:
        old = by_scope[(restart.session_id, restart.old_producer_id)]
        new = by_scope[(restart.session_id, restart.new_producer_id)]
        if not new:
            continue  # e.g. an llm-gateway restart in a session that streamed no more
        assert [e.sequence for e in new] == list(range(1, len(new) + 1))
        assert max(order[e.event_id] for e in old) < order[new[0].event_id]
    continued = [r for r in sim.restarts if by_scope[(r.session_id, r.new_producer_id)]]
    assert len(continued) >= 10


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
    sim = simulate(SimulationPlan(sessions=10, seed=9, anomalies={kind: 6}), codec.encode)
    bad = [r for r in sim.records if r.anomaly is not None]

    judge(sim.records)  # every bad record gets its own kind as verdict, the others none

    assert sim.injected_counts()[kind] == len(bad) == 6
    assert all(last_record_of(sim.records, r.key) is r for r in bad)
    assert [(a.event_id, a.producer_id) for a in sim.injected] == [
        (r.event.event_id, r.event.producer_id) for r in bad if r.event is not None
    ]
    if kind in SEQUENCE_KINDS:  # broken within one scope, of either producer of the carrier
        assert {r.event.source for r in bad if r.event is not None} == {"chat-api", "llm-gateway"}


def test_duplicates_repeat_an_earlier_event_unchanged(codec: EventCodec) -> None:
    sim = simulate(
        SimulationPlan(sessions=10, seed=4, anomalies={AnomalyKind.DUPLICATE_EVENT_ID: 5}),
        codec.encode,
    )
    first_seen: dict[str, int] = {}
    copies = []

    judge(sim.records)
    for index, record in enumerate(sim.records):
        assert record.event is not None
        if record.anomaly is AnomalyKind.DUPLICATE_EVENT_ID:
            copies.append((first_seen[record.event.event_id], index, record))
        else:
            first_seen.setdefault(record.event.event_id, index)

    assert len(copies) == 5
    assert all(original < copy for original, copy, _ in copies)
    assert all(
        sim.records[original].encoded(codec.encode) == record.encoded(codec.encode)
        for original, _, record in copies
    )  # same bytes, same record timestamp
    assert sim.dead_letter_count() == len(copies)  # each extra copy is dead-lettered


def test_undecodable_records_never_decode_and_keep_their_events_time(codec: EventCodec) -> None:
    sim = simulate(
        SimulationPlan(sessions=5, seed=2, anomalies={AnomalyKind.UNDECODABLE: 6}), codec.encode
    )
    raws = [r for r in sim.records if r.anomaly is AnomalyKind.UNDECODABLE]
    times = {e.occurred_at for e in events_of(sim.records)}

    assert len(raws) == 6
    for record in raws:
        assert record.raw is not None
        with pytest.raises(DecodeError):
            codec.decode(record.raw)
        assert record.stands_for in times
        assert record.encoded(codec.encode).timestamp_ms == epoch_ms(record.occurred_at)
    assert sim.dead_letter_count() == 6


def test_every_record_is_stamped_with_its_event_time(codec: EventCodec) -> None:
    sim = simulate(
        SimulationPlan(sessions=20, seed=8, anomalies=dict.fromkeys(AnomalyKind, 2)), codec.encode
    )

    for record in sim.records:
        key, _, timestamp = record.encoded(codec.encode)
        if record.event is not None:
            assert (key, timestamp) == (record.event.session_id, epoch_ms(record.event.occurred_at))


def test_a_plan_with_an_end_is_the_same_simulation_ending_then(codec: EventCodec) -> None:
    end = datetime(2026, 11, 30, 17, 45, 12, 345678, tzinfo=UTC)
    plan = SimulationPlan(sessions=25, seed=6, anomalies=dict.fromkeys(AnomalyKind, 1))
    anchored = simulate(plan, codec.encode)
    ending = simulate(SimulationPlan(**{**vars(plan), "end": end}), codec.encode)
    pairs = zip(anchored.records, ending.records, strict=True)
    (shift,) = {b.occurred_at - a.occurred_at for a, b in pairs}

    assert max(r.occurred_at for r in ending.records) == end.replace(microsecond=345000)
    assert shift > timedelta(days=300)
    assert [(r.anomaly, r.event and r.event.payload) for r in ending.records] == [
        (r.anomaly, r.event and r.event.payload) for r in anchored.records
    ]
    judge(ending.records)
