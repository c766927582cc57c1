"""One batch, end to end, independent of the stream framework that delivers it.

:class:`BatchProcessor.process` folds a batch with the pure core, runs the plugins on what
was applied, writes dead letters and plugin events and waits for their acknowledgement,
then hands the changed states to the store. The order is what makes a crash harmless: the
outputs of a batch are durable before its states are stored, and the states before its
offsets are committed (the caller's job), so a redelivered batch finds either nothing done
(and redoes it identically: same dead-letter marks, same plugin event ids) or its states
stored (and is skipped record by record).

:meth:`BatchProcessor.tick` fires the watchers' due deadlines.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Protocol

from sessionflow.processors.domain.deadletters import DeadLetter, Record
from sessionflow.processors.domain.fold import Decoder, fold
from sessionflow.processors.domain.model import SessionState, SessionStatus
from sessionflow.processors.domain.windows import GlobalStats
from sessionflow.processors.plugins.registry import PluginRegistry
from sessionflow.processors.plugins.runner import (
    Emission,
    PluginOutcome,
    run_plugins,
    timer_emission,
)
from sessionflow.processors.runtime.scheduler import DeadlineScheduler


class StateStore(Protocol):
    """The table the states live in (faust's, or a dict in tests and replay)."""

    def get(self, session_id: str, /) -> SessionState | None: ...

    async def put(self, states: Mapping[str, SessionState], partitions: Mapping[str, int]) -> None:
        """Store ``states`` (``partitions``: each one's source partition); return once they
        are durable (written to the changelog)."""
        ...


class Outputs(Protocol):
    """Where dead letters and plugin events go; both wait for acknowledgement."""

    async def dead_letters(self, letters: Sequence[DeadLetter]) -> int: ...

    async def events(self, emissions: Sequence[Emission]) -> None: ...


@dataclass(frozen=True, slots=True)
class BatchReport:
    """What one batch did."""

    records: int
    applied: int
    skipped: int
    dead_letters: int
    dead_letters_written: int
    emitted: int
    plugins: PluginOutcome


@dataclass(slots=True)
class Gauges:
    """How many sessions this worker holds, how many are ACTIVE, approvals waiting."""

    sessions: int = 0
    active: int = 0
    pending_approvals: int = 0

    def count(self, state: SessionState, sign: int = 1) -> None:
        """Add (``sign=1``) or remove (``sign=-1``) one state's contribution."""
        self.sessions += sign
        self.active += sign * (state.status is SessionStatus.ACTIVE)
        self.pending_approvals += sign * state.pending_approvals()

    def reset(self) -> None:
        """Back to zero (before a recount)."""
        self.sessions = self.active = self.pending_approvals = 0


@dataclass(slots=True)
class PluginTotals:
    """Plugin calls, failures and seconds spent, per plugin, since the start."""

    calls: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=dict)

    def add(self, outcome: PluginOutcome) -> None:
        """Add one batch's plugin figures."""
        self.calls.update(outcome.calls)
        self.failures.update(outcome.failures)
        for name, seconds in outcome.seconds.items():
            self.seconds[name] = self.seconds.get(name, 0.0) + seconds


@dataclass(frozen=True, slots=True)
class PluginLimits:
    """How plugins are bounded."""

    timeout_s: float
    max_depth: int


class BatchProcessor:
    """Folds batches, runs plugins and timers, writes outputs; one per worker."""

    def __init__(
        self,
        codec: Decoder,
        registry: PluginRegistry,
        outputs: Outputs,
        scheduler: DeadlineScheduler,
        stats: GlobalStats,
        limits: PluginLimits,
    ) -> None:
        self._codec = codec
        self._registry = registry
        self._outputs = outputs
        self.scheduler = scheduler
        self.stats = stats
        self._limits = limits
        self.gauges = Gauges()
        self.plugins = PluginTotals()

    async def process(self, records: Sequence[Record], store: StateStore) -> BatchReport:
        """Fold ``records`` (one partition's order kept) against ``store``; see the module."""
        result = fold(store, records, self._codec)
        outcome = await run_plugins(
            self._registry, result.applied, result.states,
            timeout_s=self._limits.timeout_s, max_depth=self._limits.max_depth,
        )  # fmt: skip
        letters = [*result.dead_letters, *outcome.dead_letters]
        written = await self._outputs.dead_letters(letters)
        await self._outputs.events(outcome.emissions)
        for session_id, state in result.states.items():
            previous = store.get(session_id)
            if previous is not None:
                self.gauges.count(previous, -1)
            self.gauges.count(state)
            self.scheduler.schedule(state)
        await store.put(result.states, result.partitions)
        self.stats.add_events(event for _, event in result.applied)
        for name, value in result.latencies:
            self.stats.observe(name, value)
        self.stats.add_dead_letters(letter.reason.value for letter in letters)
        self.plugins.add(outcome)
        return BatchReport(
            len(records), len(result.applied), result.skipped, len(letters), written,
            len(outcome.emissions), outcome,
        )  # fmt: skip

    def recount(self, states: Iterable[SessionState]) -> None:
        """Rebuild gauges and deadlines from every state held (after a rebalance)."""
        self.gauges.reset()
        self.scheduler.clear()
        for state in states:
            self.gauges.count(state)
            self.scheduler.schedule(state)

    async def tick(
        self, now_ms: int, store: StateStore, ready: Callable[[str], bool] = lambda _: True
    ) -> int:
        """Fire every deadline due at ``now_ms``; the number of events emitted.

        A deadline of a session for which ``ready`` is false (its partition is not folded up
        to its end: later events may already wait there) is put back for the next tick.
        """
        emissions = []
        for due in self.scheduler.pop_due(now_ms):
            if not ready(due.session_id):
                self.scheduler.defer(due)
                continue
            state = store.get(due.session_id)
            if state is None:
                continue
            fired = due.watcher.fire(state, due.item, due.due_ms)
            if fired is not None:
                payload, cause = fired
                emissions.append(
                    timer_emission(due.watcher.name, payload, due.session_id, cause, due.due_ms)
                )
        if emissions:
            await self._outputs.events(emissions)
        return len(emissions)
