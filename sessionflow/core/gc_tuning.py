"""Garbage-collector settings for the batch loops that hold many objects (rebuild, sink).

CPython's cyclic collector runs a young-generation pass every 700 net allocations and, as the
heap grows, full passes over everything alive. A rebuild keeps every session's state in memory
(a dozen small objects per session), and the sink holds a batch of row dicts: the collector
then spends a large share of the time scanning them (a rebuild's fold and state encoding
over 197k events, alone on a quiet core: 5.13 s with the default thresholds, 3.81 s with the
collector off, 3.30 s with :data:`THROUGHPUT_THRESHOLDS`). Their objects form no reference
cycles (slotted dataclasses, dicts, bytes), so reference counting frees them; the cyclic
collector only needs to run now and then, for the cycles the clients and the event loop make.

:func:`throughput_gc` raises the thresholds for the time of a block (the entry points of
``replay``, ``verify`` and ``sink`` use it around their work) and restores them after.
The collector stays on: cycles are still collected, just less often.
"""

from __future__ import annotations

import gc
from collections.abc import Iterator
from contextlib import contextmanager

THROUGHPUT_THRESHOLDS = (100_000, 50, 1_000)


@contextmanager
def throughput_gc(thresholds: tuple[int, int, int] = THROUGHPUT_THRESHOLDS) -> Iterator[None]:
    """Run the block with the collector's ``thresholds``; the previous ones are restored."""
    previous = gc.get_threshold()
    gc.set_threshold(*thresholds)
    try:
        yield
    finally:
        gc.set_threshold(*previous)
