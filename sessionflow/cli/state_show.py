"""``sessionflow state show SESSION_ID --at TIME | --at-sequence N``: one session, then."""

from __future__ import annotations

import asyncio
import json
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from sessionflow.cli.checks import load_kafka
from sessionflow.cli.clickhouse_access import reading_client
from sessionflow.core.clickhouse import check_dsn
from sessionflow.core.config import load_settings
from sessionflow.core.reachability import ensure_reachable
from sessionflow.core.settings import ClickHouseSettings, PathSettings
from sessionflow.processors.domain.records import to_view
from sessionflow.processors.replay.pointintime import (
    PastState,
    PointInTime,
    clickhouse_source,
    state_at,
    topic_source,
)
from sessionflow.schemas import EventCodec


def _time(ctx: click.Context, param: click.Parameter, value: str | None) -> int | None:
    if value is None:
        return None
    try:
        moment = datetime.fromisoformat(value)
    except ValueError:
        raise click.BadParameter(
            f"{value!r} is not an ISO time (e.g. 2026-12-01T10:00:00Z)"
        ) from None
    return int((moment if moment.tzinfo else moment.replace(tzinfo=UTC)).timestamp() * 1000)


@click.command("show")
@click.argument("session_id")
@click.option("--at", "at_ms", callback=_time, metavar="ISO-TIME",
              help="As of this event time (naive = UTC).")  # fmt: skip
@click.option("--at-sequence", type=click.IntRange(1), default=None,
              help="After the session's first record with this sequence number.")  # fmt: skip
@click.option("--source", "source_kind", type=click.Choice(["topic", "clickhouse"]),
              default="topic", show_default=True,
              help="Fold the topic or ClickHouse's audit.")  # fmt: skip
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)  # fmt: skip
def show_command(
    session_id: str, at_ms: int | None, at_sequence: int | None, source_kind: str, fmt: str
) -> None:
    """One session's state and statistics as of a time or a sequence number, folded by the
    same pure core as the processors (now, without --at/--at-sequence)."""
    point = PointInTime(at_ms, at_sequence)
    kafka = load_kafka()
    client = database = None
    if source_kind == "clickhouse":
        paths, clickhouse = load_settings(PathSettings), load_settings(ClickHouseSettings)
        check_dsn(clickhouse, paths)
        database = clickhouse.database
        client = reading_client()
    else:
        asyncio.run(ensure_reachable(kafka))
    try:
        if client is not None and database is not None:
            source = clickhouse_source(client, database, kafka.topic, session_id)
        else:
            source = asyncio.run(topic_source(kafka, session_id, point))
        past = asyncio.run(state_at(source, session_id, point, EventCodec()))
    finally:
        if client is not None:
            client.close()
    if past.state is None:
        raise click.ClickException(
            f"session {session_id} did not exist then ({past.records} records folded)"
        )
    view = to_view(past.state)
    if fmt == "json":
        click.echo(json.dumps(view, indent=2, default=str))
    else:
        _table(session_id, view, past)


_FIELDS = ("status", "user_id", "created_at", "updated_at", "ended_at", "outcome", "version",
           "last_event_id")  # fmt: skip


def _table(session_id: str, view: dict[str, Any], past: PastState) -> None:
    table = Table(
        title=f"{session_id}: {past.records} records folded, {past.dead_letters} dead letters"
    )
    table.add_column("field")
    table.add_column("value")
    for name in (
        "status",
        "user_id",
        "created_at",
        "updated_at",
        "ended_at",
        "outcome",
        "version",
        "last_event_id",
    ):
        table.add_row(name, str(view.get(name)))
    for name, value in sorted(view["stats"].items()):
        table.add_row(f"stats.{name}", json.dumps(value, default=str))
    table.add_row("tool_calls", str(len(view["tool_calls"])))
    Console().print(table)
