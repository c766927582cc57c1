"""``sessionflow schemas check``: can the current reader read every published version?"""

from __future__ import annotations

from pathlib import Path

import click

from sessionflow.schemas.codec import EventCodec
from sessionflow.schemas.compat import check_backward_transitive
from sessionflow.schemas.golden import golden_problems, load_golden
from sessionflow.schemas.registry import load_published


@click.group()
def schemas() -> None:
    """Inspect the event contract (Avro schemas under schemas/avsc/v<N>/)."""


@schemas.command()
@click.option(
    "--avsc-dir",
    type=click.Path(exists=True, file_okay=False, path_type=Path),
    help="Check these version directories instead of the installed ones (e.g. a candidate).",
)
def check(avsc_dir: Path | None) -> None:
    """Report per version whether the current reader reads it; exit 1 on any incompatibility.

    Two checks per version: the Avro schema-resolution rules (static), and decoding the
    version's committed golden vectors with the current reader.
    """
    versions = load_published(avsc_dir)
    codec = EventCodec(versions)
    reader = codec.current
    click.echo(f"reader: v{reader.version} (fingerprint {reader.fingerprint.hex()})")
    failed = 0
    for report, item in zip(check_backward_transitive(versions), versions, strict=True):
        problems = list(report.problems)
        vectors = [v for v in load_golden(item.version) if v.message[2:10] == item.fingerprint]
        problems += golden_problems(codec, vectors)
        status = "ok" if not problems else "INCOMPATIBLE"
        click.echo(
            f"v{item.version}  {item.fingerprint.hex()}  {status}"
            f"  ({len(vectors)} golden vectors decoded)"
        )
        for problem in problems:
            click.echo(f"    - {problem}")
        failed += bool(problems)
    if failed:
        click.echo(f"{failed} version(s) not readable by v{reader.version}", err=True)
        raise click.exceptions.Exit(1)
