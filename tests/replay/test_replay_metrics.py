"""A rebuild's progress as Prometheus metrics, scraped from the replay's own HTTP server."""

from __future__ import annotations

import asyncio
import urllib.request
from collections.abc import Callable
from typing import Any

from prometheus_client.parser import text_string_to_metric_families

from sessionflow.core.settings import KafkaSettings
from sessionflow.processors.replay.metrics import ReplayMetricsServer, ReplayProgress
from sessionflow.processors.replay.rebuild import Rebuild, Target
from sessionflow.processors.replay.sources import StartAt, TopicSource
from sessionflow.testing.kafka import free_ports
from tests.processors.conftest import topic_records
from tests.replay.test_pointintime_verify import cli


def scrape(port: int) -> dict[str, float]:
    with urllib.request.urlopen(f"http://127.0.0.1:{port}/metrics", timeout=10) as response:
        text = response.read().decode()
    return {s.name: s.value for f in text_string_to_metric_families(text) for s in f.samples}


def test_the_progress_served_counts_every_record_of_the_topic(
    topics: KafkaSettings, simulated: Callable[[int, int, int], Any], app_id: str
) -> None:
    simulated(10, 51, 1)
    records = len(topic_records(topics))
    (port,) = free_ports(1)
    progress = ReplayProgress("v2")
    source = TopicSource(topics, StartAt(), batch_size=100)  # several batches
    seen: list[float] = []

    def on_batch(events: int) -> None:
        progress.add(events, source.total)
        seen.append(scrape(port)["sessionflow_replay_events_total"])

    with ReplayMetricsServer(progress, port):
        report = asyncio.run(
            Rebuild(topics, Target(app_id, "v2"), source, {}, on_batch=on_batch).run()
        )
        final = scrape(port)

    assert report.events == records
    assert final["sessionflow_replay_events_total"] == records
    assert final["sessionflow_replay_events_expected"] == records
    assert final["sessionflow_replay_seconds"] > 0
    assert seen == sorted(seen)
    assert len(seen) > 1
    assert seen[-1] == records

    (taken,) = free_ports(1)
    with ReplayMetricsServer(ReplayProgress("v3"), taken):
        refused = cli(topics, {"SESSIONFLOW_PROCESSOR_APP_ID": app_id}, "replay", "--source",
                      "topic", "--version", "v3", "--metrics-port", str(taken))  # fmt: skip
    assert refused.returncode == 1
    assert refused.stderr.strip().splitlines() == [
        f"error: --metrics-port: port {taken} cannot be used: [Errno 98] Address already in use"
    ]
    done = cli(topics, {"SESSIONFLOW_PROCESSOR_APP_ID": app_id}, "replay", "--source", "topic",
               "--version", "v3", "--metrics-port", str(taken))  # fmt: skip
    assert done.returncode == 0, done.stderr
