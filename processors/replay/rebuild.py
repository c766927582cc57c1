"""The rebuild: fold a source into a state version's changelog and consumer group offsets.

Per batch: fold it with the pure core against the states held in memory, write each changed
state once to the target's changelog (to its session's source partition), and once those
writes are acknowledged commit the source's positions after the batch as the target group's
offsets (the next batch is folded while the broker acknowledges). So what is committed is
always backed by the changelog: after a crash, the states come back from
the changelog (:func:`~.changelog.load_states`) and the source resumes at the committed
offsets; a record folded again is skipped by the fold (its offset is at or below its
session's ``last_offset``), so nothing is applied twice.

The rebuild writes no dead letters and runs no plugins: the live version did, and their
outputs are in their topics. Dead letters are counted by reason for the report.

:func:`catch_up` is the promote's step: fold a version from its committed offsets up to given
offsets.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Awaitable, Callable, Collection, Mapping
from contextlib import AsyncExitStack
from dataclasses import dataclass, field
from typing import Any

from sessionflow.core.settings import KafkaSettings
from sessionflow.core.topic_reader import partitions_of
from sessionflow.processors.domain.fold import Decoder, fold
from sessionflow.processors.domain.model import SessionState
from sessionflow.processors.replay.changelog import (
    ChangelogWriter,
    changelog_topic,
    ensure_changelog,
    load_states,
)
from sessionflow.processors.replay.group import GroupCommitter, committed_offsets
from sessionflow.processors.replay.sources import Source, TopicSource
from sessionflow.processors.settings import ProcessorSettings
from sessionflow.schemas.codec import EventCodec


@dataclass(frozen=True)
class Target:
    """The state version a rebuild writes: its changelog topic and consumer group."""

    app_id: str
    version: str

    @property
    def group(self) -> str:
        """The consumer group of the version's workers (faust's app id)."""
        return f"{self.app_id}-{self.version}"

    @property
    def changelog(self) -> str:
        """The version's changelog topic."""
        return changelog_topic(self.app_id, self.version)


@dataclass
class RebuildReport:
    """What a rebuild did; ``positions`` are the offsets committed last."""

    version: str
    events: int = 0
    applied: int = 0
    skipped: int = 0
    states_written: int = 0
    sessions: int = 0
    dead_letters: Counter[str] = field(default_factory=Counter)
    positions: dict[int, int] = field(default_factory=dict)
    seconds: float = 0.0
    interrupted: bool = False

    @property
    def rate(self) -> float:
        """Events folded per second."""
        return self.events / self.seconds if self.seconds > 0 else 0.0


class Rebuild:
    """One run of a source into a target version (``states``: what the target holds now).

    ``commit=False`` writes the changelog but commits no offsets (a partial rebuild, e.g. of
    one session, that no worker may continue from). ``stop`` set: the run ends after the
    current batch, everything it wrote committed. ``on_batch`` gets each batch's size.
    """

    def __init__(
        self,
        kafka: KafkaSettings,
        target: Target,
        source: Source,
        states: dict[str, SessionState],
        *,
        commit: bool = True,
        stop: asyncio.Event | None = None,
        on_batch: Callable[[int], None] | None = None,
        codec: Decoder | None = None,
    ) -> None:
        self._kafka = kafka
        self._target = target
        self._source = source
        self.states = states
        self._commit = commit
        self._stop = stop or asyncio.Event()
        self._on_batch = on_batch or (lambda _: None)
        self._codec = codec or EventCodec()

    async def run(self) -> RebuildReport:
        """Fold the whole source (or until ``stop``); see the module for the order of writes."""
        report = RebuildReport(self._target.version)
        began = time.monotonic()
        async with AsyncExitStack() as stack:
            source = await stack.enter_async_context(self._source)  # bad start: nothing created
            await ensure_changelog(self._kafka, self._target.changelog)
            partitions = await partitions_of(self._kafka, self._kafka.topic)
            writer = await stack.enter_async_context(
                ChangelogWriter(self._kafka, self._target.changelog)
            )
            group = await stack.enter_async_context(
                GroupCommitter(self._kafka, self._target.group, self._kafka.topic, partitions)
            )
            await self._checkpoint(group, report, source.positions())
            unacked: tuple[dict[int, int], Awaitable[Any]] | None = None
            async for batch in source.batches():
                result = fold(self.states, batch, self._codec)
                self.states.update(result.states)
                acks = await writer.send(result.states, result.partitions)
                if unacked is not None:  # the previous batch's writes, acked while this folded
                    await self._checkpoint(group, report, *unacked)
                unacked = (source.positions(), acks)
                report.events += len(batch)
                report.applied += len(result.applied)
                report.skipped += result.skipped
                report.states_written += len(result.states)
                report.dead_letters.update(d.reason.value for d in result.dead_letters)
                self._on_batch(len(batch))
                if self._stop.is_set():
                    report.interrupted = True
                    break
            if unacked is not None:
                await self._checkpoint(group, report, *unacked)
            if not report.interrupted:
                await self._checkpoint(group, report, source.positions())
        report.sessions = len(self.states)
        report.seconds = time.monotonic() - began
        return report

    async def _checkpoint(
        self,
        group: GroupCommitter,
        report: RebuildReport,
        positions: dict[int, int],
        acks: Awaitable[Any] | None = None,
    ) -> None:
        """Commit ``positions`` once ``acks`` (the writes of what they cover) completed."""
        if acks is not None:
            await acks
        if positions == report.positions:
            return  # committed already (the end of a run after its last batch)
        report.positions = positions
        if self._commit:
            await group.commit(positions)


async def fold_source(
    source: Source, states: dict[str, SessionState] | None = None, codec: Decoder | None = None
) -> tuple[dict[str, SessionState], Counter[str]]:
    """Fold all of ``source`` in memory, writing nothing: the states, dead letters by reason.

    ``states`` (changed in place) is where to start from; for point-in-time state and
    comparisons (a topic source with ``to_time_ms``, a ClickHouse source of one session).
    """
    held = {} if states is None else states
    dead: Counter[str] = Counter()
    decoder = codec or EventCodec()
    async with source as opened:
        async for batch in opened.batches():
            result = fold(held, batch, decoder)
            held.update(result.states)
            dead.update(d.reason.value for d in result.dead_letters)
    return held, dead


async def resume_point(
    kafka: KafkaSettings, target: Target, partitions: Collection[int] | None = None
) -> tuple[dict[str, SessionState], dict[int, int]]:
    """What ``target`` holds: its states (from its changelog) and its committed offsets.

    ``partitions``: only what it holds of these partitions.
    """
    states = await load_states(kafka, target.changelog, partitions=partitions)
    committed = await committed_offsets(kafka, target.group, kafka.topic)
    if partitions is not None:
        committed = {p: o for p, o in committed.items() if p in partitions}
    return states, committed


async def catch_up(
    kafka: KafkaSettings, settings: ProcessorSettings, version: str, until: Mapping[int, int]
) -> int:
    """Fold ``kafka.topic`` into ``version`` from its committed offsets up to ``until``.

    ``until``: per partition, the offset to stop before (a partition it does not name, or
    names at or below the committed offset, is not moved). Loads the version's states from
    its changelog, writes the changed states, commits ``until``; returns the events folded.
    No worker of ``version`` may run meanwhile (the broker refuses the commit then).
    """
    target = Target(settings.app_id, version)
    states, starts = await resume_point(kafka, target)
    bounded = {p: until.get(p, -1) for p in await partitions_of(kafka, kafka.topic)}
    source = TopicSource(kafka, starts, until=bounded, batch_size=settings.batch_size)
    report = await Rebuild(kafka, target, source, states).run()
    return report.events
