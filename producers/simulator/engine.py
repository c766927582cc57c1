"""Turn a :class:`SimulationPlan` into records in send order, with the ground truth."""

from __future__ import annotations

import dataclasses
import heapq
import random
from datetime import datetime, timedelta

from sessionflow.producers.errors import InvalidArgumentError
from sessionflow.producers.simulator.anomalies import (
    Encoder,
    carrier_anomaly,
    carrier_start,
    duplicate,
    undecodable,
)
from sessionflow.producers.simulator.fleet import Fleet
from sessionflow.producers.simulator.ids import seeded_session_id
from sessionflow.producers.simulator.plan import (
    AnomalyKind,
    InjectedAnomaly,
    Outgoing,
    ProducerRestart,
    Simulation,
    SimulationPlan,
)
from sessionflow.producers.simulator.scenario import build_session
from sessionflow.schemas.models import EventEnvelope

CARRIER_KINDS = (
    AnomalyKind.ILLEGAL_TRANSITION,
    AnomalyKind.SEQUENCE_GAP,
    AnomalyKind.SEQUENCE_REPEAT,
    AnomalyKind.UNKNOWN_SESSION,
)


class _Timeline:
    """Records keyed by send time; equal times keep insertion order."""

    def __init__(self) -> None:
        self._items: list[tuple[datetime, int, Outgoing]] = []

    def add(self, at: datetime, record: Outgoing) -> None:
        self._items.append((at, len(self._items), record))

    def in_order(self) -> tuple[Outgoing, ...]:
        return tuple(record for _, _, record in sorted(self._items, key=lambda i: i[:2]))


def _sessions(
    plan: SimulationPlan,
    rng: random.Random,
    fleet: Fleet,
    timeline: _Timeline,
    restarts: list[ProducerRestart],
) -> list[EventEnvelope]:
    """Build the plan's sessions, at most ``concurrency`` running at once."""
    slots = [plan.start] * plan.concurrency
    every: list[EventEnvelope] = []
    for _ in range(plan.sessions):
        start = heapq.heappop(slots) + timedelta(milliseconds=rng.randint(0, 3_000))
        session_rng = random.Random(rng.getrandbits(64))
        built = build_session(session_rng, fleet, seeded_session_id(rng, start), start)
        events = built.events
        heapq.heappush(slots, events[-1].occurred_at)
        for event in events:
            timeline.add(event.occurred_at, Outgoing(event.session_id, event))
        every.extend(events)
        restarts.extend(built.producers.restarts)
    return every


def simulate(plan: SimulationPlan, encode: Encoder) -> Simulation:
    """Every record of ``plan`` in send order; ``encode`` builds the undecodable variants.

    With ``plan.end`` set, a first run measures where the latest event falls and a second
    one starts earlier (or later) by the difference, so the latest event occurs at ``end``.
    """
    if plan.end is None:
        return _simulate(plan, encode)
    end = plan.end.replace(microsecond=plan.end.microsecond // 1000 * 1000)
    probe = _simulate(dataclasses.replace(plan, end=None), encode)
    if not probe.records:
        return probe
    latest = max(record.occurred_at for record in probe.records)
    return _simulate(dataclasses.replace(plan, start=plan.start + (end - latest)), encode)


def _simulate(plan: SimulationPlan, encode: Encoder) -> Simulation:
    rng = random.Random(plan.seed)
    fleet = Fleet.draw(rng)
    timeline = _Timeline()
    restarts: list[ProducerRestart] = []
    valid = _sessions(plan, rng, fleet, timeline, restarts)
    injected: list[InjectedAnomaly] = []
    carriers = 0
    for kind in CARRIER_KINDS:
        for _ in range(plan.anomalies.get(kind, 0)):
            start = carrier_start(plan.start, carriers)
            records, truth = carrier_anomaly(kind, rng, fleet, start)
            carriers += 1
            for record in records:
                assert record.event is not None
                timeline.add(record.event.occurred_at, record)
            injected.append(truth)
    picks = _picks(rng, valid, plan)
    for event in picks[AnomalyKind.DUPLICATE_EVENT_ID]:
        record, truth = duplicate(event)
        timeline.add(event.occurred_at + timedelta(seconds=rng.randint(1, 60)), record)
        injected.append(truth)
    for index, event in enumerate(picks[AnomalyKind.UNDECODABLE]):
        record, truth = undecodable(rng, index, event, encode)
        timeline.add(event.occurred_at + timedelta(milliseconds=1), record)
        injected.append(truth)
    return Simulation(timeline.in_order(), plan.sessions, tuple(injected), tuple(restarts))


def _picks(
    rng: random.Random, valid: list[EventEnvelope], plan: SimulationPlan
) -> dict[AnomalyKind, list[EventEnvelope]]:
    """Events of the normal sessions to duplicate or to mangle into undecodable bytes."""
    picks: dict[AnomalyKind, list[EventEnvelope]] = {}
    for kind in (AnomalyKind.DUPLICATE_EVENT_ID, AnomalyKind.UNDECODABLE):
        wanted = plan.anomalies.get(kind, 0)
        if wanted and not valid:
            raise InvalidArgumentError(f"{kind.value} anomalies need a simulated session")
        picks[kind] = [rng.choice(valid) for _ in range(wanted)]
    return picks
