"""Analyst commands over the sink's tables: ``sessions``, ``session``, ``audit``, ``history``,
``query``. Rich tables by default, ``--format json|csv`` for scripts.

Where they connect: a ClickHouse server when ``CLICKHOUSE_DSN`` is ``http(s)://``; with the
embedded engine, the running sink's read-only query endpoint if it answers (the sink holds
the engine's directory), else the embedded engine directly.
"""

from __future__ import annotations

import csv
import json
import sys
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from sessionflow.cli.clickhouse_access import reading_client
from sessionflow.core.errors import ConfigurationError, InfrastructureError
from sessionflow.sinks import queries

_FORMAT = click.option(
    "--format",
    "fmt",
    type=click.Choice(["table", "json", "csv"]),
    default="table",
    show_default=True,
    help="Output: a table, JSON (a list of objects) or CSV with a header.",
)


def run(query: tuple[str, dict[str, Any]]) -> tuple[list[str], list[Sequence[Any]]]:
    """Column names and rows of ``query``; one-line errors."""
    client = reading_client()
    try:
        result = client.query(query[0], parameters=query[1])
    except Exception as exc:  # DatabaseError and friends: the engine's message, one line
        raise InfrastructureError(f"ClickHouse: {exc}") from exc
    finally:
        client.close()
    return list(result.column_names), list(result.result_rows)


def emit(columns: list[str], rows: list[Sequence[Any]], fmt: str, title: str = "") -> None:
    """Print ``rows`` as a table, JSON or CSV."""
    if fmt == "json":
        click.echo(json.dumps([dict(zip(columns, row, strict=True)) for row in rows], default=str))
    elif fmt == "csv":
        writer = csv.writer(sys.stdout, lineterminator="\n")
        writer.writerow(columns)
        writer.writerows([[_text(v) for v in row] for row in rows])
    else:
        table = Table(title=title or None)
        for name in columns:
            table.add_column(name)
        for row in rows:
            table.add_row(*(_text(value) for value in row))
        Console(soft_wrap=True).print(table)


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, datetime):
        return value.isoformat(sep=" ", timespec="milliseconds")
    if isinstance(value, dict | list | tuple):
        return json.dumps(value, default=str)
    return str(value)


def _one_session(kind: str, build: Callable[[str], tuple[str, dict[str, Any]]]) -> Any:
    @click.command(kind)
    @click.argument("session_id")
    @_FORMAT
    def command(session_id: str, fmt: str) -> None:
        columns, rows = run(build(session_id))
        if not rows:
            raise ConfigurationError(f"session {session_id}: not in ClickHouse")
        if kind == "session" and fmt == "table":
            emit(["field", "value"], [[c, v] for c, v in zip(columns, rows[0], strict=True)], fmt)
        else:
            emit(columns, rows, fmt, f"{kind} of {session_id}")

    return command


session_command = _one_session("session", queries.session)
session_command.help = "One session's state and statistics: tools, durations, tokens, cost."
audit_command = _one_session("audit", queries.audit)
audit_command.help = "A session's audit trail: every event in order, with the time between."
history_command = _one_session("history", queries.history)
history_command.help = "A session's conversation: its messages with their tool calls."


@click.command("sessions")
@click.option("--user", help="Only this user's sessions.")
@click.option(
    "--status",
    type=click.Choice(["CREATED", "ACTIVE", "SUSPENDED", "ENDED"], case_sensitive=False),
    help="Only sessions in this status.",
)
@click.option("--tag", help="Only sessions with this tag.")
@click.option("--since", type=click.DateTime(), help="Only sessions created since (UTC).")
@click.option("--limit", type=click.IntRange(1, 100_000), default=50, show_default=True)
@_FORMAT
def sessions_command(
    user: str | None,
    status: str | None,
    tag: str | None,
    since: datetime | None,
    limit: int,
    fmt: str,
) -> None:
    """Sessions, newest first, with their events, tokens and tool calls."""
    since_utc = since.replace(tzinfo=UTC) if since is not None else None
    columns, rows = run(queries.sessions(user, status, tag, since_utc, limit))
    emit(columns, rows, fmt, "sessions")


@click.command("query")
@click.argument("sql")
@_FORMAT
def query_command(sql: str, fmt: str) -> None:
    """Run SQL against the sink's database (tables: see docs/tables.md)."""
    columns, rows = run((sql, {}))
    emit(columns, rows, fmt)
