"""``sessionflow produce FILE.jsonl | -``: validate every line, then send the valid events."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path
from typing import TextIO

import click
from rich.console import Console

from sessionflow.cli.progress import counts_table, send_with_progress
from sessionflow.core.settings import KafkaSettings
from sessionflow.producers.delivery import EncodedRecord
from sessionflow.producers.event_time import check_records
from sessionflow.producers.jsonl import JsonlBatch, JsonlReader
from sessionflow.producers.settings import ProducerSettings
from sessionflow.schemas import EventCodec


def read_batch(stream: TextIO, source: str) -> JsonlBatch:
    """Validate every line of ``stream`` (events default to ``source``)."""
    return JsonlReader(source, int(time.time() * 1000)).read(stream)


@click.command("produce")
@click.argument("file", type=click.Path(allow_dash=True, dir_okay=False, path_type=Path))
@click.option("--skip-invalid", is_flag=True, help="Send the valid lines even if some are invalid.")
@click.option("--dry-run", is_flag=True, help="Validate and report, send nothing.")
@click.option("--source", default=None, help="Envelope source for lines without one [jsonl:FILE].")
def produce_command(file: Path, skip_invalid: bool, dry_run: bool, source: str | None) -> None:
    """Send the session events of a JSON Lines file (one envelope per line; - reads stdin).

    Every line is validated before anything is sent. A file with invalid lines sends
    nothing unless --skip-invalid.
    """
    console = Console()
    default_source = source or f"jsonl:{'stdin' if str(file) == '-' else file.name}"
    if str(file) == "-":
        batch = read_batch(sys.stdin, default_source)
    else:
        with file.open(encoding="utf-8") as stream:
            batch = read_batch(stream, default_source)
    for bad in batch.invalid:
        click.echo(f"{file}: {bad}", err=True)  # one line each, never wrapped
    if batch.invalid and not skip_invalid:
        click.echo(
            f"{len(batch.invalid)} invalid line(s): nothing sent (fix them, or --skip-invalid)",
            err=True,
        )
        raise SystemExit(1)
    sent = 0
    if dry_run:
        console.print("dry run: nothing sent")
    elif batch.events:
        kafka = KafkaSettings()
        codec = EventCodec()
        records = [EncodedRecord.of(e, codec.encode) for e in batch.events]
        check_records(records)  # an event time the topic would refuse: one line, nothing sent
        sent = asyncio.run(
            send_with_progress(records, kafka, ProducerSettings(), rate=0, console=console)
        )
    console.print(counts_table("valid events by type", dict(batch.counts_by_type()), "events"))
    console.print(f"sent {sent}, rejected {len(batch.invalid)}, valid {len(batch.events)}")
