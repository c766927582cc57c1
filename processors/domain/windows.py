"""Global statistics over time: events per type per minute and latency distributions.

A :class:`GlobalStats` is fed the events a fold applied (event time, not arrival time) and
merges with another (one per worker, summed for ``GET /stats``). Minutes older than
``retention_minutes`` behind the newest event are dropped, so memory stays bounded.
Latencies go into fixed buckets (milliseconds), from which quantiles are estimated the way
Prometheus' ``histogram_quantile`` does.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

MINUTE_MS = 60_000
BUCKETS_MS: tuple[int, ...] = (
    10, 25, 50, 100, 250, 500, 1_000, 2_500, 5_000, 10_000, 30_000, 60_000, 300_000,
)  # fmt: skip
"""Upper bounds of the latency buckets; a last, unbounded bucket follows."""

LATENCIES = ("tool_execution_ms", "first_chunk_ms", "approval_wait_ms", "stream_duration_ms")


@dataclass(slots=True)
class Histogram:
    """Counts per latency bucket (``len(BUCKETS_MS) + 1`` of them) plus sum and count."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(BUCKETS_MS) + 1))
    total_ms: int = 0

    @property
    def count(self) -> int:
        """Observations so far."""
        return sum(self.counts)

    def observe(self, value_ms: int) -> None:
        """Add one observation."""
        self.counts[bisect_left(BUCKETS_MS, value_ms)] += 1
        self.total_ms += value_ms

    def merge(self, other: Histogram) -> None:
        """Add ``other``'s observations to this one."""
        self.counts = [a + b for a, b in zip(self.counts, other.counts, strict=True)]
        self.total_ms += other.total_ms

    def quantile(self, q: float) -> float | None:
        """Estimated ``q``-quantile (linear within the bucket), None without observations."""
        total = self.count
        if total == 0:
            return None
        rank, seen = q * total, 0
        for index, count in enumerate(self.counts):
            if count and seen + count >= rank:
                low = BUCKETS_MS[index - 1] if index else 0
                high = BUCKETS_MS[index] if index < len(BUCKETS_MS) else low
                return low + (high - low) * (rank - seen) / count
            seen += count
        return float(BUCKETS_MS[-1])


@dataclass(slots=True)
class GlobalStats:
    """Per-minute event counts by type and latency histograms, for one or more workers."""

    retention_minutes: int = 60
    per_minute: dict[int, dict[str, int]] = field(default_factory=dict)
    latencies: dict[str, Histogram] = field(
        default_factory=lambda: {name: Histogram() for name in LATENCIES}
    )
    dead_letters: dict[str, int] = field(default_factory=dict)
    totals: dict[str, int] = field(default_factory=dict)
    """Events applied per type since the start (never expired: Prometheus counters)."""

    def add_events(self, events: Iterable[dict[str, Any]]) -> None:
        """Count applied events in their event-time minute and observe their latencies."""
        newest = None
        for event in events:
            minute = event["occurred_at"] // MINUTE_MS * MINUTE_MS
            counts = self.per_minute.setdefault(minute, {})
            counts[event["event_type"]] = counts.get(event["event_type"], 0) + 1
            self.totals[event["event_type"]] = self.totals.get(event["event_type"], 0) + 1
            newest = minute if newest is None else max(newest, minute)
            self._observe(event)
        if newest is not None:
            self._expire(newest)

    def add_dead_letters(self, reasons: Iterable[str]) -> None:
        """Count dead letters by reason."""
        for reason in reasons:
            self.dead_letters[reason] = self.dead_letters.get(reason, 0) + 1

    def observe(self, name: str, value_ms: int) -> None:
        """Observe one latency that needs state to compute (e.g. time to first chunk)."""
        self.latencies[name].observe(value_ms)

    def merge(self, other: GlobalStats) -> None:
        """Add ``other`` (another worker's figures) into this one."""
        for minute, counts in other.per_minute.items():
            mine = self.per_minute.setdefault(minute, {})
            for kind, count in counts.items():
                mine[kind] = mine.get(kind, 0) + count
        for name, histogram in other.latencies.items():
            self.latencies.setdefault(name, Histogram()).merge(histogram)
        for reason, count in other.dead_letters.items():
            self.dead_letters[reason] = self.dead_letters.get(reason, 0) + count
        for kind, count in other.totals.items():
            self.totals[kind] = self.totals.get(kind, 0) + count

    def _observe(self, event: dict[str, Any]) -> None:
        kind, payload = event["event_type"], event["payload"]
        if kind in ("tool_call.completed", "tool_call.failed"):
            duration = payload.get("duration_ms")
            if duration is not None:
                self.latencies["tool_execution_ms"].observe(duration)
        elif kind == "stream.ended":
            self.latencies["stream_duration_ms"].observe(payload["duration_ms"])

    def _expire(self, newest_minute: int) -> None:
        horizon = newest_minute - self.retention_minutes * MINUTE_MS
        for minute in [m for m in self.per_minute if m < horizon]:
            del self.per_minute[minute]
