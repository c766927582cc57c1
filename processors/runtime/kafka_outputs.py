"""Outputs of a worker on Kafka: dead letters to the DLQ topic, plugin events to the domain.

One idempotent ``acks=all`` producer from the client factory carries both. Plugin events are
encoded with the contract's codec, keyed by session id (so they land in the session's
partition), stamped with their ``occurred_at`` and a causation-depth header.
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence
from typing import Any

from aiokafka import AIOKafkaProducer

from sessionflow.core.kafka_clients import new_producer
from sessionflow.core.settings import KafkaSettings
from sessionflow.processors.domain.deadletters import DeadLetter
from sessionflow.processors.plugins.runner import DEPTH_HEADER, Emission
from sessionflow.processors.runtime.deadletter_writer import DeadLetterWriter
from sessionflow.schemas.codec import EventCodec
from sessionflow.schemas.validation import datetime_to_millis


class KafkaOutputs:
    """:class:`~sessionflow.processors.runtime.batch.Outputs` on one Kafka producer.

    The producer starts on first use (on the worker's event loop); :meth:`stop` closes it.
    """

    def __init__(
        self, kafka: KafkaSettings, group: str, dlq_partitions: int, codec: EventCodec
    ) -> None:
        self._kafka = kafka
        self._codec = codec
        self._producer = new_producer(kafka, linger_ms=5, compression_type="zstd")
        self.dead_letter_writer = DeadLetterWriter(kafka, self._producer, group, dlq_partitions)
        self._started = False
        self._lock = asyncio.Lock()

    async def _ready(self) -> AIOKafkaProducer:
        if not self._started:
            async with self._lock:
                if not self._started:
                    await self._producer.start()
                    self._started = True
        return self._producer

    async def stop(self) -> None:
        """Flush and close the producer (idempotent)."""
        if self._started:
            self._started = False
            await self._producer.stop()

    async def dead_letters(self, letters: Sequence[DeadLetter]) -> int:
        """Write ``letters`` not written before; wait for the acknowledgements."""
        if not letters:
            return 0
        await self._ready()
        return await self.dead_letter_writer.write(letters)

    async def events(self, emissions: Sequence[Emission]) -> None:
        """Send the plugin events and wait for every acknowledgement."""
        if not emissions:
            return
        producer = await self._ready()
        futures: list[asyncio.Future[Any]] = []
        for emission in emissions:
            event = emission.event
            futures.append(
                await producer.send(
                    self._kafka.topic,
                    self._codec.encode(event),
                    key=event.session_id.encode(),
                    timestamp_ms=datetime_to_millis(event.occurred_at),
                    headers=[(DEPTH_HEADER, str(emission.depth).encode())],
                )
            )
        if futures:
            await asyncio.gather(*futures)
