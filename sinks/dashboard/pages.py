"""The sink's extra HTTP pages beside the query endpoint: ``/metrics``, ``/dashboard`` and
``/dashboard/data`` (the JSON the dashboard draws)."""

from __future__ import annotations

import asyncio
import json
from typing import Any

from sessionflow.core.metrics import CONTENT_TYPE, exposition
from sessionflow.core.settings import KafkaSettings
from sessionflow.sinks.dashboard import Rows, dashboard_data, page
from sessionflow.sinks.dashboard.lag import group_lag
from sessionflow.sinks.endpoint.server import Page
from sessionflow.sinks.metrics import sink_registry
from sessionflow.sinks.service import SinkService


def sink_pages(
    service: SinkService, kafka: KafkaSettings, processors_group: str | None
) -> dict[str, Page]:
    """The pages, reading ``service`` (its client under its lock) and Kafka."""
    registry = sink_registry(service.runner)

    async def metrics() -> tuple[bytes, str]:
        return exposition(registry), CONTENT_TYPE

    async def dashboard() -> tuple[bytes, str]:
        return page(), "text/html; charset=utf-8"

    def run_sql(sql: str) -> Rows:
        with service.lock:
            return list(service.client.query(sql).named_results())

    async def data() -> tuple[bytes, str]:
        lag = await _lag(service, kafka, processors_group)
        figures = await asyncio.to_thread(dashboard_data, run_sql, service.database, lag)
        return json.dumps(figures, default=str).encode(), "application/json"

    return {"/metrics": metrics, "/dashboard": dashboard, "/dashboard/data": data}


async def _lag(
    service: SinkService, kafka: KafkaSettings, processors_group: str | None
) -> list[dict[str, Any]]:
    per_topic: dict[str, int] = {}
    for (topic, _), lag in service.runner.lag().items():
        per_topic[topic] = per_topic.get(topic, 0) + lag
    group = service.settings.group_id
    rows: list[dict[str, Any]] = [
        {"group": group, "topic": topic, "lag": lag} for topic, lag in sorted(per_topic.items())
    ]
    if processors_group is not None:
        try:
            lag = await group_lag(kafka, processors_group, kafka.topic)
        except Exception as exc:
            rows.append({"group": processors_group, "topic": kafka.topic, "lag": f"({exc})"})
        else:
            rows.append({"group": processors_group, "topic": kafka.topic, "lag": lag})
    return rows
