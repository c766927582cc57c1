"""``sessionflow process``: run processor workers (faust) in the foreground.

One worker runs in this process; ``--workers N`` starts N worker processes (ports
``--web-port``, +1, ...; stores under the data dir, one per worker) and supervises them:
Ctrl-C or SIGTERM stops them all cleanly.

A worker runs on the state version of the control record (``sessionflow state current``);
when ``sessionflow state promote`` changes it, the worker stops cleanly and its process
restarts itself (``exec`` of the same command line: same pid, the supervisor sees nothing).
"""

from __future__ import annotations

import asyncio
import os
import signal
import subprocess
import sys
import time
from types import FrameType

import click

from sessionflow.cli.checks import checked_dirs, load_kafka
from sessionflow.core.config import load_settings
from sessionflow.core.reachability import ensure_reachable
from sessionflow.core.settings import PathSettings
from sessionflow.processors.plugins.registry import PluginRegistry
from sessionflow.processors.settings import ProcessorSettings
from sessionflow.processors.worker import (
    build_worker,
    default_identity,
    describe_layout,
    resolve_version,
    run_worker,
    use_fast_event_loop,
)


@click.command("process")
@click.option(
    "--workers",
    type=click.IntRange(1, 64),
    default=1,
    show_default=True,
    help="Worker processes to run (partitions are shared among them).",
)
@click.option(
    "--web-port",
    type=click.IntRange(1, 65535),
    default=None,
    help="Port of the first worker's state API [SESSIONFLOW_PROCESSOR_WEB_PORT].",
)
@click.option("--worker-index", type=click.IntRange(0), default=0, hidden=True)
@click.pass_context
def process_command(
    ctx: click.Context, workers: int, web_port: int | None, worker_index: int
) -> None:
    """Fold session-events into session state, statistics and dead letters; run plugins."""
    use_fast_event_loop()  # before anything makes a loop: see its docstring
    kafka = load_kafka()
    paths = checked_dirs(load_settings(PathSettings), create=False)
    settings = load_settings(ProcessorSettings)
    if web_port is not None:
        settings = settings.model_copy(update={"web_port": web_port})
    registry = PluginRegistry.from_entry_points(
        settings.enabled_plugins(), settings.disabled_plugins()
    )
    asyncio.run(ensure_reachable(kafka))  # refused, TLS, SASL: one precise line
    layout = asyncio.run(describe_layout(kafka))
    verbose = bool(ctx.find_root().params.get("verbose"))
    if workers > 1:
        raise SystemExit(_supervise(workers, settings.web_port, verbose))

    def say(line: str) -> None:
        click.echo(f"worker {worker_index}: {line}", err=True)

    settings = asyncio.run(resolve_version(kafka, settings, say))
    identity = default_identity(paths.data_dir, settings, worker_index)
    identity.data_dir.mkdir(parents=True, exist_ok=True)
    click.echo(
        f"worker {worker_index}: {kafka.topic} ({layout.partitions} partitions), state "
        f"{settings.state_version} -> "
        f"state API http://{settings.web_host}:{identity.web_port}; "
        f"plugins: {', '.join(registry.names) or 'none'}",
        err=True,
    )
    run_worker(build_worker(kafka, settings, identity, registry, layout), verbose=verbose)


def _supervise(workers: int, first_port: int, verbose: bool) -> int:
    """Run ``workers`` worker processes; stop them all on SIGINT/SIGTERM or when one fails."""
    base = [sys.executable, "-m", "sessionflow.cli", *(["-v"] if verbose else []), "process"]
    children = [
        subprocess.Popen([*base, "--worker-index", str(i), "--web-port", str(first_port + i)])
        for i in range(workers)
    ]
    stopping = False

    def stop(signum: int, frame: FrameType | None) -> None:
        nonlocal stopping
        stopping = True

    signal.signal(signal.SIGINT, stop)
    signal.signal(signal.SIGTERM, stop)
    while not stopping and all(child.poll() is None for child in children):
        time.sleep(0.2)  # polling the children and the stop flag, not synchronisation
    for child in children:
        if child.poll() is None:
            os.kill(child.pid, signal.SIGTERM)
    codes = [child.wait() for child in children]
    return 0 if stopping else max(abs(code) for code in codes)
