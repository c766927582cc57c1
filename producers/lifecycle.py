"""Closing an aiokafka producer within a bounded time, whatever state the cluster is in.

``AIOKafkaProducer.stop()`` first waits for every queued batch; with idempotence aiokafka
retries retriable errors without limit, so against a dead broker that wait never ends.
:func:`close_producer` gives it ``timeout_s``, then fails what is left and closes the
connections itself.
"""

from __future__ import annotations

import asyncio
import logging

from aiokafka import AIOKafkaProducer
from aiokafka.errors import KafkaError, ProducerClosed

log = logging.getLogger(__name__)


async def close_producer(producer: AIOKafkaProducer, *, timeout_s: float) -> None:
    """Stop ``producer`` gracefully within ``timeout_s``, else force it closed."""
    try:
        await asyncio.wait_for(producer.stop(), timeout_s)
        return
    except TimeoutError:
        log.warning("producer did not stop within %.1fs; closing it by force", timeout_s)
    except (KafkaError, OSError) as exc:
        log.warning("producer stop failed (%r); closing it by force", exc)
    await _force_close(producer)


async def _force_close(producer: AIOKafkaProducer) -> None:
    # aiokafka has no public "abort": fail the queued batches so nothing waits on them,
    # stop the sender task, then close the sockets.
    producer._message_accumulator.fail_all(ProducerClosed())
    sender = producer._sender
    if sender.sender_task is not None and not sender.sender_task.done():
        await sender.close()
    await producer.client.close()
