"""Entry point of the ``sessionflow`` console script.

Each subcommand group lives in its own module and is registered here; settings are built
inside the commands (the entry point), never at import time.

Error contract of :func:`main`: whatever goes wrong ends as one line on stderr and a non-zero
exit code, never a traceback. A usage error (bad option value, missing file) exits 2, a
:class:`SessionflowError` or an ``OSError`` exits 1, Ctrl-C exits 130. An unexpected
exception is one line too, with a hint to rerun with ``-v``, which adds the traceback.
"""

from __future__ import annotations

import errno
import logging
import sys
import traceback
from typing import Any, NoReturn

import click

from sessionflow import __version__
from sessionflow.core.errors import SessionflowError

_CHATTY_LIBRARIES = ("aiokafka", "kafka")


def one_line(text: str) -> str:
    """``text`` with every run of whitespace (newlines included) collapsed to one space."""
    return " ".join(text.split())


class _Commands(click.Group):
    """The top group: a :class:`SessionflowError` or ``OSError`` becomes a ClickException.

    So the one-line message shows the same way under ``main`` and under ``click.testing``.
    """

    def invoke(self, ctx: click.Context) -> Any:
        """Run the subcommand; our errors become one-line click errors (exit code 1)."""
        try:
            return super().invoke(ctx)
        except SessionflowError as exc:
            raise click.ClickException(one_line(str(exc) or type(exc).__name__)) from exc
        except OSError as exc:
            if exc.errno == errno.EPIPE:  # click handles a closed stdout itself
                raise
            raise click.ClickException(one_line(str(exc) or type(exc).__name__)) from exc


@click.group(cls=_Commands)
@click.version_option(__version__, prog_name="sessionflow")
@click.option("-v", "--verbose", is_flag=True, help="Log at DEBUG level; tracebacks on errors.")
def cli(verbose: bool) -> None:
    """sessionflow: session events on Kafka, processed by faust, audited in ClickHouse."""
    logging.basicConfig(
        level=logging.DEBUG if verbose else logging.WARNING,
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    if not verbose:  # their connection errors reach the user as our one-line error instead
        for name in _CHATTY_LIBRARIES:
            logging.getLogger(name).setLevel(logging.CRITICAL + 1)


def _register() -> None:
    from sessionflow.cli.analyst_cmd import (
        audit_command,
        history_command,
        query_command,
        session_command,
        sessions_command,
    )
    from sessionflow.cli.demo_cmd import demo
    from sessionflow.cli.dlq_cmd import dlq
    from sessionflow.cli.kafka_cmd import kafka
    from sessionflow.cli.process_cmd import process_command
    from sessionflow.cli.produce_cmd import produce_command
    from sessionflow.cli.replay_cmd import replay_command
    from sessionflow.cli.schemas_cmd import schemas
    from sessionflow.cli.settings_cmd import settings_command
    from sessionflow.cli.simulate_cmd import simulate_command
    from sessionflow.cli.sink_cmd import db, sink_command
    from sessionflow.cli.state_cmd import state
    from sessionflow.cli.topics_cmd import topics
    from sessionflow.cli.up_cmd import down_command, status_command, up_command
    from sessionflow.cli.verify_cmd import verify_command

    cli.add_command(kafka)
    cli.add_command(settings_command)
    cli.add_command(demo)
    cli.add_command(topics)
    cli.add_command(schemas)
    cli.add_command(produce_command)
    cli.add_command(simulate_command)
    cli.add_command(process_command)
    cli.add_command(sink_command)
    cli.add_command(db)
    cli.add_command(up_command)
    cli.add_command(status_command)
    cli.add_command(down_command)
    cli.add_command(replay_command)
    cli.add_command(state)
    cli.add_command(verify_command)
    cli.add_command(dlq)
    for command in (
        sessions_command,
        session_command,
        audit_command,
        history_command,
        query_command,
    ):
        cli.add_command(command)


_register()


def _fail(message: str, code: int) -> NoReturn:
    click.echo(f"error: {one_line(message)}", err=True)
    sys.exit(code)


def _usage_message(exc: click.UsageError) -> str:
    command = exc.ctx.command_path if exc.ctx is not None else "sessionflow"
    return f"{exc.format_message()} (see `{command} --help`)"


def main(argv: list[str] | None = None) -> None:
    """Run the CLI with the error contract of the module docstring."""
    try:
        code = cli.main(args=argv, standalone_mode=False)
    except (click.exceptions.Abort, KeyboardInterrupt):
        click.echo("aborted", err=True)
        sys.exit(130)
    except click.UsageError as exc:
        _fail(_usage_message(exc), exc.exit_code)
    except click.ClickException as exc:
        _fail(exc.format_message(), exc.exit_code)
    except SessionflowError as exc:
        _fail(str(exc) or type(exc).__name__, 1)
    except OSError as exc:
        _fail(str(exc) or type(exc).__name__, 1)
    except Exception as exc:  # a bug or an unforeseen failure: still one line by default
        if logging.getLogger().isEnabledFor(logging.DEBUG):
            traceback.print_exc()
        hint = "rerun as `sessionflow -v ...` for the traceback"
        _fail(f"unexpected {type(exc).__name__}: {exc} ({hint})", 1)
    # standalone_mode=False returns the code of a click.exceptions.Exit instead of exiting
    sys.exit(code if isinstance(code, int) else 0)
