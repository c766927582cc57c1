"""Entry point of the ``sessionflow`` console script.

Each subcommand group lives in its own module and is registered here; settings are built
inside the commands (the entry point), never at import time.
"""

from __future__ import annotations

import logging
import sys

import click

from sessionflow import __version__
from sessionflow.core.errors import SessionflowError


@click.group()
@click.version_option(__version__, prog_name="sessionflow")
@click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG level.")
def cli(verbose: bool) -> None:
    """sessionflow: session events on Kafka, processed by faust, audited in ClickHouse."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )


def _register() -> None:
    from sessionflow.cli.demo_cmd import demo
    from sessionflow.cli.kafka_cmd import kafka
    from sessionflow.cli.process_cmd import process_command
    from sessionflow.cli.produce_cmd import produce_command
    from sessionflow.cli.schemas_cmd import schemas
    from sessionflow.cli.settings_cmd import settings_command
    from sessionflow.cli.simulate_cmd import simulate_command
    from sessionflow.cli.topics_cmd import topics

    cli.add_command(kafka)
    cli.add_command(settings_command)
    cli.add_command(demo)
    cli.add_command(topics)
    cli.add_command(schemas)
    cli.add_command(produce_command)
    cli.add_command(simulate_command)
    cli.add_command(process_command)


_register()


def main() -> None:
    """Run the CLI; a :class:`SessionflowError` becomes one line on stderr and exit code 1."""
    try:
        cli.main(standalone_mode=False)
    except click.exceptions.Abort:
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.ClickException as exc:
        exc.show()
        sys.exit(exc.exit_code)
    except click.exceptions.Exit as exc:
        sys.exit(exc.exit_code)
    except SessionflowError as exc:
        click.echo(f"error: {exc}", err=True)
        sys.exit(1)
