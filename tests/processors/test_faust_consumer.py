"""A coroutine stepped by hand and then finished in a task behaves as if it had run in the
task from its start: its result, its errors and a cancellation reach the same places.

(The message loop itself runs under every worker test in this package.)
"""

from __future__ import annotations

import asyncio
from typing import Any

import pytest

from sessionflow.processors.runtime.faust_consumer import _finish


async def _waits_twice(
    first: asyncio.Future[int], second: asyncio.Future[int], log: list[str]
) -> int:
    log.append("started")
    try:
        a = await first
        log.append(f"got {a}")
        b = await second
        log.append(f"got {b}")
        return a + b
    except asyncio.CancelledError:
        log.append("cancelled")
        raise
    finally:
        log.append("cleaned up")


def _step(coro: Any) -> Any:
    """What the message loop does: run the coroutine up to its first wait."""
    return coro.send(None)


class _Handed:
    """A coroutine waiting on two futures, stepped by hand, then finished in a task."""

    def __init__(self) -> None:
        loop = asyncio.get_running_loop()
        self.first: asyncio.Future[int] = loop.create_future()
        self.second: asyncio.Future[int] = loop.create_future()
        self.log: list[str] = []
        coro = _waits_twice(self.first, self.second, self.log)
        self.pending = _step(coro)
        self.task = asyncio.ensure_future(_finish(coro, self.pending))


async def test_result_after_waits() -> None:
    handed = _Handed()
    assert handed.pending is handed.first
    assert handed.log == ["started"]
    loop = asyncio.get_running_loop()
    loop.call_soon(handed.first.set_result, 2)
    loop.call_later(0.01, handed.second.set_result, 3)
    assert await asyncio.wait_for(handed.task, 5) == 5
    assert handed.log == ["started", "got 2", "got 3", "cleaned up"]


async def test_an_error_reaches_the_awaiting_task() -> None:
    handed = _Handed()
    handed.first.set_exception(KeyError("boom"))
    with pytest.raises(KeyError, match="boom"):
        await asyncio.wait_for(handed.task, 5)
    assert handed.log == ["started", "cleaned up"]


async def test_cancelling_the_task_cancels_the_coroutine() -> None:
    handed = _Handed()
    await asyncio.sleep(0)  # the task now waits on ``first``
    handed.task.cancel()
    with pytest.raises(asyncio.CancelledError):
        await handed.task
    assert handed.log == ["started", "cancelled", "cleaned up"]
    assert handed.first.cancelled()  # the task gave up its wait as it would have


async def test_a_coroutine_that_does_not_wait_finishes_in_the_step() -> None:
    async def done_at_once() -> int:
        return 7

    coro = done_at_once()
    with pytest.raises(StopIteration) as stop:
        _step(coro)
    assert stop.value.value == 7
