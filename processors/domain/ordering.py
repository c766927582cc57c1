"""Per-producer ordering: sequence gaps, repeats and duplicate deliveries.

The ordering scope of an event is (session, producer instance): ``producer_id`` when the
event carries one (schema v3+), else its ``source`` (older events). In a scope the first
event has sequence 1 and each next one the previous + 1. Against a scope an event is:

- ``IN_ORDER``: sequence = last + 1;
- ``GAP``: sequence > last + 1 (events are missing before it);
- ``DUPLICATE``: sequence <= last and the same event_id was applied at that sequence
  (a delivery of the same event again);
- ``REPEAT``: sequence <= last with another event_id (or one too old to tell: only the last
  :data:`HASH_WINDOW` sequences of a scope keep their event_id digest).

Both IN_ORDER and GAP advance the scope, so one lost event yields one gap, not a gap for
every later event of the producer.
"""

from __future__ import annotations

from enum import Enum
from hashlib import blake2b

from sessionflow.processors.domain.model import Scope

HASH_WINDOW = 4096
"""Sequences per scope whose event_id digest is kept to recognise duplicate deliveries."""

_DIGEST = 8
_NO_EVENT = bytes(_DIGEST)


class Order(Enum):
    """Where an event stands against its scope."""

    IN_ORDER = "in_order"
    GAP = "gap"
    DUPLICATE = "duplicate"
    REPEAT = "repeat"


def scope_key(producer_id: str | None, source: str) -> str:
    """The scope an event is numbered in: its producer instance, else its source."""
    return f"p:{producer_id}" if producer_id else f"s:{source}"


def digest(event_id: str) -> bytes:
    """8-byte digest of an event_id (collisions within a scope: ~2^-64 per pair)."""
    return blake2b(event_id.encode(), digest_size=_DIGEST).digest()


def classify(scope: Scope | None, sequence: int, event_digest: bytes) -> Order:
    """Where an event with ``sequence`` and ``event_digest`` stands against ``scope``."""
    last = scope.last_sequence if scope is not None else 0
    if sequence == last + 1:
        return Order.IN_ORDER
    if sequence > last + 1:
        return Order.GAP
    if scope is not None and _digest_at(scope, sequence) == event_digest:
        return Order.DUPLICATE
    return Order.REPEAT


def advance(scope: Scope, sequence: int, event_digest: bytes) -> None:
    """Record ``sequence`` (>= last + 1) as the scope's newest, with its event digest."""
    missing = sequence - scope.last_sequence - 1
    hashes = scope.event_hashes
    if missing >= HASH_WINDOW:
        hashes.clear()
    elif missing:
        hashes.extend(_NO_EVENT * missing)
    hashes.extend(event_digest)
    excess = len(hashes) - HASH_WINDOW * _DIGEST
    if excess > 0:
        del hashes[:excess]
    scope.last_sequence = sequence


def _digest_at(scope: Scope, sequence: int) -> bytes | None:
    """The digest stored for ``sequence`` (<= last), or None when it left the window."""
    back = scope.last_sequence - sequence  # 0 for the newest
    end = len(scope.event_hashes) - back * _DIGEST
    start = end - _DIGEST
    if start < 0:
        return None
    return bytes(scope.event_hashes[start:end])
