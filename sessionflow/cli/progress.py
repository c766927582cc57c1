"""Shared pieces of the bulk commands: sending with a progress bar, summary tables."""

from __future__ import annotations

from collections.abc import Mapping, Sequence

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

from sessionflow.core.settings import KafkaSettings
from sessionflow.producers.delivery import EncodedRecord
from sessionflow.producers.pacing import send_paced
from sessionflow.producers.sdk import SessionEventProducer
from sessionflow.producers.settings import ProducerSettings


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


async def send_with_progress(
    records: Sequence[EncodedRecord],
    kafka: KafkaSettings,
    settings: ProducerSettings,
    *,
    rate: float,
    console: Console,
) -> int:
    """Send ``records`` in order with a progress bar; returns how many the broker acknowledged."""
    async with SessionEventProducer(kafka, settings) as producer:
        with send_progress(console) as progress:
            task = progress.add_task(f"sending to {kafka.topic}", total=len(records))
            return await send_paced(
                producer, records, rate=rate, on_acked=lambda n: progress.advance(task, n)
            )
