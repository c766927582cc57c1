"""Per-session sequence numbers, assigned by the producer.

Contract: the first event a producer sends for a session gets sequence 1 (or the seeded
value), each following one the previous + 1, in send order. The numbers live in the
producer's memory only, so:

- **across producer restarts** a session that continues must be seeded with
  :meth:`SequenceAllocator.seed` (e.g. from the processors' "last sequence seen" + 1);
  unseeded, it starts again at 1 and processors will dead-letter the repeats;
- **two producers** must never send for the same session (sessions are owned by one service
  instance at a time, like the Kafka key they are);
- a send that fails after its number was taken (delivery error or timeout) leaves a gap the
  processors will report; a send rejected before that (validation) consumes no number;
- a session's counter is dropped when ``session.ended`` is sent (or by :meth:`forget`), so
  memory stays bounded by the number of open sessions.
"""

from __future__ import annotations

from sessionflow.producers.errors import InvalidArgumentError

FIRST_SEQUENCE = 1


class SequenceAllocator:
    """Next sequence per session; not thread-safe (used from the producer's event loop only)."""

    __slots__ = ("_next",)

    def __init__(self) -> None:
        self._next: dict[str, int] = {}

    def peek(self, session_id: str) -> int:
        """The number the next event of ``session_id`` will get (not reserved)."""
        return self._next.get(session_id, FIRST_SEQUENCE)

    def commit(self, session_id: str, sequence: int) -> None:
        """Record that ``sequence`` was used; the next event gets ``sequence + 1``."""
        self._next[session_id] = sequence + 1

    def seed(self, session_id: str, next_sequence: int) -> None:
        """Continue ``session_id`` at ``next_sequence`` (after a restart, a hand-over ...)."""
        if next_sequence < 0:
            raise InvalidArgumentError(f"next_sequence must be >= 0, got {next_sequence}")
        self._next[session_id] = next_sequence

    def forget(self, session_id: str) -> None:
        """Drop the counter (the session ended); a later event would start again at 1."""
        self._next.pop(session_id, None)

    def __len__(self) -> int:
        return len(self._next)
