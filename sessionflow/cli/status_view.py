"""``sessionflow status`` as rich tables: components, lag, dead letters, URLs."""

from __future__ import annotations

import time

from rich.console import Console
from rich.table import Table

from sessionflow.cli.pipeline_status import PipelineStatus


def render(status: PipelineStatus, console: Console | None = None) -> None:
    """Print ``status`` for a terminal."""
    out = console or Console()
    if not status.running:
        out.print("the pipeline is not running (start it with `sessionflow up`)")
        return
    out.print(_components(status))
    if status.lag:
        out.print(_lag(status))
    out.print(_dead_letters(status))
    for name, url in sorted(status.urls.items()):
        out.print(f"{name}: {url}")
    for problem in status.problems:
        out.print(f"[yellow]could not read {problem}[/]")


def _components(status: PipelineStatus) -> Table:
    table = Table(title="components")
    for column in ("component", "status", "ready", "pid", "restarts", "last exit", "up for"):
        table.add_column(column)
    now = time.time()
    for c in status.components:
        started = c.get("started_at")
        up_for = f"{now - started:.0f}s" if started and c.get("pid") else "-"
        last = c.get("last_exit")
        table.add_row(
            c["name"], c["status"], "yes" if c["ready"] else "no", str(c.get("pid") or "-"),
            str(c.get("restarts", 0)), "-" if last is None else str(last), up_for,
        )  # fmt: skip
    return table


def _lag(status: PipelineStatus) -> Table:
    table = Table(title="consumer lag on the events topic (records not yet committed)")
    partitions = sorted({p for lags in status.lag.values() for p in lags}, key=int)
    table.add_column("group")
    for partition in partitions:
        table.add_column(f"p{partition}", justify="right")
    table.add_column("total", justify="right")
    for group, lags in sorted(status.lag.items()):
        cells = [str(lags.get(p, 0)) for p in partitions]
        table.add_row(group, *cells, str(sum(lags.values())))
    return table


def _dead_letters(status: PipelineStatus) -> Table:
    table = Table(title="dead letters by reason")
    table.add_column("reason")
    table.add_column("count", justify="right")
    for reason, count in status.dead_letters.items():
        table.add_row(reason, str(count))
    table.add_row("total", str(sum(status.dead_letters.values())))
    return table
