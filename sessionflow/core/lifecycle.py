"""The ``start()``/``stop()`` plus ``async with`` shape every I/O component has."""

from __future__ import annotations

from abc import ABC, abstractmethod
from types import TracebackType
from typing import Self


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
