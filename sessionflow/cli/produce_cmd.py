"""``sessionflow produce FILE.jsonl | -``: validate every line, then send the valid events."""

from __future__ import annotations

import asyncio
import sys
import time
from pathlib import Path

import click
from rich.console import Console

from sessionflow.cli.checks import load_kafka
from sessionflow.cli.progress import counts_table, send_with_progress
from sessionflow.core.config import load_settings
from sessionflow.core.settings import KafkaSettings
from sessionflow.producers.delivery import EncodedRecord
from sessionflow.producers.event_time import check_records
from sessionflow.producers.jsonl import JsonlBatch, JsonlError, JsonlReader, decode_text
from sessionflow.producers.settings import ProducerSettings
from sessionflow.producers.topics import topic_max_message_bytes

_SHOWN_INVALID = 20


def read_batch(data: bytes, name: str, source: str, settings: ProducerSettings) -> JsonlBatch:
    """Validate and encode every line of ``data``; lines too large for the producer rejected."""
    text = decode_text(data, name)
    batch = JsonlReader(source, int(time.time() * 1000)).read(text.split("\n"))
    batch.reject_oversized(settings.max_request_size, "SESSIONFLOW_PRODUCER_MAX_REQUEST_SIZE")
    return batch


def records_of(batch: JsonlBatch) -> list[EncodedRecord]:
    """The valid lines as records: keyed by session, stamped with the event's occurred_at."""
    return [EncodedRecord(v.event.session_id, v.value, v.timestamp_ms) for v in batch.valid]


def check_topic_limit(batch: JsonlBatch, kafka: KafkaSettings) -> None:
    """Reject lines over the topic's ``max.message.bytes`` (read from the broker)."""
    limit = asyncio.run(topic_max_message_bytes(kafka, kafka.topic))
    if limit is not None:
        batch.reject_oversized(limit, f"max.message.bytes of topic {kafka.topic}")


def fail_on_invalid(batch: JsonlBatch, name: str) -> None:
    """Raise :class:`JsonlError` if any line is invalid: one line names it, or lists a few.

    With several invalid lines, up to 20 are printed (one stderr line each) before the error.
    """
    bad = batch.invalid
    if len(bad) == 1:
        raise JsonlError(f"{name}: {bad[0]}; nothing sent (fix it, or --skip-invalid)")
    if bad:
        for line in bad[:_SHOWN_INVALID]:
            click.echo(f"{name}: {line}", err=True)
        more = f", {len(bad) - _SHOWN_INVALID} not shown" if len(bad) > _SHOWN_INVALID else ""
        raise JsonlError(
            f"{name}: {len(bad)} invalid lines{more}; nothing sent (fix them, or --skip-invalid)"
        )


def warn_skipped(batch: JsonlBatch, name: str) -> None:
    """One stderr line per skipped line (up to 20)."""
    for line in batch.invalid[:_SHOWN_INVALID]:
        click.echo(f"{name}: {line} (skipped)", err=True)


@click.command("produce")
@click.argument(
    "file",
    type=click.Path(exists=True, dir_okay=False, readable=True, allow_dash=True, path_type=Path),
)
@click.option("--skip-invalid", is_flag=True, help="Send the valid lines even if some are invalid.")
@click.option("--dry-run", is_flag=True, help="Validate and report, send nothing.")
@click.option("--source", default=None, help="Envelope source for lines without one [jsonl:FILE].")
def produce_command(file: Path, skip_invalid: bool, dry_run: bool, source: str | None) -> None:
    """Send the session events of a JSON Lines file (one envelope per line; - reads stdin).

    Every line is validated, and checked against the producer's and the topic's size limits,
    before anything is sent. A file with invalid lines sends nothing unless --skip-invalid;
    a file with no events is an error.
    """
    kafka = load_kafka()
    settings = load_settings(ProducerSettings)
    from_stdin = str(file) == "-"
    name = "stdin" if from_stdin else str(file)
    data = sys.stdin.buffer.read() if from_stdin else file.read_bytes()
    batch = read_batch(data, name, source or f"jsonl:{Path(name).name}", settings)
    if not skip_invalid:
        fail_on_invalid(batch, name)  # before any broker contact
    if batch.valid and not dry_run:
        check_records(records_of(batch))  # an event time the topic would refuse: one line
        check_topic_limit(batch, kafka)
        if not skip_invalid:
            fail_on_invalid(batch, name)
    if skip_invalid:
        warn_skipped(batch, name)
    if not batch.valid:
        skipped = f" ({len(batch.invalid)} invalid lines skipped)" if batch.invalid else ""
        raise JsonlError(f"{name}: no events to send{skipped}")
    console = Console()
    sent = 0
    if dry_run:
        console.print("dry run: nothing sent")
    else:
        records = records_of(batch)
        sent = asyncio.run(send_with_progress(records, kafka, settings, rate=0, console=console))
    console.print(counts_table("valid events by type", dict(batch.counts_by_type()), "events"))
    console.print(f"sent {sent}, rejected {len(batch.invalid)}, valid {len(batch.valid)}")
