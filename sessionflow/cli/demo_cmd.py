"""``sessionflow demo``: bring the infrastructure up and run the pipeline end to end.

Uses the configured Kafka (``KAFKA_BOOTSTRAP_SERVERS``) or starts the local broker, and the
configured ClickHouse (``CLICKHOUSE_DSN``) or the embedded engine under the data dir.
"""

from __future__ import annotations

from dataclasses import dataclass

import click
from rich.console import Console

from sessionflow.clickhouse import open_client
from sessionflow.local_kafka import LocalKafka, LocalKafkaSettings
from sessionflow.settings import ClickHouseSettings, KafkaSettings, PathSettings


@dataclass(frozen=True)
class DemoContext:
    """Settings built once by the demo's entry point and passed to every step."""

    kafka: KafkaSettings
    clickhouse: ClickHouseSettings
    paths: PathSettings
    console: Console


def ensure_kafka(ctx: DemoContext) -> KafkaSettings:
    """The configured broker, or the local one started now; returns the settings to use."""
    if "bootstrap_servers" in ctx.kafka.model_fields_set:
        ctx.console.print(f"[bold]kafka[/]: using {ctx.kafka.bootstrap_servers} (configured)")
        return ctx.kafka
    local = LocalKafkaSettings()
    status = LocalKafka(local, ctx.paths).up()
    ctx.console.print(
        f"[bold]kafka[/]: local broker at {status.bootstrap_servers} (pid {status.pid})"
    )
    return ctx.kafka.model_copy(update={"bootstrap_servers": status.bootstrap_servers})


def ensure_clickhouse(ctx: DemoContext) -> None:
    """Open ClickHouse, create the database, report the engine version."""
    client = open_client(ctx.clickhouse, ctx.paths)
    try:
        version = client.query("SELECT version()").result_rows[0][0]
    finally:
        client.close()
    target = "configured server" if ctx.clickhouse.dsn else "embedded chdb"
    ctx.console.print(
        f"[bold]clickhouse[/]: {target} {version}, database {ctx.clickhouse.database}"
    )


@click.command()
def demo() -> None:
    """Set up Kafka and ClickHouse and run what the pipeline has, end to end."""
    ctx = DemoContext(KafkaSettings(), ClickHouseSettings(), PathSettings(), Console())
    ensure_kafka(ctx)
    ensure_clickhouse(ctx)
    ctx.console.print("[green]infrastructure ready[/]")
