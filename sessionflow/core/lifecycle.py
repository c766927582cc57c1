"""The ``start()``/``stop()`` plus ``async with`` shape every I/O component has, and a
process restarting itself (a worker or the sink when the live state version changes)."""

from __future__ import annotations

import os
import sys
from abc import ABC, abstractmethod
from types import TracebackType
from typing import NoReturn, Self


class AsyncComponent(ABC):
    """Subclasses implement :meth:`start` and :meth:`stop`; ``async with`` calls them."""

    @abstractmethod
    async def start(self) -> None:
        """Connect / open what the component needs."""

    @abstractmethod
    async def stop(self) -> None:
        """Release it (idempotent)."""

    async def __aenter__(self) -> Self:
        await self.start()
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        await self.stop()


def restart_process() -> NoReturn:
    """Replace this process by a fresh run of its own command line (same pid, arguments,
    environment), e.g. to resolve the live state version again."""
    sys.stdout.flush()
    sys.stderr.flush()
    os.execv(sys.executable, [sys.executable, *sys.orig_argv[1:]])
