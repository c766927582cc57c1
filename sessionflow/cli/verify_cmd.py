"""``sessionflow verify``: live state = a rebuilt version = a pure fold of the source."""

from __future__ import annotations

import asyncio
import json
from typing import Any

import click
from rich.console import Console
from rich.table import Table

from sessionflow.cli.checks import load_kafka
from sessionflow.cli.clickhouse_access import reading_client
from sessionflow.core.clickhouse import check_dsn
from sessionflow.core.config import load_settings
from sessionflow.core.errors import ConfigurationError
from sessionflow.core.gc_tuning import throughput_gc
from sessionflow.core.reachability import ensure_reachable
from sessionflow.core.settings import ClickHouseSettings, KafkaSettings, PathSettings
from sessionflow.core.topic_reader import partitions_of
from sessionflow.processors.promote import live_version
from sessionflow.processors.replay.clickhouse_source import ClickHouseSource
from sessionflow.processors.replay.sources import Source, StartAt, TopicSource
from sessionflow.processors.replay.verify import Difference, VerifyReport, verify
from sessionflow.processors.replay.versions import existing_versions, version_number
from sessionflow.processors.settings import ProcessorSettings


@click.command("verify")
@click.option("--version", default=None, help="Rebuilt version [default: the newest not live].")
@click.option("--source", "source_kind", type=click.Choice(["topic", "clickhouse"]),
              default="topic", show_default=True, help="What the pure fold reads.")  # fmt: skip
@click.option("--show", type=click.IntRange(1), default=3, show_default=True,
              help="Differing sessions to print.")  # fmt: skip
def verify_command(version: str | None, source_kind: str, show: int) -> None:
    """Compare live state, a rebuilt version and a pure fold of the source by digest, over
    the sessions the live version did not change after the rebuild's cut; exit 1 on a
    difference, printing the first differing sessions with both values."""
    if version is not None:
        version_number(version)  # one line for a malformed version
    kafka = load_kafka()
    settings = load_settings(ProcessorSettings)
    client = database = None
    if source_kind == "clickhouse":
        paths, clickhouse = load_settings(PathSettings), load_settings(ClickHouseSettings)
        check_dsn(clickhouse, paths)
        database = clickhouse.database
    asyncio.run(ensure_reachable(kafka))
    if source_kind == "clickhouse":
        client = reading_client()
    try:
        with throughput_gc():
            report = asyncio.run(_verify(kafka, settings, version, client, database))
    finally:
        if client is not None:
            client.close()
    _print(report, source_kind, show)
    if not report.equal:
        raise SystemExit(1)


async def _verify(
    kafka: KafkaSettings, settings: ProcessorSettings, version: str | None, client: Any,
    database: str | None,
) -> VerifyReport:  # fmt: skip
    live = (await live_version(kafka, settings)).version
    if version is None:
        others = sorted(await existing_versions(kafka, settings.app_id) - {live},
                        key=version_number)  # fmt: skip
        if not others:
            raise ConfigurationError("no rebuilt state version to verify; run `sessionflow replay`")
        version = others[-1]
    partitions = await partitions_of(kafka, kafka.topic)
    source: Source
    if client is None:
        source = TopicSource(kafka, StartAt(), batch_size=settings.batch_size)
    else:
        assert database is not None
        source = ClickHouseSource(client, database, kafka.topic, batch_size=settings.batch_size)
    return await verify(kafka, settings.app_id, version, live, source, len(partitions))


def _print(report: VerifyReport, source_kind: str, show: int) -> None:
    console = Console()
    cut = dict(sorted(report.cut.items()))
    table = Table(title=f"verify {report.version}: fold of the {source_kind} up to {cut}")
    for column in ("state", "sessions", "digest"):
        table.add_column(column)
    sessions, digests = report.sessions, report.digests
    rows = [
        ("fold", sessions["fold"], digests["fold"]),
        (f"rebuilt {report.version}", sessions["rebuilt"], digests["rebuilt"]),
        (
            "fold, on live's sessions",
            sessions["fold (live's sessions)"],
            digests["fold (live's sessions)"],
        ),
        (f"live {report.live}", sessions["live"], digests["live"]),
    ]
    for label, count, digest in rows:
        table.add_row(label, str(count), digest)
    console.print(table)
    console.print(f"live sessions changed after the cut (not compared): {report.live_moved_on}")
    if report.equal:
        console.print("[green]equal[/]: fold = rebuilt, and fold = live on the sessions compared")
        return
    console.print(f"[red]{len(report.differences)} sessions differ[/]; the first {show}:")
    for difference in report.differences[:show]:
        console.print(_difference(difference))


def _difference(d: Difference) -> str:
    if d.left_value is None or d.right_value is None:
        missing = d.left if d.left_value is None else d.right
        return f"{d.session_id}: missing in {missing}"
    fields = sorted(k for k in set(d.left_value) | set(d.right_value)
                    if d.left_value.get(k) != d.right_value.get(k))  # fmt: skip
    lines = [f"{d.session_id}:"]
    for name in fields:
        lines.append(f"  {name}: {d.left}={json.dumps(d.left_value.get(name), default=str)} "
                     f"{d.right}={json.dumps(d.right_value.get(name), default=str)}")  # fmt: skip
    return "\n".join(lines)
