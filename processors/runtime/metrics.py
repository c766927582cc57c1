"""A worker's Prometheus metrics, read from the figures it keeps, at scrape time.

The session domain's names (``session_created_total``, ``message_count_total``,
``tool_call_count_total``, ``llm_response_time_seconds``, ``tool_execution_time_seconds``,
``active_sessions_count``, ``pending_approvals_count``) and the pipeline's own
(``sessionflow_*``: events processed by type, dead letters by reason, consumer lag per
partition, plugin calls, errors and seconds). Counters count since the worker started;
gauges are this worker's share (sum them over workers). ``llm_response_time_seconds`` is a
streamed response's duration (``stream.ended``); ``tool_execution_time_seconds`` a tool
call's ``duration_ms``.
"""

from __future__ import annotations

from collections.abc import Iterator
from typing import TYPE_CHECKING

from faust.exceptions import ConsumerNotStarted
from faust.types import TP
from prometheus_client import CollectorRegistry
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from sessionflow.core.metrics import counter, histogram, labelled_counter, labelled_gauge
from sessionflow.processors.domain.windows import BUCKETS_MS, Histogram

if TYPE_CHECKING:
    from sessionflow.processors.runtime.faust_app import ProcessorApp

_BOUNDS_S = tuple(bound / 1000 for bound in BUCKETS_MS)


class ProcessorCollector(Collector):
    """Everything one worker exposes at ``/metrics``."""

    def __init__(self, papp: ProcessorApp) -> None:
        self._papp = papp

    def collect(self) -> Iterator[Metric]:
        """The metric families, built from the worker's figures now."""
        processor = self._papp.processor
        stats, gauges, plugins = processor.stats, processor.gauges, processor.plugins
        totals = stats.totals
        yield counter("session_created", "Sessions created.", totals.get("session.created", 0))
        yield counter("message_count", "Messages created.", totals.get("message.created", 0))
        yield counter(
            "tool_call_count", "Tool calls requested.", totals.get("tool_call.pending", 0)
        )
        yield _seconds("llm_response_time_seconds", "Streamed response durations.",
                       stats.latencies["stream_duration_ms"])  # fmt: skip
        yield _seconds("tool_execution_time_seconds", "Tool call durations.",
                       stats.latencies["tool_execution_ms"])  # fmt: skip
        yield _seconds("sessionflow_first_chunk_seconds", "Time to a stream's first chunk.",
                       stats.latencies["first_chunk_ms"])  # fmt: skip
        yield _seconds("sessionflow_approval_wait_seconds", "Time from pending to decision.",
                       stats.latencies["approval_wait_ms"])  # fmt: skip
        yield labelled_gauge("active_sessions_count", "ACTIVE sessions this worker holds.",
                             [], {(): gauges.active})  # fmt: skip
        yield labelled_gauge("pending_approvals_count", "Tool calls awaiting approval.",
                             [], {(): gauges.pending_approvals})  # fmt: skip
        yield labelled_gauge("sessionflow_sessions_held", "Sessions this worker holds.",
                             [], {(): gauges.sessions})  # fmt: skip
        yield labelled_counter("sessionflow_events_processed", "Events applied, by type.",
                               "event_type", totals)  # fmt: skip
        yield labelled_counter("sessionflow_dead_letters", "Dead letters, by reason.",
                               "reason", stats.dead_letters)  # fmt: skip
        yield labelled_counter("sessionflow_plugin_calls", "Plugin calls.", "plugin",
                               plugins.calls)  # fmt: skip
        yield labelled_counter("sessionflow_plugin_errors", "Plugin failures and timeouts.",
                               "plugin", plugins.failures)  # fmt: skip
        yield labelled_counter("sessionflow_plugin_seconds", "Seconds spent in plugins.",
                               "plugin", plugins.seconds)  # fmt: skip
        yield labelled_gauge("sessionflow_consumer_lag", "Records not yet folded, by partition.",
                             ["partition"], self._lag())  # fmt: skip
        yield counter("sessionflow_batches", "Batches folded.", self._papp.batches)

    def _lag(self) -> dict[tuple[str, ...], float]:
        papp = self._papp
        lag: dict[tuple[str, ...], float] = {}
        try:
            for partition in sorted(papp.owned_partitions()):
                highwater = papp.app.consumer.highwater(TP(papp.kafka.topic, partition))
                if highwater is not None:
                    done = papp.positions.get(partition, 0)
                    lag[(str(partition),)] = max(0, highwater - done)
        except ConsumerNotStarted:
            pass
        return lag


def _seconds(name: str, doc: str, source: Histogram) -> Metric:
    return histogram(name, doc, _BOUNDS_S, source.counts, source.total_ms / 1000)


def worker_registry(papp: ProcessorApp) -> CollectorRegistry:
    """A registry of this worker's own (not prometheus-client's global one)."""
    # no auto_describe: it collects once at registration, which made faust create its consumer
    # (and the event loops) while the worker was still being built
    registry = CollectorRegistry()
    registry.register(ProcessorCollector(papp))
    return registry
