"""The environment of a whole pipeline (``sessionflow up``) of a test's own."""

from __future__ import annotations

import os
from pathlib import Path

from sessionflow.core.settings import KafkaSettings
from sessionflow.testing import kafka_env
from sessionflow.testing.kafka import free_ports


def pipeline_environment(kafka: KafkaSettings, work: Path, **extra: str) -> dict[str, str]:
    """Environment for ``sessionflow`` children: ``kafka``'s broker and topics, a data dir
    under ``work``, free ports, a processor app id and sink group named after the topic, the
    embedded ClickHouse; no other ``SESSIONFLOW_*`` setting of the caller leaks in."""
    processor_port, sink_port = free_ports(2)
    env = {
        key: value
        for key, value in os.environ.items()
        if not key.startswith("SESSIONFLOW_") or key == "SESSIONFLOW_CACHE_DIR"
    }
    env.pop("CLICKHOUSE_DSN", None)
    env.update(kafka_env(kafka))
    env.update(
        SESSIONFLOW_DATA_DIR=str(work / "data"),
        SESSIONFLOW_PROCESSOR_WEB_PORT=str(processor_port),
        SESSIONFLOW_SINK_HTTP_PORT=str(sink_port),
        SESSIONFLOW_PROCESSOR_APP_ID=f"app-{kafka.topic}",
        SESSIONFLOW_SINK_GROUP_ID=f"sink-{kafka.topic}",
        **extra,
    )
    return env
