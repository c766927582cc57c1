"""Build and run one processor worker from settings (the ``sessionflow process`` entry point).

:func:`build_worker` wires the pieces — codec, plugin registry, watchers, Kafka outputs, batch
processor, faust app, state API — and :func:`run_worker` runs it in the foreground until
SIGINT/SIGTERM, stopping cleanly.
"""

from __future__ import annotations

import asyncio
import gc
import logging
from dataclasses import dataclass
from pathlib import Path

import faust
import uvloop
from mode import Service

from sessionflow.core.errors import InfrastructureError
from sessionflow.core.settings import KafkaSettings
from sessionflow.core.topic_reader import partitions_of
from sessionflow.processors.domain.windows import GlobalStats
from sessionflow.processors.plugins.registry import PluginRegistry
from sessionflow.processors.plugins.watchers import (
    ApprovalTimeoutWatcher,
    InactivityWatcher,
    Watcher,
)
from sessionflow.processors.runtime.batch import BatchProcessor, PluginLimits
from sessionflow.processors.runtime.faust_app import ProcessorApp, WorkerIdentity
from sessionflow.processors.runtime.kafka_outputs import KafkaOutputs
from sessionflow.processors.runtime.scheduler import DeadlineScheduler
from sessionflow.processors.runtime.web import install_views
from sessionflow.processors.settings import ProcessorSettings
from sessionflow.schemas.codec import EventCodec
from sessionflow.schemas.state_codec import StateCodec


@dataclass(frozen=True)
class TopicLayout:
    """Partition counts of the domain topic and its dead-letter topic."""

    partitions: int
    dlq_partitions: int


async def describe_layout(kafka: KafkaSettings) -> TopicLayout:
    """Partition counts of ``kafka.topic`` and ``kafka.dlq_topic``; both must exist.

    Raises :class:`InfrastructureError` naming a missing topic (nothing is created).
    """
    counts = []
    for topic in (kafka.topic, kafka.dlq_topic):
        try:
            counts.append(len(await partitions_of(kafka, topic)))
        except InfrastructureError as exc:
            raise InfrastructureError(f"{exc}; run `sessionflow topics create`") from exc
    return TopicLayout(*counts)


def watchers_of(settings: ProcessorSettings) -> list[Watcher]:
    """The built-in timer plugins the settings switch on."""
    watchers: list[Watcher] = []
    if settings.approval_timeout_s > 0:
        watchers.append(ApprovalTimeoutWatcher(int(settings.approval_timeout_s * 1000)))
    if settings.inactivity_timeout_s > 0:
        watchers.append(InactivityWatcher(int(settings.inactivity_timeout_s * 1000)))
    return watchers


class _OutputsService(Service):
    """Stops the worker's Kafka outputs when faust stops (subclassed per worker)."""

    outputs: KafkaOutputs

    async def on_stop(self) -> None:
        await self.outputs.stop()


def build_worker(
    kafka: KafkaSettings,
    settings: ProcessorSettings,
    identity: WorkerIdentity,
    registry: PluginRegistry,
    layout: TopicLayout,
) -> ProcessorApp:
    """A ready-to-run worker (faust app with the state API)."""
    codec = EventCodec()
    outputs = KafkaOutputs(kafka, settings.faust_id, layout.dlq_partitions, codec)
    processor = BatchProcessor(
        codec,
        registry,
        outputs,
        DeadlineScheduler(watchers_of(settings)),
        GlobalStats(retention_minutes=settings.stats_retention_minutes),
        PluginLimits(settings.plugin_timeout_ms / 1000, settings.max_causation_depth),
    )
    papp = ProcessorApp(
        kafka, settings, identity, processor, layout.partitions, StateCodec(),
        outputs.dead_letter_writer,
    )  # fmt: skip
    papp.app.service(type("OutputsService", (_OutputsService,), {"outputs": outputs}))
    install_views(papp)
    return papp


def run_worker(papp: ProcessorApp, *, verbose: bool = False) -> None:
    """Run ``papp`` in the foreground until SIGINT/SIGTERM.

    Tuned for throughput (measured with ``bench/bench_processor.py``): uvloop runs the event
    loop; faust's terminal spinner is off (it sets the root logger to DEBUG, so every debug
    call of faust and aiokafka would build a log record); once started and recovered, the
    objects alive are frozen out of the garbage collector's scans (``gc.freeze``).
    """
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())

    class TunedWorker(faust.Worker):
        async def on_startup_finished(self) -> None:
            await super().on_startup_finished()
            gc.collect()
            gc.freeze()

    worker = TunedWorker(
        papp.app, loglevel="DEBUG" if verbose else "WARNING", quiet=True, redirect_stdouts=False
    )
    worker.spinner = None
    logging.getLogger().setLevel(logging.DEBUG if verbose else logging.WARNING)
    worker.execute_from_commandline()


def default_identity(data_dir: Path, settings: ProcessorSettings, index: int = 0) -> WorkerIdentity:
    """Worker ``index``'s store under ``data_dir``, serving on ``settings.web_port``."""
    return WorkerIdentity(
        data_dir / "processors" / settings.faust_id / f"worker-{index}", settings.web_port
    )
