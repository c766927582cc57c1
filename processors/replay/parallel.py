"""A rebuild shared among processes, each folding its share of the partitions.

A session's events are all in one partition (the key decides it), so folding the partitions
apart gives the states that folding them together gives. Each job is a :class:`Rebuild` of
its share in a process of its own (spawned: no state copied from the parent): it loads its
partitions' states from the target's changelog when resuming, writes its changed states to
its partitions of the changelog and commits its partitions' offsets once they are durable.
So a rebuild's guarantees hold per share, and a resume, with any number of jobs, continues
each partition from its committed offset.

:func:`rebuild_in_processes`: each job reads its partitions of the topic itself.
:func:`rebuild_fed`: the parent reads one source (the ClickHouse audit: one reader for every
job, which an embedded engine requires) and feeds each job its partitions' records, in
batches, over a pipe (:class:`FedSource` on the job's side).

The parent hears each job's batches and final report over one pipe and tells it to stop over
another. A job whose parent is gone (the pipe closes) stops after its batch, as on Ctrl-C;
a job that fails tells why, and the others are stopped.
"""

from __future__ import annotations

import asyncio
import multiprocessing
import signal
import threading
import time
from collections.abc import Callable
from contextlib import suppress
from dataclasses import dataclass, field
from multiprocessing.connection import Connection
from multiprocessing.process import BaseProcess
from typing import Any

from sessionflow.core.errors import InfrastructureError, SessionflowError
from sessionflow.core.gc_tuning import throughput_gc
from sessionflow.core.settings import KafkaSettings
from sessionflow.processors.replay.changelog import ensure_changelog
from sessionflow.processors.replay.fed import FedSource, pump
from sessionflow.processors.replay.rebuild import Rebuild, RebuildReport, Target, resume_point
from sessionflow.processors.replay.sources import Source, StartAt, TopicSource

_STOP_GRACE_S = 60.0
"""How long a stopped job may take to finish its batch and commit before it is killed."""


_RESUMABLE = "; what every job folded before is committed: --resume continues the version"


@dataclass(frozen=True)
class Share:
    """One job's part of a rebuild: these partitions of the topic, from ``start`` up to
    ``to_time_ms`` (or from the committed offsets, ``resume``); ``fed``: the records come
    from the parent instead (``start`` and ``to_time_ms`` are the parent's business)."""

    kafka: KafkaSettings
    target: Target
    partitions: tuple[int, ...]
    start: StartAt = field(default_factory=StartAt)
    to_time_ms: int | None = None
    batch_size: int = 10_000
    resume: bool = False
    fed: bool = False


def deal(partitions: list[int], jobs: int) -> list[tuple[int, ...]]:
    """``partitions`` dealt round-robin into ``min(jobs, len(partitions))`` shares."""
    count = max(1, min(jobs, len(partitions)))
    return [tuple(partitions[i::count]) for i in range(count)]


async def rebuild_in_processes(
    shares: list[Share],
    *,
    stop: asyncio.Event | None = None,
    on_batch: Callable[[int, int | None], None] | None = None,
) -> RebuildReport:
    """Run one job per share, each reading the topic; their reports merged. ``stop`` set: every
    job ends after its batch.

    ``on_batch(events, total)`` hears each job's batches (``total``: the events of all shares,
    None until every job knows its own). Raises :class:`InfrastructureError` naming the share
    if a job fails or dies (the others are stopped, their work committed).
    """
    began = time.monotonic()
    first = shares[0]
    await ensure_changelog(first.kafka, first.target.changelog)  # once, not raced by the jobs
    jobs = [_Job(index, share) for index, share in enumerate(shares)]
    relay = asyncio.ensure_future(_relay_stop(stop or asyncio.Event(), jobs))
    try:
        reports = await _follow(jobs, on_batch or (lambda _events, _total: None))
    finally:
        relay.cancel()
        await asyncio.to_thread(_close_all, jobs)
    return _merge(first.target.version, reports, time.monotonic() - began)


async def rebuild_fed(
    source: Source,
    shares: list[Share],
    *,
    stop: asyncio.Event | None = None,
    on_batch: Callable[[int, int | None], None] | None = None,
) -> RebuildReport:
    """Read ``source`` here and fold it in one job per (``fed``) share; reports merged.

    ``source`` must start where the target's offsets are (its committed offsets when
    resuming) and be read in offset order per partition; an interleaved one keeps every job
    busy. ``on_batch(events, total)``: ``total`` is the source's. A source that fails midway
    raises after every job stopped, what they folded committed.
    """
    began = time.monotonic()
    first, stop = shares[0], stop or asyncio.Event()
    report = on_batch or (lambda _events, _total: None)
    async with source as opened:  # a source that cannot be read: nothing created
        await ensure_changelog(first.kafka, first.target.changelog)
        jobs = [_Job(index, share) for index, share in enumerate(shares)]
        relay = asyncio.ensure_future(_relay_stop(stop, jobs))
        feeding = asyncio.ensure_future(pump(opened, jobs, stop, first.batch_size))
        feeding.add_done_callback(lambda done: _stop_if_failed(done, stop))
        try:
            reports = await _follow(jobs, lambda events, _: report(events, opened.total))
            complete = await _fed_to_the_end(feeding, stop)
        finally:
            feeding.cancel()
            relay.cancel()
            await asyncio.to_thread(_close_all, jobs)
    merged = _merge(first.target.version, reports, time.monotonic() - began)
    merged.interrupted = merged.interrupted or not complete
    return merged


async def _fed_to_the_end(feeding: asyncio.Future[bool], stop: asyncio.Event) -> bool:
    """Whether the pump fed the whole source (every job has reported); raises its failure."""
    try:
        if feeding.done() or not stop.is_set():
            return await feeding
    except Exception as exc:
        raise InfrastructureError(f"reading the source failed: {exc}{_RESUMABLE}") from exc
    return False  # stopped: the pump may still wait to hand over a batch no job will take


def _stop_if_failed(task: asyncio.Future[bool], stop: asyncio.Event) -> None:
    if not task.cancelled() and task.exception() is not None:
        stop.set()  # the jobs stop after their batch; the failure is raised after


class _Job:
    """One spawned rebuild process and its pipes: events up; stop and (fed) records down."""

    def __init__(self, index: int, share: Share) -> None:
        context = multiprocessing.get_context("spawn")
        self.index, self.share = index, share
        self.events, child_events = context.Pipe(duplex=False)
        child_control, self._control = context.Pipe(duplex=False)
        child_feed, self.feed = context.Pipe(duplex=False)
        self.process: BaseProcess = context.Process(
            target=_job_main, args=(share, child_events, child_control, child_feed),
            name=f"sessionflow-rebuild-{index}", daemon=True,
        )  # fmt: skip
        self.process.start()
        for end in (child_events, child_control, child_feed):
            end.close()  # so each side sees EOF when the other is gone

    def owns(self) -> tuple[int, ...]:
        """This job's partitions."""
        return self.share.partitions

    def own(self, positions: dict[int, int]) -> dict[int, int]:
        """``positions`` of this job's partitions."""
        return {p: positions[p] for p in self.share.partitions if p in positions}

    def send_feed(self, message: tuple[Any, ...]) -> None:
        """Send a fed job a message (blocks until it reads it); nothing if it is gone."""
        with suppress(OSError):
            self.feed.send(message)

    def describe(self) -> str:
        """Which job this is, for a message."""
        return f"rebuild job of partitions {','.join(map(str, self.share.partitions))}"

    def stop(self) -> None:
        """Ask the job to end after its current batch (it commits what it folded)."""
        with suppress(OSError):  # gone already
            self._control.send("stop")

    def close(self) -> None:
        """Stop the job, wait for it (bounded), kill it if it hangs; close the pipes."""
        self.stop()
        self.process.join(_STOP_GRACE_S)
        if self.process.is_alive():
            self.process.kill()
            self.process.join()
        self._control.close()
        self.feed.close()
        self.events.close()


async def _relay_stop(stop: asyncio.Event, jobs: list[_Job]) -> None:
    await stop.wait()
    for job in jobs:
        job.stop()


def _close_all(jobs: list[_Job]) -> None:
    for job in jobs:
        job.stop()  # all asked first, so they finish their batches side by side
    for job in jobs:
        job.close()


async def _follow(
    jobs: list[_Job], on_batch: Callable[[int, int | None], None]
) -> list[RebuildReport]:
    """Each job's messages until every job reported; raises for a failed or vanished job."""
    loop = asyncio.get_running_loop()
    inbox: asyncio.Queue[tuple[_Job, tuple[Any, ...]]] = asyncio.Queue()
    for job in jobs:
        loop.add_reader(job.events.fileno(), _drain, loop, job, inbox)
    reports: dict[int, RebuildReport] = {}
    totals: dict[int, int] = {}
    try:
        while len(reports) < len(jobs):
            job, message = await inbox.get()
            kind = message[0]
            if kind == "batch":
                totals[job.index] = message[2]
                total = sum(totals.values()) if len(totals) == len(jobs) else None
                on_batch(message[1], total)
            elif kind == "done":
                reports[job.index] = message[1]
            elif kind == "failed":
                raise InfrastructureError(f"{job.describe()} failed: {message[1]}{_RESUMABLE}")
            elif job.index not in reports:  # "gone" before its report
                await asyncio.to_thread(job.process.join, _STOP_GRACE_S)
                raise InfrastructureError(
                    f"{job.describe()} ended without a report (exit code "
                    f"{job.process.exitcode}){_RESUMABLE}"
                )
    finally:
        for job in jobs:
            if not job.events.closed:
                loop.remove_reader(job.events.fileno())
    return [reports[index] for index in sorted(reports)]


def _drain(
    loop: asyncio.AbstractEventLoop, job: _Job, inbox: asyncio.Queue[tuple[_Job, tuple[Any, ...]]]
) -> None:
    """Move what ``job`` sent into ``inbox``; at EOF a ``("gone",)`` and stop watching."""
    try:
        while job.events.poll():
            inbox.put_nowait((job, job.events.recv()))
    except (EOFError, OSError):
        loop.remove_reader(job.events.fileno())
        inbox.put_nowait((job, ("gone",)))


def _merge(version: str, reports: list[RebuildReport], seconds: float) -> RebuildReport:
    merged = RebuildReport(version, seconds=seconds)
    for report in reports:
        merged.events += report.events
        merged.applied += report.applied
        merged.skipped += report.skipped
        merged.states_written += report.states_written
        merged.sessions += report.sessions  # disjoint: a session lives in one partition
        merged.dead_letters.update(report.dead_letters)
        merged.positions.update(report.positions)
        merged.interrupted = merged.interrupted or report.interrupted
    return merged


def _job_main(share: Share, events: Connection, control: Connection, feed: Connection) -> None:
    """A job process: rebuild ``share``; send batches and the report (or why it failed)."""
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the parent, which stops us
    try:
        with throughput_gc():
            report = asyncio.run(_job(share, events, control, feed))
    except SessionflowError as exc:  # reported to the parent as one line
        _send(events, ("failed", str(exc)))
        raise SystemExit(1) from None
    except Exception as exc:  # a driver's error: its type says what it is
        _send(events, ("failed", f"{type(exc).__name__}: {exc}"))
        raise SystemExit(1) from None
    _send(events, ("done", report))


def _send(events: Connection, message: tuple[Any, ...]) -> None:
    with suppress(OSError):  # the parent is gone: the stop watcher ends the job after its batch
        events.send(message)


async def _job(
    share: Share, events: Connection, control: Connection, feed: Connection
) -> RebuildReport:
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    threading.Thread(target=_await_stop, args=(control, loop, stop), daemon=True).start()
    if share.resume:
        states, committed = await resume_point(share.kafka, share.target, share.partitions)
        begin: StartAt | dict[int, int] = committed
    else:
        states, begin = {}, share.start
    source: Source = FedSource(feed, stop) if share.fed else TopicSource(
        share.kafka, begin, to_time_ms=share.to_time_ms, batch_size=share.batch_size,
        partitions=share.partitions,
    )  # fmt: skip
    rebuild = Rebuild(
        share.kafka, share.target, source, states, stop=stop,
        on_batch=lambda count: _send(events, ("batch", count, source.total or 0)),
    )  # fmt: skip
    return await rebuild.run()


def _await_stop(control: Connection, loop: asyncio.AbstractEventLoop, stop: asyncio.Event) -> None:
    """Set ``stop`` when the parent says so or is gone (its end of the pipe closed)."""
    with suppress(EOFError, OSError):
        control.recv()
    with suppress(RuntimeError):  # the job has finished and its loop is closed
        loop.call_soon_threadsafe(stop.set)
