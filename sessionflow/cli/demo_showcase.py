"""The demo's ClickHouse part: wait until the sink stored everything, check its counts against
Kafka's and the processors', run five of the README's analyst queries through the sink's
query endpoint (the way an analyst's tool would), and list the URLs to open."""

from __future__ import annotations

import asyncio
import json
import urllib.request
from collections.abc import Callable
from typing import Any
from urllib.parse import urlparse

import clickhouse_connect
from rich.console import Console
from rich.table import Table

from sessionflow.cli.demo_processing import wait_until
from sessionflow.cli.figures import Figure, check_table
from sessionflow.cli.pipeline_status import topic_lags
from sessionflow.cli.up_cmd import PipelineSettings
from sessionflow.core.config import load_settings
from sessionflow.core.settings import ClickHouseSettings, KafkaSettings
from sessionflow.core.topic_reader import offset_bounds
from sessionflow.sinks.settings import SinkSettings

SHOWCASE_QUERIES: tuple[tuple[str, str], ...] = (
    ("Sessions by status",
     "SELECT status, count() AS sessions FROM sessions_current GROUP BY status ORDER BY status"),
    ("Dead letters by reason",
     "SELECT reason, count() AS dead_letters FROM dead_letters GROUP BY reason ORDER BY reason"),
    ("Tool calls per tool",
     "SELECT tool_name, count() AS calls FROM tool_calls_current GROUP BY tool_name "
     "ORDER BY calls DESC, tool_name"),
    ("Tokens per user",
     "SELECT user_id, sum(total_tokens) AS tokens FROM session_stats_current GROUP BY user_id "
     "ORDER BY user_id"),
    ("Errors by code",
     "SELECT code, sum(n) AS errors FROM session_stats_current ARRAY JOIN "
     "mapKeys(errors_by_code) AS code, mapValues(errors_by_code) AS n GROUP BY code ORDER BY code"),
)  # fmt: skip
"""Five of the README's ten analyst queries (a test checks they are the README's own)."""

_WAIT_S = 180.0


def showcase(
    console: Console, kafka: KafkaSettings, pipeline: PipelineSettings, state: dict[str, Any]
) -> list[Figure]:
    """Wait for the sink, print ClickHouse's figures and the queries; the figures."""
    sink_group = load_settings(SinkSettings).group_id
    _wait(lambda: _sink_lag(kafka, sink_group) == 0, f"the sink ({sink_group}) to catch up")
    client = _endpoint_client(state["urls"]["sink clickhouse"])
    try:
        sessions = _processor_sessions(state["urls"]["processor-0 state_api"])
        _wait(lambda: _count(client, "sessions_current") == sessions,
              "the sink to store every session's state")  # fmt: skip
        rows = [
            Figure("records in events (Kafka: on the topic)",
                   asyncio.run(_records(kafka, kafka.topic)), _count(client, "events")),
            Figure("dead letters (Kafka: on the DLQ)",
                   asyncio.run(_records(kafka, kafka.dlq_topic)), _count(client, "dead_letters")),
            Figure("current sessions (processors' state)", sessions,
                   _count(client, "sessions_current")),
        ]  # fmt: skip
        console.print(check_table(rows, "ClickHouse vs Kafka and the processors"))
        for title, sql in SHOWCASE_QUERIES:
            console.print(f"\n[bold]{title}[/]: [dim]{sql}[/]")
            console.print(_result_table(client.query(sql)))
    finally:
        client.close()
    return rows


def urls_text(state: dict[str, Any]) -> str:
    """Where to look next, and how to stop."""
    lines = ["[green]done[/]: the pipeline stays up for exploring:"]
    lines += [f"  {name}: {url}" for name, url in sorted(state.get("urls", {}).items())]
    lines.append("  `sessionflow status` shows it; `sessionflow down` (`make down`) stops it")
    return "\n".join(lines)


def _endpoint_client(url: str) -> Any:
    """clickhouse-connect's ``http://`` client on the sink's read-only endpoint."""
    parsed = urlparse(url)
    database = load_settings(ClickHouseSettings).database
    return clickhouse_connect.get_client(
        host=parsed.hostname, port=parsed.port, database=database, autogenerate_session_id=False
    )


def _count(client: Any, table: str) -> int:
    return int(client.query(f"SELECT count() FROM {table}").result_rows[0][0])


def _result_table(result: Any, limit: int = 8) -> Table:
    table = Table()
    for name in result.column_names:
        table.add_column(name)
    for row in result.result_rows[:limit]:
        table.add_row(*(str(value) for value in row))
    if len(result.result_rows) > limit:
        table.add_row(*(["…"] * len(result.column_names)))
    return table


async def _records(kafka: KafkaSettings, topic: str) -> int:
    starts, ends = await offset_bounds(kafka, topic)
    return sum(ends[p] - starts[p] for p in ends)


def _sink_lag(kafka: KafkaSettings, group: str) -> int:
    lags = asyncio.run(topic_lags(kafka, [kafka.topic, kafka.dlq_topic], [group]))
    return sum(lags[group].values())


def _processor_sessions(url: str) -> int:
    with urllib.request.urlopen(f"{url}/stats", timeout=10) as response:
        return int(json.loads(response.read())["sessions"])


def _wait(condition: Callable[[], bool], what: str) -> None:
    wait_until(condition, _WAIT_S, what)
