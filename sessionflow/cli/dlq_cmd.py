"""``sessionflow dlq list|show|replay``: the dead letters of the DLQ topic, for ops.

Every option is checked before the broker is touched. ``replay`` re-injects each DLQ record
at most once however often it runs (see :mod:`sessionflow.processors.dlq.replay`), so an
interrupted run is continued by running it again.
"""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    ProgressColumn,
    SpinnerColumn,
    Task,
    TextColumn,
    TimeElapsedColumn,
    TimeRemainingColumn,
)
from rich.text import Text

from sessionflow.cli.checks import load_kafka
from sessionflow.cli.dlq_render import letter_json, letters_table, print_letter, show_json
from sessionflow.cli.progress import counts_table
from sessionflow.core.settings import KafkaSettings
from sessionflow.processors.dlq import (
    FIXABLE,
    WHY_NOT,
    BadSelectionError,
    DeadLetterReader,
    ReplayPlan,
    ReplayProgress,
    Selection,
    StoredLetter,
    count_by_reason,
    decode_letter,
    parse_position,
    parse_since,
    replay_letters,
)
from sessionflow.processors.dlq.letters import known_reasons
from sessionflow.schemas import EventCodec

_REASON = click.Choice(known_reasons())


def _since(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_since(value, datetime.now(UTC))
    except BadSelectionError as exc:
        raise click.BadParameter(str(exc)) from None


def _position(ctx: click.Context, param: click.Parameter, value: str) -> tuple[int | None, int]:
    try:
        return parse_position(value)
    except BadSelectionError as exc:
        raise click.BadParameter(str(exc)) from None


def _fixable(ctx: click.Context, param: click.Parameter, value: tuple[str, ...]) -> frozenset[str]:
    for reason in value:
        if reason not in FIXABLE:
            raise click.BadParameter(
                f"{reason} letters cannot be fixed by re-injection: {WHY_NOT[reason]} "
                f"(re-injectable: {', '.join(sorted(FIXABLE))}; see docs/dead-letters.md)"
            )
    return frozenset(value)


@click.group()
def dlq() -> None:
    """Dead letters: list them, show one, re-inject them after a fix (KAFKA_DLQ_TOPIC)."""


since_option = click.option(
    "--since", callback=_since, help="Only letters whose record time is at or after this: "
    "ISO 8601 (naive = UTC) or a duration back from now (30m, 1h, 2d).",
)  # fmt: skip


@dlq.command("list")
@click.option("--reason", "reasons", type=_REASON, multiple=True,
              help="Only this reason (repeatable).")  # fmt: skip
@since_option
@click.option("--limit", type=click.IntRange(min=1), help="Show only the newest N.")
@click.option("--format", "output", type=click.Choice(["table", "json"]), default="table",
              show_default=True)  # fmt: skip
def list_command(
    reasons: tuple[str, ...], since: datetime | None, limit: int | None, output: str
) -> None:
    """The dead letters, oldest first, and how many there are of each reason."""
    kafka = load_kafka()
    selection = Selection(frozenset(reasons), since)
    matching = selection.apply(asyncio.run(_read_all(kafka, Console(stderr=True))))
    shown = Selection(limit=limit).apply(matching)
    codec = EventCodec()
    rows = [(letter, decode_letter(codec, letter)) for letter in shown]
    counts = count_by_reason(matching)
    if output == "json":
        click.echo(json.dumps({
            "topic": kafka.dlq_topic, "matching": len(matching), "shown": len(rows),
            "by_reason": counts, "letters": [letter_json(d, e) for d, e in rows],
        }, indent=2))  # fmt: skip
        return
    console = Console()
    title = f"{kafka.dlq_topic}: {len(rows)} of {len(matching)} matching dead letters"
    console.print(letters_table(rows, title))
    console.print(counts_table("dead letters by reason", counts))


@dlq.command("show")
@click.argument("position", callback=_position, metavar="PARTITION:OFFSET")
@click.option("--format", "output", type=click.Choice(["text", "json"]), default="text",
              show_default=True)  # fmt: skip
def show_command(position: tuple[int | None, int], output: str) -> None:
    """One dead letter: reason, origin, headers and its event (or why its bytes are none).

    A bare OFFSET is enough when the DLQ topic has one partition.
    """
    kafka = load_kafka()
    letter = asyncio.run(_read_one(kafka, *position))
    decoded = decode_letter(EventCodec(), letter)
    if output == "json":
        click.echo(json.dumps(show_json(letter, decoded), indent=2, default=str))
    else:
        print_letter(Console(), letter, decoded)


@dlq.command("replay")
@click.option(
    "--reason",
    "reasons",
    type=_REASON,
    multiple=True,
    callback=_fixable,
    help=f"Only this reason (repeatable) [default: {', '.join(sorted(FIXABLE))}].",
)
@since_option
@click.option("--dry-run", is_flag=True, help="Say what would be re-injected; send nothing.")
@click.option("--retry-returned", is_flag=True,
              help="Also re-inject letters that came back from an earlier replay.")  # fmt: skip
def replay_command(
    reasons: frozenset[str], since: datetime | None, dry_run: bool, retry_returned: bool
) -> None:
    """Re-inject dead letters into the domain topic after a fix, each one at most once.

    Safe to run again (and to interrupt): what was re-injected before is skipped.
    """
    kafka = load_kafka()
    console = Console(stderr=True)
    progress = ReplayProgress()
    selection = Selection(reasons or FIXABLE, since)
    try:
        plan = asyncio.run(_replay(kafka, selection, progress, console, dry_run, retry_returned))
    except KeyboardInterrupt:
        done = (
            f"at least {progress.acked} of {len(progress.plan.todo)} re-injected"
            if progress.plan is not None
            else "nothing re-injected yet"
        )
        click.echo(
            f"interrupted: {done}; nothing is sent twice: run `sessionflow dlq replay` with the "
            "same options again to continue",
            err=True,
        )
        raise SystemExit(130) from None
    _report(plan, dry_run, progress.acked, kafka)


async def _read_all(kafka: KafkaSettings, console: Console) -> list[StoredLetter]:
    async with DeadLetterReader(kafka) as reader:
        total = sum(end - first for first, end in (await reader.bounds()).values())
        with _bar(console, total >= 10_000) as bar:
            task = bar.add_task(f"reading {kafka.dlq_topic}", total=total)
            return await reader.read_all(lambda n: bar.advance(task, n))


async def _read_one(kafka: KafkaSettings, partition: int | None, offset: int) -> StoredLetter:
    async with DeadLetterReader(kafka) as reader:
        return await reader.read_one(partition, offset)


async def _replay(
    kafka: KafkaSettings,
    selection: Selection,
    progress: ReplayProgress,
    console: Console,
    dry_run: bool,
    retry_returned: bool,
) -> ReplayPlan:
    selected = selection.apply(await _read_all(kafka, console))
    with _rate_bar(console) as bar:
        scan = bar.add_task(f"checking {kafka.topic} for earlier replays", total=None)
        send = bar.add_task(f"re-injecting into {kafka.topic}", total=None, visible=False)

        def scanned(n: int) -> None:
            bar.advance(scan, n)

        def planned(plan: ReplayPlan) -> None:
            bar.update(scan, total=progress.scanned, completed=progress.scanned)
            bar.update(send, total=len(plan.todo), visible=not dry_run)

        progress.on_scanned, progress.on_planned = scanned, planned
        progress.on_acked = lambda n: bar.advance(send, n)
        plan = await replay_letters(
            kafka, selected, progress, dry_run=dry_run, retry_returned=retry_returned
        )
    return plan


def _report(plan: ReplayPlan, dry_run: bool, acked: int, kafka: KafkaSettings) -> None:
    console = Console()
    todo = count_by_reason(plan.todo)
    if dry_run:
        console.print(counts_table("would re-inject", todo))
    elif plan.todo:
        console.print(counts_table(f"re-injected into {kafka.topic}", todo))
    verb = "would re-inject" if dry_run else "re-injected"
    console.print(
        f"{verb} {len(plan.todo) if dry_run else acked}; skipped {len(plan.done_before)} "
        f"re-injected before and {len(plan.returned)} that came back from a replay"
        + (" (--retry-returned re-injects them)" if plan.returned else "")
    )


class _RateColumn(ProgressColumn):
    """Records per second."""

    def render(self, task: Task) -> Text:
        speed = task.finished_speed or task.speed
        return Text("" if speed is None else f"{speed:,.0f}/s", style="progress.data.speed")


def _rate_bar(console: Console) -> Progress:
    """A bar with count, rate, elapsed time and ETA."""
    return Progress(
        TextColumn("[bold]{task.description}"), BarColumn(), MofNCompleteColumn(),
        _RateColumn(), TimeElapsedColumn(), TimeRemainingColumn(), console=console,
    )  # fmt: skip


def _bar(console: Console, visible: bool) -> Progress:
    columns: list[Any] = [SpinnerColumn(), TextColumn("{task.description}"), TimeRemainingColumn()]
    return Progress(*columns, console=console, transient=True, disable=not visible)
