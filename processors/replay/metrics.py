"""A running replay's progress as Prometheus metrics (``replay --metrics-port``).

``sessionflow_replay_events_total{version}`` (events folded so far),
``sessionflow_replay_events_expected{version}`` (the source's total, when known) and
``sessionflow_replay_seconds{version}`` (time since the start), served by prometheus-client's
own HTTP server on a registry of the replay's own while it runs.
"""

from __future__ import annotations

import time
from collections.abc import Iterator
from dataclasses import dataclass, field

from prometheus_client import CollectorRegistry, start_http_server
from prometheus_client.metrics_core import Metric
from prometheus_client.registry import Collector

from sessionflow.core.metrics import labelled_gauge


@dataclass
class ReplayProgress:
    """How far a rebuild got; ``add`` is its ``on_batch`` callback."""

    version: str
    events: int = 0
    expected: int | None = None
    started: float = field(default_factory=time.monotonic)

    def add(self, events: int, expected: int | None = None) -> None:
        """``events`` more folded; the source's total if it knows it now."""
        self.events += events
        if expected is not None:
            self.expected = expected


class ReplayCollector(Collector):
    """The progress as metric families, read at scrape time."""

    def __init__(self, progress: ReplayProgress) -> None:
        self._progress = progress

    def collect(self) -> Iterator[Metric]:
        """The families now."""
        progress = self._progress
        key = (progress.version,)
        yield labelled_gauge("sessionflow_replay_events_total", "Events folded so far.",
                             ["version"], {key: progress.events})  # fmt: skip
        if progress.expected is not None:
            yield labelled_gauge("sessionflow_replay_events_expected", "Events the source holds.",
                                 ["version"], {key: progress.expected})  # fmt: skip
        yield labelled_gauge("sessionflow_replay_seconds", "Seconds since the replay started.",
                             ["version"], {key: time.monotonic() - progress.started})  # fmt: skip


class ReplayMetricsServer:
    """prometheus-client's HTTP server for ``progress`` on ``port``; ``start()/stop()`` or
    ``with``."""

    def __init__(self, progress: ReplayProgress, port: int, host: str = "127.0.0.1") -> None:
        self._registry = CollectorRegistry(auto_describe=True)
        self._registry.register(ReplayCollector(progress))
        self._port, self._host = port, host
        self._server: object | None = None

    def start(self) -> None:
        """Listen (raises OSError if the port is taken)."""
        self._server, _ = start_http_server(self._port, self._host, registry=self._registry)

    def stop(self) -> None:
        """Stop listening."""
        server, self._server = self._server, None
        if server is not None:
            server.shutdown()  # type: ignore[attr-defined]
            server.server_close()  # type: ignore[attr-defined]

    def __enter__(self) -> ReplayMetricsServer:
        self.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.stop()
