"""The sink as one component: migrations, prices, the ClickHouse destination and its consumer.

``SinkService`` owns the ClickHouse client for its lifetime (the embedded engine allows one
process per data directory); ``start()`` migrates the database, loads the price table and
starts consuming; ``stop()`` stops consuming. Also usable as ``async with``.
"""

from __future__ import annotations

import asyncio
import threading
from dataclasses import dataclass
from typing import Any

from sessionflow.core.settings import KafkaSettings
from sessionflow.sinks.clickhouse.destination import ClickHouseDestination
from sessionflow.sinks.clickhouse.migrate import MigrationReport, prepare
from sessionflow.sinks.runner import SinkRunner, SinkStats
from sessionflow.sinks.settings import SinkSettings


@dataclass(frozen=True, slots=True)
class SinkTopics:
    """What the sink reads: the events topic, the state stream (or None), the dead letters."""

    events: str
    state: str | None
    dead_letters: str | None


class SinkService:
    """Consumes the topics into ClickHouse ``database`` through ``client``."""

    def __init__(
        self,
        kafka: KafkaSettings,
        settings: SinkSettings,
        client: Any,
        database: str,
        topics: SinkTopics,
    ) -> None:
        self.kafka, self.settings = kafka, settings
        self.client, self.database = client, database
        self.lock = threading.Lock()
        """Held around every use of ``client`` (share it with a query endpoint)."""
        self.destination = ClickHouseDestination(
            client, database, (topics.events, topics.state, topics.dead_letters), self.lock
        )
        self.runner = SinkRunner(kafka, settings, self.destination)
        self.migration: MigrationReport | None = None

    @property
    def stats(self) -> SinkStats:
        return self.runner.stats

    async def __aenter__(self) -> SinkService:
        await self.start()
        return self

    async def __aexit__(self, *exc: object) -> None:
        await self.stop()

    async def start(self) -> None:
        """Migrate, load prices, then consume in the background."""
        self.migration = await asyncio.to_thread(self._prepare)
        await self.runner.start()

    def _prepare(self) -> MigrationReport:
        with self.lock:
            return prepare(
                self.client, self.database, self.settings.retention_days,
                self.settings.price_table(),
            )  # fmt: skip

    async def stop(self) -> None:
        await self.runner.stop()

    async def wait(self) -> None:
        """Until consuming ends by an error (raised here)."""
        await self.runner.wait()
