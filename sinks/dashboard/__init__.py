"""The live dashboard the sink serves (``/dashboard``), fed from ClickHouse and Kafka.

:func:`dashboard_data` runs a handful of read-only queries (events per minute by type, the
sessions' current state, pending approvals, dead letters by reason, tool latency quantiles,
tokens and cost per model) and adds consumer lag per group; the page (``page.html``, plain
HTML/CSS/JS, no CDN, works offline) fetches it every few seconds and draws it.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from importlib import resources
from typing import Any

Rows = list[dict[str, Any]]
RunSql = Callable[[str], Rows]
"""Runs one SELECT; rows as dicts."""

QUERIES: Mapping[str, str] = {
    "totals": """
        SELECT
          (SELECT count() FROM {db}.events) AS records,
          (SELECT count() FROM {db}.sessions_current) AS sessions,
          (SELECT countIf(status = 'ACTIVE') FROM {db}.sessions_current) AS active_sessions,
          (SELECT countIf(status = 'PENDING') FROM {db}.tool_calls_current) AS pending_approvals,
          (SELECT count() FROM {db}.dead_letters) AS dead_letters""",
    "events_per_minute": """
        SELECT toString(minute) AS at, event_type, toInt64(sum(events)) AS events
        FROM {db}.events_per_minute
        WHERE minute >= (SELECT max(minute) FROM {db}.events_per_minute) - INTERVAL 29 MINUTE
        GROUP BY minute, event_type ORDER BY minute, event_type""",
    "events_by_type": """
        SELECT event_type, toInt64(sum(events)) AS events
        FROM {db}.events_per_minute GROUP BY event_type ORDER BY event_type""",
    "dead_letters": """
        SELECT reason, toInt64(count()) AS count FROM {db}.dead_letters
        GROUP BY reason ORDER BY reason""",
    "tool_latency": """
        SELECT tool_name, toInt64(countMerge(calls)) AS calls,
               quantilesMerge(0.5, 0.9, 0.99)(latency_ms) AS q
        FROM {db}.tool_latency GROUP BY tool_name ORDER BY tool_name""",
    "tokens": """
        SELECT model, toInt64(sum(prompt_tokens)) AS prompt_tokens,
               toInt64(sum(completion_tokens)) AS completion_tokens,
               toInt64(sum(total_tokens)) AS total_tokens, round(sum(cost), 6) AS cost
        FROM {db}.cost_daily GROUP BY model ORDER BY model""",
}


def dashboard_data(
    run_sql: RunSql, database: str, lag: Sequence[Mapping[str, Any]]
) -> dict[str, Any]:
    """Everything the page shows, as JSON-ready data (``lag``: rows of group/topic/lag)."""
    data: dict[str, Any] = {name: run_sql(sql.format(db=database)) for name, sql in QUERIES.items()}
    data["totals"] = data["totals"][0] if data["totals"] else {}
    for row in data["tool_latency"]:
        p50, p90, p99 = (round(float(v), 1) for v in row.pop("q"))
        row.update(p50_ms=p50, p90_ms=p90, p99_ms=p99)
    data["lag"] = [dict(row) for row in lag]
    return data


def page() -> bytes:
    """The dashboard page (self-contained HTML)."""
    return resources.files(__package__).joinpath("page.html").read_bytes()
