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
    # aiokafka has no public "abort": stop the sender task first (so it no longer touches
    # the batches), fail the queued batches so nothing waits on them, close the sockets.
    task = producer._sender.sender_task
    if task is not None and not task.done():
        task.cancel()
        await asyncio.wait([task], timeout=5.0)
    if task is not None and task.done() and not task.cancelled():
        task.exception()  # already logged by aiokafka; retrieved so asyncio does not repeat it
    producer._message_accumulator.fail_all(ProducerClosed())
    await producer.client.close()
