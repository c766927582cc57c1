"""The fold: a batch of records and the states they touch in, new states and dead letters out.

:func:`fold` is the one function the live processors, replay and the tests share. It is pure:
no I/O, no clock, no randomness; the states passed in are never changed (a state the batch
touches is cloned once and the clone is returned).

Per record, in order:

1. undecodable bytes -> dead letter ``undecodable``;
2. a record key that is not the event's session id (or no key) -> ``key_mismatch``;
3. a record at or below the session's ``last_offset`` was folded before (a redelivery after a
   crash or rebalance) -> skipped, counted in :attr:`FoldResult.skipped`;
4. no state and not ``session.created`` -> ``unknown_session``;
5. ordering in the event's producer scope (:mod:`.ordering`): a duplicate delivery ->
   ``duplicate_event_id`` (applied once, never twice), a repeat -> ``sequence_repeat``, a gap
   -> ``sequence_gap``;
6. the transition (:mod:`.transitions`): illegal -> ``illegal_transition``, else applied.

Every record of an existing session moves its ``last_offset``, dead-lettered or not, so a
redelivered batch is recognised whatever its records' fate was.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any, Protocol

from sessionflow.processors.domain.deadletters import DeadLetter, Reason, Record
from sessionflow.processors.domain.model import Scope, SessionState
from sessionflow.processors.domain.ordering import Order, advance, classify, digest, scope_key
from sessionflow.processors.domain.transitions import apply, start_session
from sessionflow.schemas.errors import DecodeError

_CREATED = "session.created"


class StateLookup(Protocol):
    """Where the fold finds the current state of a session (a dict, a table, a cache)."""

    def get(self, session_id: str, /) -> SessionState | None: ...


class Decoder(Protocol):
    """What the fold needs of a codec: bytes -> plain event dict (raises DecodeError)."""

    def decode(self, data: bytes) -> dict[str, Any]: ...


@dataclass(slots=True)
class FoldResult:
    """What a batch did: the states it changed, its dead letters, the events it applied.

    ``states`` maps session id -> new state, for the sessions the batch changed only, and
    ``partitions`` each of them to the partition its records came from;
    ``applied`` lists (record, event) in record order, for plugins and windowed statistics;
    ``latencies`` the (name, ms) latencies that took state to measure (time to first chunk,
    approval wait), for the windowed statistics.
    """

    states: dict[str, SessionState] = field(default_factory=dict)
    partitions: dict[str, int] = field(default_factory=dict)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    applied: list[tuple[Record, dict[str, Any]]] = field(default_factory=list)
    latencies: list[tuple[str, int]] = field(default_factory=list)
    skipped: int = 0


def fold(states: StateLookup, records: Iterable[Record], codec: Decoder) -> FoldResult:
    """Fold ``records`` (in partition order) into the ``states`` they touch."""
    result = FoldResult()
    changed = result.states
    for record in records:
        try:
            event = codec.decode(record.value)
        except DecodeError as exc:
            result.dead_letters.append(
                DeadLetter(record, Reason.UNDECODABLE, str(exc), error_class=type(exc).__name__)
            )
            continue
        session_id = event["session_id"]
        if record.key != session_id.encode():
            _dead(result, record, event, Reason.KEY_MISMATCH, f"key {record.key!r}")
            continue
        state = changed.get(session_id)
        if state is None:
            original = states.get(session_id)
            if original is not None and record.offset <= original.last_offset:
                result.skipped += 1
                continue
            state = original.clone() if original is not None else None
        elif record.offset <= state.last_offset:
            result.skipped += 1
            continue
        new_state = _fold_one(result, state, record, event)
        if new_state is not None:
            changed[session_id] = new_state
            result.partitions[session_id] = record.partition
    return result


def _fold_one(
    result: FoldResult, state: SessionState | None, record: Record, event: dict[str, Any]
) -> SessionState | None:
    """Fold one decoded event into ``state`` (a private copy); the state to keep, if any.

    A session.created that is not applied (a gap, an illegal repeat ...) starts no session.
    """
    if state is None:
        if event["event_type"] != _CREATED:
            _dead(result, record, event, Reason.UNKNOWN_SESSION, "no session.created before it")
            return None
        created = start_session(event)
        created.last_offset = record.offset
        return created if _fold_known(result, created, record, event) else None
    state.last_offset = record.offset
    _fold_known(result, state, record, event)
    return state


def _fold_known(
    result: FoldResult, state: SessionState, record: Record, event: dict[str, Any]
) -> bool:
    """Check ordering and apply ``event`` to ``state``; True when it was applied."""
    key = scope_key(event.get("producer_id"), event["source"])
    scope = state.scopes.get(key)
    sequence, event_digest = event["sequence"], digest(event["event_id"])
    order = classify(scope, sequence, event_digest)
    if order is Order.DUPLICATE:
        state.stats.duplicates += 1
        _dead(result, record, event, Reason.DUPLICATE_EVENT_ID, f"sequence {sequence} again")
        return False
    if order is Order.REPEAT:
        last = scope.last_sequence if scope else 0
        _dead(result, record, event, Reason.SEQUENCE_REPEAT, f"sequence {sequence} after {last}")
        return False
    if scope is None:
        scope = state.scopes[key] = Scope()
    last = scope.last_sequence
    advance(scope, sequence, event_digest)
    if order is Order.GAP:
        detail = f"sequence {sequence} after {last}: {sequence - last - 1} missing"
        _dead(result, record, event, Reason.SEQUENCE_GAP, detail)
        return False
    if event["event_type"] == _CREATED:
        illegal: str | None = "session.created for an existing session" if state.version else None
    else:
        illegal = apply(state, event)
    if illegal is not None:
        _dead(result, record, event, Reason.ILLEGAL_TRANSITION, illegal)
        return False
    state.version += 1
    state.last_event_id = event["event_id"]
    state.updated_at = event["occurred_at"]
    state.stats.events += 1
    result.applied.append((record, event))
    _measure(result, state, event)
    return True


def _measure(result: FoldResult, state: SessionState, event: dict[str, Any]) -> None:
    kind, payload = event["event_type"], event["payload"]
    if kind == "stream.chunk" and payload["chunk_index"] == 0:
        stream = state.streams[payload["stream_id"]]
        result.latencies.append(("first_chunk_ms", event["occurred_at"] - stream.started_at))
    elif kind in ("tool_call.approved", "tool_call.rejected"):
        call = state.tool_calls[payload["tool_call_id"]]
        result.latencies.append(("approval_wait_ms", event["occurred_at"] - call.requested_at))


def _dead(
    result: FoldResult, record: Record, event: dict[str, Any], reason: Reason, detail: str
) -> None:
    result.dead_letters.append(
        DeadLetter(
            record, reason, f"{event['event_type']}: {detail}",
            session_id=event["session_id"], event_id=event["event_id"],
            event_type=event["event_type"],
        )
    )  # fmt: skip
