"""The session table seen as a :class:`StateStore`: Avro bytes in faust, objects in a cache.

The faust table holds each state as the state contract's Avro bytes (the changelog carries
exactly what the sink and replay read); decoded states are cached, bounded, so a batch
decodes only the sessions it did not touch lately. The cache is cleared on every rebalance:
a session may have moved on at another worker meanwhile.
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterator, Mapping, MutableMapping

from sessionflow.processors.domain.model import SessionState
from sessionflow.processors.domain.records import from_record, to_record
from sessionflow.schemas.fastwrite import ENCODE_ERRORS
from sessionflow.schemas.state_codec import StateCodec


class CachedStateStore:
    """States in ``table`` (session id bytes -> state bytes), decoded through an LRU cache."""

    def __init__(
        self, table: MutableMapping[bytes, bytes], codec: StateCodec, cache_size: int = 50_000
    ) -> None:
        self._table = table
        self._codec = codec
        self._cache: OrderedDict[str, SessionState] = OrderedDict()
        self._cache_size = cache_size

    def get(self, session_id: str, /) -> SessionState | None:
        """The stored state of ``session_id``, or None."""
        state = self._cache.get(session_id)
        if state is not None:
            self._cache.move_to_end(session_id)
            return state
        raw = self._table.get(session_id.encode())
        if raw is None:
            return None
        state = from_record(self._codec.decode(raw))
        self._remember(session_id, state)
        return state

    async def put(
        self, states: Mapping[str, SessionState], partitions: Mapping[str, int] | None = None
    ) -> None:
        """Store ``states`` in the table (``partitions`` is not needed here)."""
        for session_id, state in states.items():
            self._table[session_id.encode()] = self.encode(state)
            self._remember(session_id, state)

    def encode(self, state: SessionState) -> bytes:
        """The state contract's bytes of ``state`` (generated encoder, fastavro as fallback)."""
        try:
            return self._codec.encode_object(state)
        except ENCODE_ERRORS:
            return self._codec.encode(to_record(state))

    def remember(self, session_id: str, state: SessionState) -> None:
        """Cache ``state`` as the current one of ``session_id``."""
        self._remember(session_id, state)

    def clear_cache(self) -> None:
        """Forget every decoded state (after a rebalance)."""
        self._cache.clear()

    def items(self) -> Iterator[tuple[str, SessionState]]:
        """Every stored state (of the partitions this worker holds), decoded."""
        for key, raw in list(self._table.items()):
            if raw is not None:
                yield key.decode(), from_record(self._codec.decode(raw))

    def _remember(self, session_id: str, state: SessionState) -> None:
        self._cache[session_id] = state
        self._cache.move_to_end(session_id)
        while len(self._cache) > self._cache_size:
            self._cache.popitem(last=False)
