"""``sessionflow kafka up|down|status|fetch``: the local development broker."""

from __future__ import annotations

import click

from sessionflow.cli.checks import checked_dirs
from sessionflow.core.config import load_settings, writable_dir
from sessionflow.core.local_kafka import LocalKafka, LocalKafkaSettings
from sessionflow.core.local_kafka.resolver import kafka_libs
from sessionflow.core.settings import PathSettings


def _broker(*, create: bool) -> LocalKafka:
    settings = load_settings(LocalKafkaSettings)
    return LocalKafka(settings, checked_dirs(load_settings(PathSettings), create=create))


@click.group()
def kafka() -> None:
    """Run a local Apache Kafka (KRaft) from Maven Central jars; no Docker needed."""


@kafka.command()
def up() -> None:
    """Resolve the jars, start the broker, wait until it serves metadata."""
    broker = _broker(create=True)
    was_running = broker.status().running
    status = broker.up()
    verb = "already running" if was_running else "started"
    click.echo(
        f"kafka {verb}: {status.bootstrap_servers} (pid {status.pid}, logs {status.log_file})"
    )


@kafka.command()
def fetch() -> None:
    """Resolve the Kafka jars with Maven into the cache (what `up` does first)."""
    settings = load_settings(LocalKafkaSettings)
    paths = load_settings(PathSettings)
    writable_dir(paths.cache_dir, "SESSIONFLOW_CACHE_DIR", create=True)
    libs = kafka_libs(paths.cache_dir, settings.version)
    click.echo(f"kafka {settings.version} jars ready in {libs}")


@kafka.command()
def down() -> None:
    """Stop the broker started by `up`."""
    broker = _broker(create=False)
    if broker.down():
        click.echo(f"kafka stopped ({broker.bootstrap_servers})")
    else:
        click.echo(f"kafka was not running ({broker.bootstrap_servers})")


@kafka.command()
def status() -> None:
    """Say whether the local broker runs; exit 1 if it does not."""
    state = _broker(create=False).status()
    if state.running:
        click.echo(f"kafka running: {state.bootstrap_servers} (pid {state.pid}, data {state.home})")
    else:
        click.echo(f"kafka not running ({state.bootstrap_servers}, data {state.home})")
        raise click.exceptions.Exit(1)
