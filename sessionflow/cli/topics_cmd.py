"""``sessionflow topics create|describe``: the domain topic and its dead-letter topic."""

from __future__ import annotations

import asyncio

import click
from rich.console import Console
from rich.table import Table

from sessionflow.cli.checks import load_kafka
from sessionflow.core.config import load_settings
from sessionflow.producers.settings import TopicSettings
from sessionflow.producers.topics import TopicDescription, create_topics, describe_topics


@click.group()
def topics() -> None:
    """Create and inspect the session-events topics (settings: KAFKA_*, SESSIONFLOW_TOPICS_*)."""


@topics.command()
@click.option("--partitions", type=click.IntRange(min=1), help="Partitions of session-events.")
@click.option("--replication-factor", type=click.IntRange(min=1), help="Replicas per partition.")
def create(partitions: int | None, replication_factor: int | None) -> None:
    """Create session-events and session-events.dlq if missing; existing topics are kept."""
    kafka = load_kafka()
    overrides: dict[str, int] = {}
    if partitions is not None:
        overrides["partitions"] = partitions
    if replication_factor is not None:
        overrides["replication_factor"] = replication_factor
    settings = load_settings(TopicSettings, **overrides)
    for outcome in asyncio.run(create_topics(kafka, settings)):
        verb = "created" if outcome.created else "exists "
        click.echo(f"{verb} {outcome.name} ({outcome.partitions} partitions)")


@topics.command()
@click.argument("names", nargs=-1)
@click.option(
    "--group",
    "groups",
    multiple=True,
    help="Show lag of this consumer group only (repeatable); default: every group.",
)
def describe(names: tuple[str, ...], groups: tuple[str, ...]) -> None:
    """Partitions, end offsets, configs and consumer-group lag (default: both domain topics).

    A group whose offsets cannot be read (no ACL, coordinator unavailable) is listed under
    the table as skipped; the others are still shown.
    """
    kafka = load_kafka()
    wanted = list(names) or [kafka.topic, kafka.dlq_topic]
    console = Console()
    described = asyncio.run(describe_topics(kafka, wanted, list(groups) or None))
    for description in described:
        console.print(_table(description))
        for group, reason in sorted(description.skipped_groups.items()):
            console.print(f"  group {group} skipped: its offsets could not be read ({reason})")


def _table(description: TopicDescription) -> Table:
    groups = sorted(description.groups, key=lambda g: g.group_id)
    configs = ", ".join(f"{k}={v}" for k, v in sorted(description.configs.items()))
    table = Table(title=f"{description.name}  [dim]{configs}[/dim]", title_justify="left")
    for column in ("partition", "leader", "replicas", "isr", "end offset"):
        table.add_column(column, justify="right")
    for group in groups:
        table.add_column(f"lag {group.group_id}", justify="right")
    for p in description.partitions:
        lags = [str(g.lag[p.partition]) if p.partition in g.lag else "-" for g in groups]
        table.add_row(
            str(p.partition),
            str(p.leader),
            ",".join(map(str, p.replicas)),
            ",".join(map(str, p.isr)),
            str(p.end_offset),
            *lags,
        )
    total = sum(p.end_offset for p in description.partitions)
    table.add_section()
    table.add_row("total", "", "", "", str(total), *(str(g.total_lag) for g in groups))
    return table
