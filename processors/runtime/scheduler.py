"""Deadlines of the watchers, kept so a tick costs what is due, not what is open.

Deadlines live in one-second buckets (a timing wheel over a heap of bucket numbers): a
deadline per (session, watcher, item) at most, moved when the session's state moves it.
:meth:`DeadlineScheduler.pop_due` hands out what is due and forgets it.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from dataclasses import dataclass

from sessionflow.processors.domain.model import SessionState
from sessionflow.processors.plugins.watchers import Watcher

_BUCKET_MS = 1_000


@dataclass(frozen=True, slots=True)
class Due:
    """One due deadline: which watcher, which session and item, due when."""

    watcher: Watcher
    session_id: str
    item: str
    due_ms: int


_Key = tuple[str, int, str]  # session id, watcher index, item


class DeadlineScheduler:
    """The watchers' pending deadlines for the sessions this worker owns."""

    def __init__(self, watchers: Sequence[Watcher]) -> None:
        self.watchers = tuple(watchers)
        self._due: dict[_Key, int] = {}
        self._buckets: dict[int, set[_Key]] = {}
        self._heap: list[int] = []
        self._fired: dict[str, dict[_Key, int]] = {}

    def __len__(self) -> int:
        return len(self._due)

    def schedule(self, state: SessionState) -> None:
        """(Re)compute the deadlines of ``state``: new ones added, moved ones moved.

        A deadline that already fired is not scheduled again while ``state`` still names it
        (its event may not have come back through the fold yet).
        """
        session_id = state.session_id
        fired = self._fired.get(session_id, {})
        current: dict[_Key, int] = {}
        for index, watcher in enumerate(self.watchers):
            for due_ms, item in watcher.deadlines(state):
                current[(session_id, index, item)] = due_ms
        for key, due_ms in current.items():
            if fired.get(key) != due_ms:
                self._put(key, due_ms)
        if fired:
            still = {k: v for k, v in fired.items() if current.get(k) == v}
            if still:
                self._fired[session_id] = still
            else:
                del self._fired[session_id]

    def pop_due(self, now_ms: int) -> list[Due]:
        """Every deadline at or before ``now_ms``, removed from the scheduler."""
        ready: list[Due] = []
        limit = now_ms // _BUCKET_MS
        while self._heap and self._heap[0] <= limit:
            bucket = self._heap[0]
            keys = self._buckets.get(bucket, set())
            due_now = [k for k in keys if self._due[k] <= now_ms]
            for key in due_now:
                keys.discard(key)
                session_id, index, item = key
                due_ms = self._due.pop(key)
                self._fired.setdefault(session_id, {})[key] = due_ms
                ready.append(Due(self.watchers[index], session_id, item, due_ms))
            if keys:
                break  # the rest of this bucket is later within the second
            heapq.heappop(self._heap)
            self._buckets.pop(bucket, None)
        return ready

    def defer(self, due: Due) -> None:
        """Put back a deadline :meth:`pop_due` handed out that could not be acted on yet."""
        index = self.watchers.index(due.watcher)
        key = (due.session_id, index, due.item)
        fired = self._fired.get(due.session_id, {})
        fired.pop(key, None)
        self._put(key, due.due_ms)

    def forget_sessions(self, keep: Callable[[str], bool]) -> None:
        """Drop every deadline whose session ``keep(session_id)`` rejects (revoked ones)."""
        for key in [k for k in self._due if not keep(k[0])]:
            self._remove(key)
        for session_id in [s for s in self._fired if not keep(s)]:
            del self._fired[session_id]

    def clear(self) -> None:
        """Drop every deadline."""
        self._due.clear()
        self._buckets.clear()
        self._heap.clear()
        self._fired.clear()

    def _put(self, key: _Key, due_ms: int) -> None:
        if self._due.get(key) == due_ms:
            return
        self._remove(key)
        self._due[key] = due_ms
        bucket = due_ms // _BUCKET_MS
        keys = self._buckets.get(bucket)
        if keys is None:
            keys = self._buckets[bucket] = set()
            heapq.heappush(self._heap, bucket)
        keys.add(key)

    def _remove(self, key: _Key) -> None:
        previous = self._due.pop(key, None)
        if previous is not None:
            self._buckets.get(previous // _BUCKET_MS, set()).discard(key)
