"""Helpers of the sink tests: a sink running in this process, topic ends, query rows."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sessionflow.core.settings import KafkaSettings
from sessionflow.producers.simulator import Simulation
from sessionflow.schemas.state_codec import state_topic
from sessionflow.sinks.service import SinkService, SinkTopics
from sessionflow.sinks.settings import SinkSettings
from sessionflow.testing import read_topic, unique_name
from tests.processors.conftest import send
from tests.processors.harness import caught_up, wait_for, worker_env, workers


@contextmanager
def running_sink(
    kafka: KafkaSettings, client: Any, database: str, state: str, **options: Any
) -> Iterator[SinkService]:
    """A sink in a thread of this process (chdb allows one client per process)."""
    settings = SinkSettings(group_id=unique_name("test-sink"), **options)
    service = SinkService(
        kafka, settings, client, database, SinkTopics(kafka.topic, state, kafka.dlq_topic)
    )
    loop = asyncio.new_event_loop()
    ready = threading.Event()
    stop: asyncio.Event | None = None

    async def run() -> None:
        nonlocal stop
        stop = asyncio.Event()
        async with service:
            ready.set()
            await stop.wait()

    thread = threading.Thread(target=loop.run_until_complete, args=(run(),), daemon=True)
    thread.start()
    assert ready.wait(60), "the sink did not start"
    try:
        yield service
    finally:
        assert stop is not None
        loop.call_soon_threadsafe(stop.set)
        thread.join(60)
        loop.close()


def ends(kafka: KafkaSettings, *topic_names: str) -> dict[tuple[str, int], int]:
    """Per (topic, partition) with records: the offset after the last one."""
    found: dict[tuple[str, int], int] = {}
    for name in topic_names:
        for record in asyncio.run(read_topic(kafka, name)):
            key = (name, record.partition)
            found[key] = max(found.get(key, 0), record.offset + 1)
    return found


def stored_up_to(service: SinkService, targets: dict[tuple[str, int], int]) -> bool:
    positions = service.stats.positions
    return all(positions.get(key, 0) >= end for key, end in targets.items())


def rows(client: Any, sql: str) -> list[tuple[Any, ...]]:
    return list(client.query(sql).result_rows)


def fill(
    kafka: KafkaSettings, client: Any, database: str, tmp_path: Path, sim: Simulation, **sink: Any
) -> int:
    """Send ``sim``, fold it with a processor worker, store every topic with a sink; inserts."""
    send(kafka, sim)
    app_id = unique_name("test-proc")
    env = worker_env(kafka, app_id, tmp_path, SESSIONFLOW_PROCESSOR_PLUGINS="")
    with workers(env, tmp_path) as (worker,):
        wait_for(lambda: caught_up(kafka, [worker]), 120, "the worker to fold the topic")
    changelog = state_topic(f"{app_id}-v1")
    targets = ends(kafka, kafka.topic, kafka.dlq_topic, changelog)
    options = {"batch_size": 40, "batch_timeout_ms": 50, **sink}
    with running_sink(kafka, client, database, changelog, **options) as service:
        wait_for(lambda: stored_up_to(service, targets), 120, "the sink to store every topic")
        return service.stats.inserts
