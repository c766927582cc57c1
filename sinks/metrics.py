"""The sink's Prometheus metrics, read from its figures at scrape time (served at the query
endpoint's ``/metrics``): records stored per topic, rows written, inserts, failed writes,
insert latency, and lag per topic and partition (records on Kafka not yet stored)."""

from __future__ import annotations

from collections.abc import Iterator

from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from sessionflow.core.metrics import counter, labelled_counter, labelled_gauge
from sessionflow.sinks.runner import SinkRunner


class SinkCollector(Collector):
    """Everything the sink exposes at ``/metrics``."""

    def __init__(self, runner: SinkRunner) -> None:
        self._runner = runner

    def collect(self) -> Iterator[Metric]:
        """The metric families, built from the sink's figures now."""
        stats = self._runner.stats
        yield labelled_counter("sessionflow_sink_records", "Kafka records stored, by topic.",
                               "topic", stats.records_by_topic)  # fmt: skip
        yield counter("sessionflow_sink_rows", "Rows inserted into ClickHouse.", stats.rows)
        yield counter("sessionflow_sink_inserts", "Inserts (one per batch).", stats.inserts)
        yield counter("sessionflow_sink_write_failures", "Failed writes (retried).",
                      stats.failures)  # fmt: skip
        yield stats.write_seconds.family(
            "sessionflow_sink_batch_seconds", "Time to store one batch, retries included."
        )
        lag: dict[tuple[str, ...], float] = {
            (topic, str(partition)): n for (topic, partition), n in self._runner.lag().items()
        }
        yield labelled_gauge("sessionflow_sink_lag", "Records on Kafka not yet stored.",
                             ["topic", "partition"], lag)  # fmt: skip


def sink_registry(runner: SinkRunner) -> CollectorRegistry:
    """A registry of the sink's own (not prometheus-client's global one)."""
    registry = CollectorRegistry(auto_describe=True)
    registry.register(SinkCollector(runner))
    return registry
