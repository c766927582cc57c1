"""The sink's interfaces: a Kafka record as the sink sees it, and a destination with add/flush.

A :class:`Destination` receives the records of one Kafka partition in offset order
(``add``) and makes everything added durable (``flush``); after ``flush`` returns, every
record added is stored exactly once, and :meth:`Destination.stored_offsets` reports it.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from typing import NamedTuple


class SinkRecord(NamedTuple):
    """One Kafka record: where it was read, key, value and timestamp (epoch ms), headers."""

    topic: str
    partition: int
    offset: int
    key: bytes | None
    value: bytes | None
    timestamp_ms: int
    headers: tuple[tuple[str, bytes], ...] = ()


class Destination(ABC):
    """Where the records of some topics go; offsets live with the data."""

    @abstractmethod
    def topics(self) -> tuple[str, ...]:
        """The Kafka topics this destination stores."""

    @abstractmethod
    def stored_offsets(self, topic: str) -> dict[int, int]:
        """Per partition of ``topic``: the highest offset stored (absent: nothing stored)."""

    @abstractmethod
    def add(self, records: list[SinkRecord]) -> None:
        """Queue records of one partition, in offset order, after those already added."""

    @abstractmethod
    def flush(self) -> int:
        """Store everything added (atomically per insert); return the rows written."""
