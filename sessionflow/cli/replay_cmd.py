"""``sessionflow replay``: rebuild session state into a new state version, beside the live one.

Every option is checked before anything is read or written; the target version is checked
(not live, not taken unless ``--resume``) before anything is created. Ctrl-C stops after the
current batch, with everything done so far committed, and says how to continue.
"""

from __future__ import annotations

import asyncio
import re
import signal
from collections.abc import AsyncIterator, Iterator
from contextlib import asynccontextmanager, contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    Task,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from sessionflow.cli.checks import load_kafka
from sessionflow.cli.clickhouse_access import reading_client
from sessionflow.cli.state_cmd import promote_command
from sessionflow.core.clickhouse import check_dsn
from sessionflow.core.config import load_settings
from sessionflow.core.errors import ConfigurationError
from sessionflow.core.gc_tuning import throughput_gc
from sessionflow.core.reachability import ensure_reachable
from sessionflow.core.settings import ClickHouseSettings, KafkaSettings, PathSettings
from sessionflow.core.topic_reader import partitions_of
from sessionflow.processors.promote import live_version
from sessionflow.processors.replay.clickhouse_source import AuditFilter, ClickHouseSource
from sessionflow.processors.replay.group import committed_offsets
from sessionflow.processors.replay.metrics import ReplayMetricsServer, ReplayProgress
from sessionflow.processors.replay.parallel import (
    Share,
    deal,
    rebuild_fed,
    rebuild_in_processes,
)
from sessionflow.processors.replay.rebuild import Rebuild, RebuildReport, Target, resume_point
from sessionflow.processors.replay.republish import RepublishReport, republish
from sessionflow.processors.replay.sources import Source, StartAt, TopicSource
from sessionflow.processors.replay.versions import check_target, next_version
from sessionflow.processors.settings import ProcessorSettings

_EPOCH = datetime(1970, 1, 1, tzinfo=UTC)


class _Offset(click.ParamType):
    """``PARTITION:OFFSET``, both non-negative integers."""

    name = "PARTITION:OFFSET"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, tuple):
            return value
        partition, colon, offset = str(value).partition(":")
        if not colon or not partition.isdigit() or not offset.isdigit():
            self.fail(f"{value!r} is not PARTITION:OFFSET (e.g. 0:1200)", param, ctx)
        return int(partition), int(offset)


class _Time(click.ParamType):
    """An ISO 8601 time (UTC when it names no offset), as epoch milliseconds."""

    name = "ISO-TIME"

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        if isinstance(value, int):
            return value
        try:
            moment = datetime.fromisoformat(str(value))
        except ValueError:
            self.fail(f"{value!r} is not an ISO time (e.g. 2026-12-01T10:00:00Z)", param, ctx)
        if moment.tzinfo is None:
            moment = moment.replace(tzinfo=UTC)
        return (moment - _EPOCH) // timedelta(milliseconds=1)


def _version(value: str | None) -> str | None:
    if value is not None and not re.fullmatch(r"v[0-9]+", value):
        raise click.BadParameter(f"{value!r} is not a state version like v2")
    return value


class _Rate(ProgressColumn):
    """Events per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text(f"{speed:,.0f} ev/s" if speed else "- ev/s")


@click.command("replay")
@click.option(
    "--source",
    "source_kind",
    type=click.Choice(["topic", "clickhouse"]),
    required=True,
    help="Rebuild from the events topic or from ClickHouse's audit.",
)
@click.option(
    "--version",
    "version",
    default=None,
    callback=lambda ctx, param, value: _version(value),
    help="State version to rebuild into [default: the next free one].",
)
@click.option(
    "--from",
    "from_",
    type=click.Choice(["earliest"]),
    default=None,
    help="topic: start at the earliest offsets (the default).",
)
@click.option(
    "--from-offset",
    "from_offsets",
    type=_Offset(),
    multiple=True,
    help="topic: start PARTITION at OFFSET (repeatable; others at the earliest).",
)
@click.option(
    "--from-time",
    type=_Time(),
    default=None,
    help="topic: start at the first record at or after this time.",
)
@click.option(
    "--to-time",
    type=_Time(),
    default=None,
    help="topic: stop each partition at its first record after this time.",
)
@click.option(
    "--session",
    default=None,
    help="clickhouse: this session only (a partial version: no offsets committed).",
)
@click.option(
    "--until",
    type=_Time(),
    default=None,
    help="clickhouse: stop each partition at its first row after this time.",
)
@click.option("--resume", is_flag=True, help="Continue an interrupted rebuild of --version.")
@click.option(
    "--republish",
    default=None,
    metavar="TOPIC",
    help="clickhouse: re-emit the original records to TOPIC instead of rebuilding.",
)
@click.option(
    "--metrics-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Serve the rebuild's progress as Prometheus metrics on this port while it runs.",
)
@click.option(
    "--jobs",
    type=click.IntRange(1, 256),
    default=1,
    show_default=True,
    help="Fold the partitions in this many processes (at most one per partition).",
)
@click.option(
    "--swap",
    is_flag=True,
    help="Once rebuilt, promote the version (as `sessionflow state promote` does).",
)
def replay_command(
    source_kind: str, version: str | None, from_: str | None,
    from_offsets: tuple[tuple[int, int], ...], from_time: int | None, to_time: int | None,
    session: str | None, until: int | None, resume: bool, republish: str | None,
    metrics_port: int | None, jobs: int, swap: bool,
) -> None:  # fmt: skip
    """Rebuild session state into a new state version (its own changelog and offsets)
    while the live version keeps running; or re-emit ClickHouse's records to a topic."""
    _check_options(source_kind, from_, from_offsets, from_time, to_time, session, until, resume)
    if resume and version is None:
        raise click.UsageError("--resume needs --version (the version to continue)")
    if republish is not None and (source_kind != "clickhouse" or resume or version):
        raise click.UsageError("--republish needs --source clickhouse, without --version/--resume")
    if jobs > 1 and (session is not None or republish is not None):
        what = "--session" if session is not None else "--republish"
        raise click.UsageError(f"--jobs does not go with {what}")
    if swap and (republish is not None or session is not None):
        raise click.UsageError("--swap promotes a whole rebuild: not with --republish or --session")
    kafka = load_kafka()
    settings = load_settings(ProcessorSettings)
    client = None
    if source_kind == "clickhouse":
        paths, clickhouse = load_settings(PathSettings), load_settings(ClickHouseSettings)
        check_dsn(clickhouse, paths)
    asyncio.run(ensure_reachable(kafka))
    if source_kind == "clickhouse":
        client = reading_client()
    try:
        if republish is not None:
            where = AuditFilter(session, until)
            source = ClickHouseSource(client, clickhouse.database, kafka.topic, where=where)
            _print_republished(asyncio.run(_republish(kafka, source, republish)), republish)
            return
        start = StartAt(dict(from_offsets), from_time)
        plan = _Plan(source_kind, start, to_time, AuditFilter(session, until), resume, jobs)
        database = clickhouse.database if client is not None else ""
        progress = ReplayProgress(version or "")
        with _metrics(progress, metrics_port), throughput_gc():
            report = asyncio.run(
                _rebuild(kafka, settings, version, plan, client, database, progress)
            )
    finally:
        if client is not None:
            client.close()
    _print_report(report, resume_hint=session is None)
    if swap and not report.interrupted:
        click.echo(f"--swap: promoting {report.version}", err=True)
        ctx = click.get_current_context()
        ctx.invoke(promote_command, version=report.version, timeout=120.0)


def _check_options(
    source_kind: str, from_: str | None, from_offsets: tuple[tuple[int, int], ...],
    from_time: int | None, to_time: int | None, session: str | None, until: int | None,
    resume: bool,
) -> None:  # fmt: skip
    """Usage errors for options that do not go together (one line, exit 2)."""
    given = {"--from": bool(from_), "--from-offset": bool(from_offsets),
             "--from-time": from_time is not None}  # fmt: skip
    starts = [name for name, present in given.items() if present]
    if len(starts) > 1:
        raise click.UsageError(f"{' and '.join(starts)} exclude each other")
    topic_only = [*starts, *(["--to-time"] if to_time is not None else [])]
    clickhouse_only = [n for n, v in (("--session", session), ("--until", until)) if v is not None]
    if source_kind == "clickhouse" and topic_only:
        raise click.UsageError(f"{topic_only[0]} applies to --source topic only")
    if source_kind == "topic" and clickhouse_only:
        raise click.UsageError(f"{clickhouse_only[0]} applies to --source clickhouse only")
    if resume and (starts or session is not None):
        what = starts[0] if starts else "--session"
        raise click.UsageError(f"--resume continues from the committed offsets: drop {what}")
    partitions = [p for p, _ in from_offsets]
    if len(set(partitions)) < len(partitions):
        raise click.UsageError("--from-offset names a partition twice")


class _Plan:
    """What the command line asks of the source."""

    def __init__(
        self, kind: str, start: StartAt, to_time: int | None, where: AuditFilter, resume: bool,
        jobs: int = 1,
    ) -> None:  # fmt: skip
        self.kind, self.start, self.to_time, self.where, self.resume, self.jobs = (
            kind, start, to_time, where, resume, jobs,
        )  # fmt: skip


@contextmanager
def _metrics(progress: ReplayProgress, port: int | None) -> Iterator[None]:
    """Progress metrics on ``port`` (none without one) for the duration of the block."""
    if port is None:
        yield
        return
    server = ReplayMetricsServer(progress, port)
    try:
        server.start()
    except OSError as exc:
        raise ConfigurationError(f"--metrics-port: port {port} cannot be used: {exc}") from None
    try:
        yield
    finally:
        server.stop()


async def _rebuild(
    kafka: KafkaSettings, settings: ProcessorSettings, version: str | None, plan: _Plan,
    client: Any, database: str, metrics: ReplayProgress,
) -> RebuildReport:  # fmt: skip
    partitions = await partitions_of(kafka, kafka.topic)
    unknown = sorted(set(plan.start.offsets) - set(partitions))
    if unknown:
        raise ConfigurationError(
            f"--from-offset: {kafka.topic} has no partition {unknown[0]} (it has {len(partitions)})"
        )
    live = (await live_version(kafka, settings)).version  # the control record's, if any
    version = version or await next_version(kafka, settings.app_id, live)
    await check_target(kafka, settings.app_id, live, version, resume=plan.resume)
    metrics.version = version
    target = Target(settings.app_id, version)
    if plan.jobs > 1:
        return await _rebuild_in_processes(
            kafka, settings, target, plan, partitions, metrics, client, database
        )
    states, committed = await resume_point(kafka, target) if plan.resume else ({}, {})
    source: Source
    if plan.kind == "topic":
        begin = committed if plan.resume else plan.start
        source = TopicSource(kafka, begin, to_time_ms=plan.to_time, batch_size=settings.batch_size)
    else:
        source = ClickHouseSource(
            client, database, kafka.topic, committed, where=plan.where,
            batch_size=settings.batch_size,
        )  # fmt: skip
    async with _progress(f"rebuilding {version}") as (progress, stop):
        task = progress.add_task(f"rebuild {version}", total=None)

        def on_batch(events: int) -> None:
            progress.update(task, advance=events, total=source.total)
            metrics.add(events, source.total)

        rebuild = Rebuild(
            kafka, target, source, states, commit=plan.where.session_id is None, stop=stop,
            on_batch=on_batch,
        )  # fmt: skip
        return await rebuild.run()


async def _rebuild_in_processes(
    kafka: KafkaSettings, settings: ProcessorSettings, target: Target, plan: _Plan,
    partitions: list[int], metrics: ReplayProgress, client: Any, database: str,
) -> RebuildReport:  # fmt: skip
    """``--jobs``: the topic read by every job itself; ClickHouse read here, jobs fed."""
    fed = plan.kind == "clickhouse"
    shares = [
        Share(kafka, target, share, plan.start, plan.to_time, settings.batch_size, plan.resume, fed)
        for share in deal(partitions, plan.jobs)
    ]
    async with _progress(f"rebuilding {target.version}") as (progress, stop):
        task = progress.add_task(f"rebuild {target.version} ({len(shares)} jobs)", total=None)

        def on_batch(events: int, total: int | None) -> None:
            progress.update(task, advance=events, total=total)
            metrics.add(events, total)

        if not fed:
            return await rebuild_in_processes(shares, stop=stop, on_batch=on_batch)
        committed = await committed_offsets(kafka, target.group, kafka.topic) if plan.resume else {}
        source = ClickHouseSource(
            client, database, kafka.topic, committed, where=plan.where,
            batch_size=settings.batch_size, interleave=True,
        )  # fmt: skip
        return await rebuild_fed(source, shares, stop=stop, on_batch=on_batch)


async def _republish(kafka: KafkaSettings, source: ClickHouseSource, topic: str) -> RepublishReport:
    async with _progress(f"republishing to {topic}") as (progress, _):
        task = progress.add_task(f"republish to {topic}", total=None)
        return await republish(
            kafka, source, topic, lambda n: progress.update(task, advance=n, total=source.total)
        )


@asynccontextmanager
async def _progress(what: str) -> AsyncIterator[tuple[Progress, asyncio.Event]]:
    """A progress bar on stderr, and an event set by Ctrl-C (SIGINT)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    loop.add_signal_handler(signal.SIGINT, stop.set)
    progress = Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        TaskProgressColumn(), _Rate(), TimeElapsedColumn(), TimeRemainingColumn(),
        console=Console(stderr=True), transient=False,
    )  # fmt: skip
    try:
        with progress:
            yield progress, stop
    finally:
        loop.remove_signal_handler(signal.SIGINT)


def _print_report(report: RebuildReport, *, resume_hint: bool) -> None:
    dead = ", ".join(f"{r} {n:,}" for r, n in sorted(report.dead_letters.items())) or "none"
    ends = " ".join(f"{p}:{o}" for p, o in sorted(report.positions.items()))
    click.echo(f"version {report.version}: {report.events:,} events folded "
               f"({report.applied:,} applied, {report.skipped:,} already folded) into "
               f"{report.sessions:,} sessions in {report.seconds:.1f}s "
               f"({report.rate:,.0f} ev/s)")  # fmt: skip
    click.echo(f"dead letters (not written again): {dead}")
    click.echo(f"end offsets: {ends or 'none'}")
    if report.interrupted:
        again = (
            f"run the same command with --version {report.version} --resume to continue"
            if resume_hint else "a --session rebuild cannot be resumed; rebuild it again"
        )  # fmt: skip
        click.echo(f"interrupted after a committed batch: {again}", err=True)
        raise SystemExit(130)


def _print_republished(report: RepublishReport, topic: str) -> None:
    click.echo(f"republished to {topic}: {report.written:,} records written, "
               f"{report.skipped:,} written before and skipped")  # fmt: skip
