"""Shared pieces of the bulk commands: a progress bar and the per-type summary table."""

from __future__ import annotations

from collections.abc import Mapping

from rich.console import Console
from rich.progress import (
    BarColumn,
    MofNCompleteColumn,
    Progress,
    TaskProgressColumn,
    TextColumn,
    TimeElapsedColumn,
)
from rich.table import Table


def send_progress(console: Console) -> Progress:
    """A progress bar counting acknowledged records."""
    return Progress(
        TextColumn("[bold]{task.description}"),
        BarColumn(),
        MofNCompleteColumn(),
        TaskProgressColumn(),
        TimeElapsedColumn(),
        console=console,
        transient=False,
    )


def counts_table(title: str, counts: Mapping[str, int], total_label: str = "total") -> Table:
    """A two-column table of counts, sorted by name, with a total row."""
    table = Table(title=title, show_footer=True)
    table.add_column("kind", footer=total_label)
    table.add_column("count", justify="right", footer=str(sum(counts.values())))
    for name in sorted(counts):
        table.add_row(name, str(counts[name]))
    return table
