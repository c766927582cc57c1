"""Sequence numbers, assigned per (session, producer instance).

Every producer instance has its own id (:attr:`SequenceAllocator.producer_id`, carried in
each envelope it numbers). The ordering rule readers apply is scoped to
``(session_id, producer_id)``: the first event a producer instance sends for a session gets
sequence 1, each following one the previous + 1, in send order. So:

- **several producers** (services, replicas) may send for the same session: each numbers its
  own events in its own scope, and no two scopes can collide;
- **a restarted producer** is a new instance with a new id: its first event for a session
  that continues is 1 in a new scope, never a repeat of the old instance's numbers;
- a session's counter is **kept after** ``session.ended``: an event sent after the end still
  continues the scope instead of restarting at 1;
- a send that fails after its number was taken (delivery error or timeout) leaves a gap
  unless it is resent (``resend`` sends the same bytes, same number); a send rejected before
  that (validation) consumes no number.

Memory stays bounded: once ``max_sessions`` sessions are tracked, the next new session
**rotates** the producer id: every counter is dropped and every session starts again at 1
under the new id (a new scope, so no number is ever repeated within one).
"""

from __future__ import annotations

import secrets

from sessionflow.core.errors import ConfigurationError

FIRST_SEQUENCE = 1


def new_producer_id(source: str) -> str:
    """``<source>-<16 random hex>``: readable, and unique for every producer started."""
    return f"{source}-{secrets.token_hex(8)}"


class SequenceAllocator:
    """Next sequence per session under one producer id; rotates the id at ``max_sessions``.

    Not thread-safe: used from the producer's event loop only.
    """

    __slots__ = ("_limit", "_next", "_source", "producer_id", "rotations")

    def __init__(self, source: str, max_sessions: int = 100_000) -> None:
        if max_sessions < 1:
            raise ConfigurationError(f"max_sessions must be >= 1, got {max_sessions}")
        self._source = source
        self._limit = max_sessions
        self._next: dict[str, int] = {}
        self.producer_id: str = new_producer_id(source)
        """The id events numbered now carry; changes only by :meth:`rotate`."""
        self.rotations = 0
        """How many times the id was rotated (memory bound reached)."""

    def next_for(self, session_id: str) -> int:
        """The number the next event of ``session_id`` gets under :attr:`producer_id`.

        Not reserved until :meth:`commit`. For a session not tracked yet, when ``max_sessions``
        are, the id is rotated first (so read :attr:`producer_id` after this call).
        """
        number = self._next.get(session_id)
        if number is not None:
            return number
        if len(self._next) >= self._limit:
            self.rotate()
        return FIRST_SEQUENCE

    def commit(self, session_id: str, sequence: int) -> None:
        """Record that ``sequence`` was used; the next event gets ``sequence + 1``."""
        self._next[session_id] = sequence + 1

    def rotate(self) -> None:
        """A new producer id, with every session starting again at 1 under it."""
        self._next = {}
        self.producer_id = new_producer_id(self._source)
        self.rotations += 1

    def __len__(self) -> int:
        return len(self._next)
