"""Rule-breaking records in known quantities, each isolated so it breaks exactly one rule.

Every anomaly except duplicates and undecodable bytes rides on a short carrier session of
its own (created, activated, a stream from a second producer, maybe ended) and is that
session's last record, so it breaks one rule and cannot make a later event look wrong too.
Sequence anomalies are defined within one ordering scope (session_id, producer_id): the
carrier's chat-api scope or its llm-gateway scope. A duplicate re-sends an earlier valid
event unchanged (same event_id, same timestamp): it must collapse, not be dead-lettered.
"""

from __future__ import annotations

import random
import struct
from collections.abc import Callable
from datetime import datetime, timedelta

from sessionflow.producers.errors import InvalidArgumentError
from sessionflow.producers.simulator.fleet import CHAT, LLM, Fleet
from sessionflow.producers.simulator.ids import seeded_session_id, short_id
from sessionflow.producers.simulator.plan import AnomalyKind, InjectedAnomaly, Outgoing
from sessionflow.producers.simulator.scenario import SessionBuilder, create, end, new_builder
from sessionflow.schemas import models as m
from sessionflow.schemas.enums import ApprovalMode, EventType, MessageRole, SessionOutcome

Encoder = Callable[[m.EventEnvelope], bytes]


def _carrier(rng: random.Random, fleet: Fleet, start: datetime, ended: bool) -> SessionBuilder:
    b = new_builder(rng, fleet, seeded_session_id(rng, start), start)
    create(b, ApprovalMode.AUTO)
    b.emit(EventType.SESSION_ACTIVATED, m.SessionActivated(reason="carrier"))
    stream = m.StreamStarted(stream_id=short_id(rng, "str"))
    b.emit(EventType.STREAM_STARTED, stream)
    b.emit(EventType.STREAM_ENDED, m.StreamEnded(stream_id=stream.stream_id, finish_reason="stop",
                                                 chunk_count=0, duration_ms=20))  # fmt: skip
    if ended:
        end(b, SessionOutcome.COMPLETED, "carrier done")
    return b


def _next_in(b: SessionBuilder, service: str, sequence: int) -> m.EventEnvelope:
    """An event ``service`` would send, numbered ``sequence`` in its scope."""
    rng = b.rng
    if service == LLM:
        payload: m.ContractModel = m.StreamStarted(stream_id=short_id(rng, "str"))
        return b.emit(EventType.STREAM_STARTED, payload, sequence=sequence)
    payload = m.MessageCreated(message_id=short_id(rng, "msg"), role=MessageRole.USER, content="hi")
    return b.emit(EventType.MESSAGE_CREATED, payload, sequence=sequence)


def _valid(events: list[m.EventEnvelope]) -> list[Outgoing]:
    return [Outgoing(e.session_id, e) for e in events]


def carrier_anomaly(
    kind: AnomalyKind, rng: random.Random, fleet: Fleet, start: datetime
) -> tuple[list[Outgoing], InjectedAnomaly]:
    """A carrier session's valid records plus one record breaking the ``kind`` rule."""
    b = _carrier(rng, fleet, start, ended=kind is AnomalyKind.ILLEGAL_TRANSITION)
    valid = list(b.events)
    service = rng.choice((CHAT, LLM))  # the scope a sequence anomaly breaks
    last = b.last_sequence(service)
    if kind is AnomalyKind.ILLEGAL_TRANSITION:
        bad = b.emit(EventType.SESSION_ACTIVATED, m.SessionActivated(reason="after end"))
        detail = "session.activated on an ENDED session"
    elif kind is AnomalyKind.SEQUENCE_GAP:
        bad = _next_in(b, service, last + 2)
        detail = f"{service} sequence {last + 2} after {last} (gap of one)"
    elif kind is AnomalyKind.SEQUENCE_REPEAT:
        bad = _next_in(b, service, last)
        detail = f"{service} sequence {last} repeated with a new event_id"
    elif kind is AnomalyKind.UNKNOWN_SESSION:
        valid = []
        b.events.clear()
        bad = _next_in(b, CHAT, 1)
        detail = "message.created for a session never created"
    else:
        raise InvalidArgumentError(f"{kind} is not a carrier anomaly")
    records = [*_valid(valid), Outgoing(bad.session_id, bad, anomaly=kind)]
    truth = InjectedAnomaly(kind, bad.session_id, bad.event_id, detail, bad.producer_id)
    return records, truth


def undecodable(
    rng: random.Random, index: int, event: m.EventEnvelope, encode: Encoder
) -> tuple[Outgoing, InjectedAnomaly]:
    """Bytes that are no event: junk, an unknown schema fingerprint, or a truncated body."""
    flavour = index % 3
    if flavour == 0:
        raw, detail = b'{"not": "avro"}' + rng.randbytes(8), "JSON-ish junk, no Avro marker"
    elif flavour == 1:
        body = encode(event)[10:]
        raw, detail = (
            b"\xc3\x01" + struct.pack("<Q", rng.getrandbits(64)) + body,
            "unknown fingerprint",
        )
    else:
        encoded = encode(event)
        raw, detail = encoded[: max(11, len(encoded) // 2)], "valid event truncated mid-body"
    record = Outgoing(
        event.session_id, raw=raw, anomaly=AnomalyKind.UNDECODABLE, stands_for=event.occurred_at
    )
    return record, InjectedAnomaly(AnomalyKind.UNDECODABLE, event.session_id, None, detail)


def duplicate(event: m.EventEnvelope) -> tuple[Outgoing, InjectedAnomaly]:
    """The same event again, byte for byte: one event delivered twice."""
    record = Outgoing(event.session_id, event, anomaly=AnomalyKind.DUPLICATE_EVENT_ID)
    detail = f"{event.event_type.value} seq {event.sequence} sent twice"
    return record, InjectedAnomaly(
        AnomalyKind.DUPLICATE_EVENT_ID, event.session_id, event.event_id, detail, event.producer_id
    )


def carrier_start(start: datetime, index: int) -> datetime:
    """Start time of the ``index``-th carrier session (spread one second apart)."""
    return start + timedelta(seconds=index)
