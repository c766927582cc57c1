"""Prove a rebuilt state version right: live state = rebuilt state = a pure fold of the source.

The rebuilt version's committed offsets are its *cut*. Three sets of states are compared,
each reduced to a digest over the sessions compared:

- **fold**: the pure fold of the source (the events topic from its beginning, or ClickHouse's
  audit) up to the cut, computed here;
- **rebuilt**: the version's changelog; it must equal the fold on every session;
- **live**: the live version's changelog, on the sessions it did not change after the cut
  (their state's ``last_offset`` is below the cut of their partition): those must equal the
  fold too. Sessions the live version moved past the cut are counted, not compared.

Nothing is written. Differences are returned per session with both values.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import AsyncIterator, Mapping
from dataclasses import dataclass, field
from types import TracebackType
from typing import Any

from sessionflow.core.settings import KafkaSettings
from sessionflow.processors.domain.deadletters import Record
from sessionflow.processors.domain.model import SessionState
from sessionflow.processors.domain.records import to_record
from sessionflow.processors.replay.changelog import changelog_topic, load_states
from sessionflow.processors.replay.group import committed_offsets
from sessionflow.processors.replay.pointintime import session_partition
from sessionflow.processors.replay.rebuild import fold_source
from sessionflow.processors.replay.sources import Source


@dataclass(frozen=True)
class Difference:
    """One session on which two of the compared sets disagree (None: absent there)."""

    session_id: str
    left: str
    left_value: dict[str, Any] | None
    right: str
    right_value: dict[str, Any] | None


@dataclass
class VerifyReport:
    """What was compared and what differed."""

    version: str
    live: str
    cut: dict[int, int]
    sessions: dict[str, int] = field(default_factory=dict)
    """Sessions compared per set (fold, rebuilt, live)."""
    live_moved_on: int = 0
    digests: dict[str, str] = field(default_factory=dict)
    differences: list[Difference] = field(default_factory=list)

    @property
    def equal(self) -> bool:
        """Every comparison agreed."""
        return not self.differences


class BoundedSource:
    """``source`` without the records at or after ``cut`` (per partition; one it does not
    name is cut at 0, i.e. not read)."""

    def __init__(self, source: Source, cut: Mapping[int, int]) -> None:
        self._source = source
        self._cut = dict(cut)
        self.total: int | None = None

    async def __aenter__(self) -> BoundedSource:
        await self._source.__aenter__()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self._source.__aexit__(kind, exc, tb)

    async def batches(self) -> AsyncIterator[list[Record]]:
        """The source's batches, records past the cut dropped."""
        async for batch in self._source.batches():
            kept = [r for r in batch if r.offset < self._cut.get(r.partition, 0)]
            if kept:
                yield kept

    def positions(self) -> dict[int, int]:
        """The cut (what this source covers at most)."""
        return dict(self._cut)


def state_digest(states: Mapping[str, SessionState]) -> str:
    """A digest of ``states`` (session id and every field), independent of order."""
    hashed = hashlib.sha256()
    for session_id in sorted(states):
        hashed.update(session_id.encode())
        hashed.update(_canonical(states[session_id]).encode())
    return hashed.hexdigest()[:16]


async def verify(
    kafka: KafkaSettings, app_id: str, version: str, live: str, source: Source, partitions: int
) -> VerifyReport:
    """Compare ``version`` (rebuilt), ``live`` and a fold of ``source`` up to the cut.

    ``source`` is read from its beginning; records at or after the cut are left out.
    """
    cut = await committed_offsets(kafka, f"{app_id}-{version}", kafka.topic)
    report = VerifyReport(version, live, cut)
    folded, _ = await fold_source(BoundedSource(source, cut))
    rebuilt = await load_states(kafka, changelog_topic(app_id, version))
    running = await load_states(kafka, changelog_topic(app_id, live))
    unchanged = {
        sid: state for sid, state in running.items()
        if state.last_offset < cut.get(session_partition(sid, partitions), 0)
    }  # fmt: skip
    report.live_moved_on = len(running) - len(unchanged)
    moved = set(running) - set(unchanged)
    fold_for_live = {sid: s for sid, s in folded.items() if sid not in moved}
    report.sessions = {
        "fold": len(folded),
        "rebuilt": len(rebuilt),
        "fold (live's sessions)": len(fold_for_live),
        "live": len(unchanged),
    }
    report.digests = {
        "fold": state_digest(folded),
        "rebuilt": state_digest(rebuilt),
        "fold (live's sessions)": state_digest(fold_for_live),
        "live": state_digest(unchanged),
    }
    report.differences = [
        *_differences("fold", folded, f"rebuilt {version}", rebuilt),
        *_differences("fold", fold_for_live, f"live {live}", unchanged),
    ]
    return report


def _differences(
    left: str, lefts: Mapping[str, SessionState], right: str, rights: Mapping[str, SessionState]
) -> list[Difference]:
    found = []
    for sid in sorted(set(lefts) | set(rights)):
        a, b = lefts.get(sid), rights.get(sid)
        if a is None or b is None or _canonical(a) != _canonical(b):
            found.append(Difference(sid, left, _view(a), right, _view(b)))
    return found


def _canonical(state: SessionState) -> str:
    return json.dumps(to_record(state), sort_keys=True, default=str)


def _view(state: SessionState | None) -> dict[str, Any] | None:
    return None if state is None else json.loads(_canonical(state))
