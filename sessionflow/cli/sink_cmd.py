"""``sessionflow sink`` and ``sessionflow db migrate``: the audit, state and dead letters in
ClickHouse.

The sink reads the events topic, the processors' state stream (the changelog of their
session table, ``<app id>-<state version>-sessions-changelog``) and the dead-letter topic,
and writes them to ClickHouse exactly once (see ``docs/sink.md``).
"""

from __future__ import annotations

import asyncio
import contextlib
import signal
from typing import Any

import click

from sessionflow.cli.checks import load_kafka
from sessionflow.core.clickhouse import check_dsn, open_client
from sessionflow.core.config import load_settings
from sessionflow.core.gc_tuning import throughput_gc
from sessionflow.core.lifecycle import restart_process
from sessionflow.core.reachability import ensure_reachable
from sessionflow.core.settings import ClickHouseSettings, KafkaSettings, PathSettings
from sessionflow.processors.promote import live_version
from sessionflow.processors.settings import ProcessorSettings
from sessionflow.schemas.state_codec import state_topic
from sessionflow.sinks.clickhouse.migrate import prepare
from sessionflow.sinks.dashboard.pages import sink_pages
from sessionflow.sinks.endpoint import EndpointSettings, QueryEndpoint
from sessionflow.sinks.service import SinkService, SinkTopics
from sessionflow.sinks.settings import SinkSettings

_VERSION_POLL_S = 5.0


@click.command("sink")
@click.option(
    "--http-port",
    type=click.IntRange(0, 65535),
    default=None,
    help="Port of the read-only query endpoint [SESSIONFLOW_SINK_HTTP_PORT].",
)
@click.option("--no-http", is_flag=True, help="Do not serve the query endpoint.")
def sink_command(http_port: int | None, no_http: bool) -> None:
    """Write session-events, the state stream and the dead letters to ClickHouse, and serve
    a read-only ClickHouse-compatible HTTP endpoint for analysts meanwhile."""
    kafka = load_kafka()
    paths = load_settings(PathSettings)
    clickhouse = load_settings(ClickHouseSettings)
    settings = load_settings(SinkSettings)
    processors = load_settings(ProcessorSettings)
    endpoint = None if no_http else load_settings(EndpointSettings)
    if endpoint is not None and http_port is not None:
        endpoint = endpoint.model_copy(update={"port": http_port})
    check_dsn(clickhouse, paths)
    asyncio.run(ensure_reachable(kafka))
    live = asyncio.run(live_version(kafka, processors)).version
    processors = processors.model_copy(update={"state_version": live})
    topics = SinkTopics(
        kafka.topic, state_topic(processors.faust_id) if settings.state else None, kafka.dlq_topic
    )
    client = open_client(clickhouse, paths)
    try:
        with throughput_gc():
            switched = asyncio.run(
                _run(kafka, settings, client, clickhouse.database, topics, endpoint, processors)
            )
    finally:
        client.close()
    if switched:
        click.echo("sink: the processors run on another state version now; restarting", err=True)
        restart_process()


async def _run(
    kafka: KafkaSettings,
    settings: SinkSettings,
    client: Any,
    database: str,
    topics: SinkTopics,
    endpoint: EndpointSettings | None,
    processors: ProcessorSettings,
) -> bool:
    """Run until a signal or a failure; True when it stopped because the live state version
    changed (the caller restarts, reading the new version's state stream)."""
    stop = asyncio.Event()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGINT, signal.SIGTERM):
        loop.add_signal_handler(signum, stop.set)
    async with contextlib.AsyncExitStack() as stack:
        service = await stack.enter_async_context(
            SinkService(kafka, settings, client, database, topics)
        )
        if endpoint is not None:
            pages = sink_pages(service, kafka, processors.faust_id)
            server = QueryEndpoint(client, endpoint, default_database=database, pages=pages)
            await stack.enter_async_context(server)
            click.echo(f"sink: read-only ClickHouse HTTP endpoint on {server.url}", err=True)
        report = service.migration
        applied = ", ".join(f"{v:04d}" for v in report.applied) if report else ""
        click.echo(
            f"sink: {', '.join(service.destination.topics())} -> ClickHouse database "
            f"{database}" + (f" (migrations applied: {applied})" if applied else ""),
            err=True,
        )
        failed = asyncio.create_task(service.wait())
        stopped = asyncio.create_task(stop.wait())
        switched = asyncio.create_task(_version_changes(kafka, processors))
        await asyncio.wait({failed, stopped, switched}, return_when=asyncio.FIRST_COMPLETED)
        stopped.cancel()
        if failed.done():
            failed.result()  # raises the loop's error
        failed.cancel()
        if not switched.done():
            switched.cancel()
    click.echo(f"sink: stopped after {service.stats.rows:,} rows", err=True)
    return switched.done() and not switched.cancelled()


async def _version_changes(kafka: KafkaSettings, processors: ProcessorSettings) -> None:
    """Return once the processors' live state version is no longer ``processors``'."""
    while True:
        await asyncio.sleep(_VERSION_POLL_S)  # the control record is read on a timer
        try:
            live = await live_version(kafka, processors)
        except Exception:
            continue
        if live.version != processors.state_version:
            return


@click.group("db")
def db() -> None:
    """ClickHouse schema of the sink."""


@db.command("migrate")
def migrate_command() -> None:
    """Create or update the tables and views (idempotent; the sink also runs it)."""
    paths = load_settings(PathSettings)
    clickhouse = load_settings(ClickHouseSettings)
    settings = load_settings(SinkSettings)
    check_dsn(clickhouse, paths)
    client = open_client(clickhouse, paths)
    try:
        report = prepare(
            client, clickhouse.database, settings.retention_days, settings.price_table()
        )
    finally:
        client.close()
    applied = ", ".join(f"{v:04d}" for v in report.applied) or "none (up to date)"
    click.echo(f"database {clickhouse.database}: migrations applied: {applied}")
    if report.retention_changed:
        click.echo(f"retention set to {settings.retention_days} days")
