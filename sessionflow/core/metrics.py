"""Prometheus exposition shared by the components (prometheus-client underneath).

Each component builds its own :class:`~prometheus_client.CollectorRegistry` (never the
library's global one) with a collector that reads the figures the component keeps anyway,
at scrape time; these helpers turn those figures into metric families and the registry into
the text format served at ``/metrics``.
"""

from __future__ import annotations

from bisect import bisect_left
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import CounterMetricFamily, GaugeMetricFamily, HistogramMetricFamily

CONTENT_TYPE = CONTENT_TYPE_LATEST
SECONDS_BUCKETS: tuple[float, ...] = (
    0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5, 5.0, 10.0, 30.0,
)  # fmt: skip


def exposition(registry: CollectorRegistry) -> bytes:
    """The registry's metrics in Prometheus' text format."""
    return generate_latest(registry)


def counter(name: str, doc: str, value: float) -> CounterMetricFamily:
    """A counter without labels (``name`` without ``_total``; the family adds it)."""
    return CounterMetricFamily(name, doc, value=value)


def labelled_counter(
    name: str, doc: str, label: str, values: Mapping[str, float]
) -> CounterMetricFamily:
    """A counter with one label, one sample per key of ``values``."""
    family = CounterMetricFamily(name, doc, labels=[label])
    for key, value in sorted(values.items()):
        family.add_metric([key], value)
    return family


def labelled_gauge(
    name: str, doc: str, labels: Sequence[str], values: Mapping[tuple[str, ...], float]
) -> GaugeMetricFamily:
    """A gauge with ``labels``, one sample per key (a tuple of label values) of ``values``."""
    family = GaugeMetricFamily(name, doc, labels=list(labels))
    for key, value in sorted(values.items()):
        family.add_metric(list(key), value)
    return family


def histogram(
    name: str, doc: str, bounds: Sequence[float], counts: Sequence[int], total: float
) -> HistogramMetricFamily:
    """A histogram from per-bucket ``counts`` (``len(bounds) + 1``, the last unbounded)."""
    buckets, seen = [], 0
    for bound, count in zip(bounds, counts, strict=False):
        seen += count
        buckets.append((repr(float(bound)), seen))
    buckets.append(("+Inf", sum(counts)))
    return HistogramMetricFamily(name, doc, buckets=buckets, sum_value=total)


@dataclass(slots=True)
class SecondsHistogram:
    """Observations (seconds) counted per bucket of :data:`SECONDS_BUCKETS`, plus their sum."""

    counts: list[int] = field(default_factory=lambda: [0] * (len(SECONDS_BUCKETS) + 1))
    total: float = 0.0

    def observe(self, seconds: float) -> None:
        """Add one observation."""
        self.counts[bisect_left(SECONDS_BUCKETS, seconds)] += 1
        self.total += seconds

    def family(self, name: str, doc: str) -> HistogramMetricFamily:
        """The observations as a metric family."""
        return histogram(name, doc, SECONDS_BUCKETS, self.counts, self.total)
