"""faust's Kafka consumer loop without four tasks and an ``asyncio.wait`` per message.

faust hands each fetched message to its conductor through ``Service.wait_first(callback,
suspend_flow.wait())``: four tasks (the callback and three event waiters) and an
``asyncio.wait`` per message, about half of faust's own cost per event, and no setting
removes it. Almost always the callback finishes without waiting (it puts the message into a
stream buffer with room), so this loop runs it directly and keeps ``wait_first`` for what it
is there for: a callback that has to wait (a full buffer) may still be abandoned when the flow
is suspended for a rebalance, exactly as in faust. While the flow is suspended, faust's own
path is taken.

Everything else (offset gaps, commits every N acks, the yield to the event loop every 100
messages, the errors a stopping consumer ignores) is faust-streaming 0.15's loop unchanged;
the version is pinned in ``pyproject.toml`` and ``tests/processors`` run the worker through it.
"""

from __future__ import annotations

import asyncio
from collections.abc import Coroutine, Generator
from typing import Any, cast

from faust.transport.consumer import CONSUMER_FETCHING
from faust.transport.drivers import aiokafka as faust_aiokafka
from mode import Service


class _Started:
    """Awaiting it continues a coroutine that was stepped by hand and is waiting on ``pending``
    (what ``await`` would do had the coroutine run in a task from its start)."""

    def __init__(self, coro: Coroutine[Any, Any, Any], pending: Any) -> None:
        self._coro, self._pending = coro, pending

    def __await__(self) -> Generator[Any, Any, Any]:
        coro, pending = self._coro, self._pending
        while True:
            try:
                sent = yield pending
            except GeneratorExit:
                coro.close()
                raise
            except BaseException as exc:  # cancellation included: the coroutine handles it
                try:
                    pending = coro.throw(exc)
                except StopIteration as stop:
                    return stop.value
                continue
            try:
                pending = coro.send(sent)
            except StopIteration as stop:
                return stop.value


async def _finish(coro: Coroutine[Any, Any, Any], pending: Any) -> Any:
    return await _Started(coro, pending)


class BatchFriendlyConsumer(faust_aiokafka.Consumer):
    """faust's aiokafka consumer with the message loop described in the module."""

    async def _drain_messages(self, fetcher: Any) -> None:  # pragma: no cover (see module)
        callback = self.callback
        getmany = self.getmany
        consumer_should_stop = cast(Service, self)._stopped.is_set
        fetcher_should_stop = cast(Service, fetcher)._stopped.is_set
        suspend_flow = self.suspend_flow
        get_read_offset = self._read_offset.__getitem__
        set_read_offset = self._read_offset.__setitem__
        commit_every = self._commit_every
        acks_enabled_for = self.app.topics.acks_enabled_for
        since_yield = 0
        try:
            while not (consumer_should_stop() or fetcher_should_stop()):
                self.diag.set_flag(CONSUMER_FETCHING)
                batch = getmany(timeout=1.0)
                await self.sleep(0)
                if not self.should_stop:
                    async for tp, message in batch:
                        since_yield += 1
                        if since_yield > 100:
                            await asyncio.sleep(0)
                            since_yield = 0
                        offset = message.offset
                        read = get_read_offset(tp)
                        if read is not None and offset < read:
                            continue  # faust drops (and logs at dev level) such a message
                        if read and offset - read > 1 and acks_enabled_for(message.topic):
                            await self._add_gap(tp, read + 1, offset)
                        if commit_every is not None and self._n_acked >= commit_every:
                            self._n_acked = 0
                            await self.commit()
                        await self._deliver(callback, message, suspend_flow)
                        set_read_offset(tp, offset)
                self.diag.unset_flag(CONSUMER_FETCHING)
        except self.consumer_stopped_errors:
            if self.transport.app.should_stop:
                self.log.info("Broker stopped consumer, shutting down...")
                return
            raise
        except asyncio.CancelledError:
            if self.transport.app.should_stop:
                self.log.info("Consumer shutting down for user cancel.")
                return
            raise
        except Exception as exc:
            self.log.exception("Drain messages raised: %r", exc)
            raise
        finally:
            self.diag.unset_flag(CONSUMER_FETCHING)

    async def _deliver(self, callback: Any, message: Any, suspend_flow: asyncio.Event) -> None:
        """Hand ``message`` to the conductor: directly when that needs no waiting."""
        if suspend_flow.is_set():
            await self.wait_first(callback(message), suspend_flow.wait())
            return
        coro = callback(message)
        try:
            pending = coro.send(None)
        except StopIteration:
            return
        await self.wait_first(_finish(coro, pending), suspend_flow.wait())


class BatchFriendlyTransport(faust_aiokafka.Transport):
    """faust's aiokafka transport creating :class:`BatchFriendlyConsumer`."""

    Consumer = BatchFriendlyConsumer
