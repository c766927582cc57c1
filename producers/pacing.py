"""Send pre-encoded records in order, in chunks, optionally at a target rate.

The bulk commands (``produce``, ``simulate``) use this on top of
:meth:`sessionflow.producers.sdk.SessionEventProducer.send_encoded`: each chunk goes through the
per-partition batches and is acknowledged before the next, so progress reports count only
acknowledged records.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from sessionflow.producers.delivery import EncodedRecord
from sessionflow.producers.sdk import SessionEventProducer

DEFAULT_CHUNK = 2_000


def chunk_size_for(rate: float, largest: int = DEFAULT_CHUNK) -> int:
    """Records per chunk: ``largest`` when unpaced, else about a tenth of a second's worth."""
    if rate <= 0:
        return largest
    return max(1, min(largest, int(rate / 10)))


async def send_paced(
    producer: SessionEventProducer,
    records: Sequence[EncodedRecord],
    *,
    rate: float = 0.0,
    on_acked: Callable[[int], None] = lambda _: None,
) -> int:
    """Send ``records`` in order; with ``rate > 0`` no faster than ``rate`` records/s.

    ``on_acked(n)`` is called after each chunk of ``n`` records is acknowledged. Returns the
    number acknowledged (all of them: a failed chunk raises the SDK's ProducerError).
    """
    size = chunk_size_for(rate)
    started = time.monotonic()
    acked = 0
    for begin in range(0, len(records), size):
        if rate > 0:
            ahead = started + acked / rate - time.monotonic()
            if ahead > 0:
                await asyncio.sleep(ahead)  # pacing to the target rate, not synchronisation
        result = await producer.send_encoded(records[begin : begin + size])
        acked += result.sent
        on_acked(result.sent)
    return acked
