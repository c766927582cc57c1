"""Child process of the kill test: send events without end, print each acked event id.

Usage: ``python kill_child.py BOOTSTRAP TOPIC``. Each line on stdout is written with one
``os.write`` *after* the broker acknowledged that event, so a line the parent read is an
acknowledged event. The parent SIGKILLs this process mid-stream.
"""

from __future__ import annotations

import asyncio
import os

from sessionflow.core.settings import KafkaSettings
from sessionflow.producers.delivery import Delivery
from sessionflow.producers.sdk import SessionEventProducer
from sessionflow.producers.settings import ProducerSettings
from sessionflow.schemas.ids import new_session_id

SESSIONS = 24


def _report(future: asyncio.Future[Delivery]) -> None:
    if not future.cancelled() and future.exception() is None:
        os.write(1, f"{future.result().event_id}\n".encode())


async def main() -> None:
    kafka = KafkaSettings()  # the test's broker and topic, from its KAFKA_* environment
    settings = ProducerSettings(source="kill-test", linger_ms=2, max_batch_size=16 * 1024)
    sessions = [new_session_id() for _ in range(SESSIONS)]
    async with SessionEventProducer(kafka, settings) as producer:
        for i in range(10_000_000):
            session = sessions[i % SESSIONS]
            future = await producer.enqueue.stream_chunk(
                session, stream_id="s1", chunk_index=i, delta="chunk"
            )
            future.add_done_callback(_report)
            if i % 500 == 0:
                await asyncio.sleep(0)  # let acks and linger timers run between bursts


if __name__ == "__main__":
    asyncio.run(main())
