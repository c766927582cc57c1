"""``sessionflow state``: the processors' session state and its versions.

``state current`` prints the state version the workers run on; ``state promote VERSION``
switches the live workers to a rebuilt version (see :mod:`sessionflow.processors.promote`).
"""

from __future__ import annotations

import asyncio
import re
from collections.abc import Mapping

import click

from sessionflow.cli.checks import load_kafka
from sessionflow.cli.state_show import show_command
from sessionflow.core.config import load_settings
from sessionflow.core.reachability import ensure_reachable
from sessionflow.core.settings import KafkaSettings
from sessionflow.processors.promote import live_version, promote
from sessionflow.processors.settings import ProcessorSettings

_VERSION = r"^v[0-9]+$"


class _StateGroup(click.Group):
    """``state SESSION_ID ...`` is ``state show SESSION_ID ...``."""

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        if args and args[0] not in self.commands and not args[0].startswith("-"):
            args = ["show", *args]
        return super().resolve_command(ctx, args)


@click.group("state", cls=_StateGroup)
def state() -> None:
    """Session state of the processors and its versions.

    A state version (v1, v2 ...) is one consumer group with its own changelog; `sessionflow
    replay` rebuilds a new one beside the live one, `state promote` makes the workers run on
    it, `state current` shows which one they run on. `state SESSION_ID --at TIME` (or
    `state show ...`) folds one session's state as of a time or a sequence number.
    """


state.add_command(show_command)


@state.command("current")
def current_command() -> None:
    """Print the state version the workers run on (and since when)."""
    kafka = load_kafka()
    settings = load_settings(ProcessorSettings)
    asyncio.run(ensure_reachable(kafka))
    click.echo(asyncio.run(live_version(kafka, settings)).describe())


async def _catch_up(
    kafka: KafkaSettings, settings: ProcessorSettings, version: str, until: Mapping[int, int]
) -> int:
    """The replay engine's catch-up, loaded only once a promote gets that far."""
    from sessionflow.processors.replay.rebuild import catch_up

    return await catch_up(kafka, settings, version, until)


def _version(ctx: click.Context, param: click.Parameter, value: str) -> str:
    if re.fullmatch(_VERSION, value) is None:
        raise click.BadParameter(f"{value!r} is not a state version like v2", ctx, param)
    return value


@state.command("promote")
@click.argument("version", callback=_version)
@click.option(
    "--timeout",
    type=click.FloatRange(1),
    default=120.0,
    show_default=True,
    help="Seconds to wait for the workers on the live version to stop (then roll back).",
)
def promote_command(version: str, timeout: float) -> None:
    """Make the live workers restart on VERSION, rebuilt by `sessionflow replay`.

    The workers stop cleanly, VERSION is caught up to where they stopped, and they restart
    on it: no event is processed twice or skipped. Refused (nothing changed) for a version
    never rebuilt or already live; rolled back if the workers do not stop within --timeout
    or on Ctrl-C.
    """
    kafka = load_kafka()
    settings = load_settings(ProcessorSettings)
    asyncio.run(ensure_reachable(kafka))

    def say(line: str) -> None:
        click.echo(line, err=True)

    outcome = asyncio.run(
        promote(kafka, settings, version, timeout_s=timeout, catch_up=_catch_up, say=say)
    )
    if outcome.previous == outcome.version:
        click.echo(f"{outcome.version} is live")
        return
    click.echo(
        f"promoted {outcome.previous} -> {outcome.version}: {outcome.folded} events caught up, "
        f"workers drained in {outcome.drained_s:.1f}s; they continue on {outcome.version} from "
        f"offsets {dict(sorted(outcome.until.items()))}"
    )
