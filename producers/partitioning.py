"""Key -> partition, exactly as aiokafka's (and the Java client's) default partitioner does.

``murmur2(key) & 0x7fffffff % partitions``: every path of the SDK (typed sends, bulk sends)
and any other default-configured Kafka client put a session on the same partition, which is
what keeps a session's events in order. Results are cached per key because the pure-Python
murmur2 costs microseconds and sessions send many events.
"""

from __future__ import annotations

from aiokafka.partitioner import murmur2

from sessionflow.producers.errors import InvalidArgumentError

_CACHE_LIMIT = 100_000


def partition_for(key: bytes, partitions: int) -> int:
    """The default partitioner's choice for a non-null ``key`` among ``partitions``."""
    hashed: int = murmur2(key)
    return (hashed & 0x7FFFFFFF) % partitions


class KeyPartitioner:
    """Cached :func:`partition_for` for a topic with a fixed partition count."""

    __slots__ = ("_cache", "partitions")

    def __init__(self, partitions: int) -> None:
        if partitions < 1:
            raise InvalidArgumentError(f"partitions must be >= 1, got {partitions}")
        self.partitions = partitions
        self._cache: dict[str | bytes, tuple[bytes, int]] = {}

    def route(self, key: str | bytes) -> tuple[bytes, int]:
        """The key as bytes (UTF-8 for str) and its partition."""
        hit = self._cache.get(key)
        if hit is not None:
            return hit
        if len(self._cache) >= _CACHE_LIMIT:
            self._cache.clear()
        raw = key.encode() if isinstance(key, str) else key
        hit = (raw, partition_for(raw, self.partitions))
        self._cache[key] = hit
        return hit
