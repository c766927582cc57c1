"""What the benchmarks share: one pre-loaded topic of simulated sessions."""

from __future__ import annotations

import asyncio
from datetime import UTC, datetime

from sessionflow.core.settings import KafkaSettings
from sessionflow.core.topic_reader import offset_bounds
from sessionflow.producers import ProducerSettings, SessionEventProducer
from sessionflow.producers.settings import TopicSettings
from sessionflow.producers.simulator import AnomalyKind, SimulationPlan, simulate
from sessionflow.producers.topics import create_topics
from sessionflow.schemas import EventCodec

EVENTS_PER_SESSION = 36.6  # the simulator's mean


def preload(kafka: KafkaSettings, events: int, topics: TopicSettings) -> dict[int, int]:
    """Simulate about ``events`` events (ending now, 5 anomalies of each kind), create the
    topics with ``topics`` and send them once; the end offsets per partition."""
    codec = EventCodec()
    plan = SimulationPlan(
        sessions=max(10, round(events / EVENTS_PER_SESSION)), concurrency=500, seed=11,
        anomalies=dict.fromkeys(AnomalyKind, 5), end=datetime.now(UTC),
    )  # fmt: skip
    sim = simulate(plan, codec.encode)

    async def send() -> dict[int, int]:
        await create_topics(kafka, topics)
        async with SessionEventProducer(kafka, ProducerSettings(source="bench")) as producer:
            await producer.send_encoded(r.encoded(codec.encode) for r in sim.records)
        return (await offset_bounds(kafka, kafka.topic))[1]

    return asyncio.run(send())
