"""Build and run one processor worker from settings (the ``sessionflow process`` entry point).

:func:`build_worker` wires the pieces — codec, plugin registry, watchers, Kafka outputs, batch
processor, faust app, state API — and :func:`run_worker` runs it in the foreground until
SIGINT/SIGTERM, stopping cleanly.

State version: :func:`resolve_version` picks the version from the control record
(:mod:`~sessionflow.processors.runtime.control`), else ``SESSIONFLOW_PROCESSOR_STATE_VERSION``,
and waits while a promote drains. While running, the worker follows the control record; when
it names another version (or draining), the worker stops cleanly (faust commits what is
done) and :func:`restart_process` replaces the process by a fresh run of the same command
line (same pid, so ``process --workers N`` needs nothing special), which resolves again.
"""

from __future__ import annotations

import asyncio
import gc
import logging
import os
import signal
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import faust
import uvloop
from mode import Service

from sessionflow.core.errors import InfrastructureError
from sessionflow.core.gc_tuning import THROUGHPUT_THRESHOLDS
from sessionflow.core.lifecycle import restart_process
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
from sessionflow.processors.runtime.control import (
    ControlWatcher,
    Phase,
    VersionRecord,
    control_topic,
    runs_on,
)
from sessionflow.processors.runtime.faust_app import ProcessorApp, WorkerIdentity
from sessionflow.processors.runtime.kafka_outputs import KafkaOutputs
from sessionflow.processors.runtime.scheduler import DeadlineScheduler
from sessionflow.processors.runtime.web import install_views
from sessionflow.processors.settings import ProcessorSettings
from sessionflow.schemas.codec import EventCodec
from sessionflow.schemas.state_codec import StateCodec

log = logging.getLogger(__name__)


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


class _VersionWatchService(Service):
    """Follows the control record; stops the worker when it names another version."""

    papp: ProcessorApp

    @Service.task
    async def _watch(self) -> None:
        papp = self.papp
        version = papp.settings.state_version
        async with ControlWatcher(papp.kafka, papp.settings.app_id) as control:
            record = await control.wait_for(lambda latest: not runs_on(latest, version))
        papp.restart_reason = (
            f"control record: {record.describe()}" if record else "control record deleted"
        )
        log.warning("state version %s ends (%s): restarting", version, papp.restart_reason)
        os.kill(os.getpid(), signal.SIGTERM)  # faust's own clean stop, offsets committed


async def resolve_version(
    kafka: KafkaSettings, settings: ProcessorSettings, say: Callable[[str], None]
) -> ProcessorSettings:
    """``settings`` on the version to run: the control record's current version, else
    ``settings.state_version``; while a promote drains, wait until it is current (says so)."""
    topic = control_topic(settings.app_id)
    async with ControlWatcher(kafka, settings.app_id) as control:
        record: VersionRecord | None = control.latest
        if record is not None and record.phase is Phase.DRAINING:
            say(f"waiting: {record.describe()}; the worker starts once {record.version} is current")
            record = await control.wait_for(lambda r: r is None or r.phase is Phase.CURRENT)
    if record is None:
        say(f"state version {settings.state_version} (SESSIONFLOW_PROCESSOR_STATE_VERSION; "
            f"no control record in {topic})")  # fmt: skip
        return settings
    say(f"state version {record.version} (control record in {topic}: {record.describe()})")
    return settings.model_copy(update={"state_version": record.version})


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
    papp.app.service(type("VersionWatchService", (_VersionWatchService,), {"papp": papp}))
    install_views(papp)
    return papp


def use_fast_event_loop() -> None:
    """Make uvloop the event loop of everything this process builds from now on.

    Call it first thing in the entry point: building a worker already creates loops (faust's
    transport takes the current one, its consumer thread a new one), and a loop once made
    stays the stdlib's. Measured with ``bench/bench_processor.py``: the worker built before
    the switch ran on the stdlib loop in both threads.
    """
    asyncio.set_event_loop_policy(uvloop.EventLoopPolicy())


def run_worker(papp: ProcessorApp, *, verbose: bool = False) -> None:
    """Run ``papp`` in the foreground until SIGINT/SIGTERM, or until the control record
    names another state version: then the process restarts (:func:`restart_process`).

    Tuned for throughput (measured with ``bench/bench_processor.py``): uvloop runs the event
    loops if :func:`use_fast_event_loop` was called before ``papp`` was built (warned about
    otherwise); faust's terminal spinner is off (it sets the root logger to DEBUG, so every
    debug call of faust and aiokafka would build a log record); once started and recovered,
    the objects alive are frozen out of the garbage collector's scans (``gc.freeze``).
    """
    if not isinstance(papp.app.loop, uvloop.Loop):
        log.warning("the worker runs on %s, not uvloop", type(papp.app.loop).__name__)

    class TunedWorker(faust.Worker):
        async def on_startup_finished(self) -> None:
            await super().on_startup_finished()
            gc.collect()
            gc.freeze()
            gc.set_threshold(*THROUGHPUT_THRESHOLDS)

    worker = TunedWorker(
        papp.app, loglevel="DEBUG" if verbose else "WARNING", quiet=True, redirect_stdouts=False
    )
    worker.spinner = None
    logging.getLogger().setLevel(logging.DEBUG if verbose else logging.WARNING)
    try:
        worker.execute_from_commandline()
    finally:
        if papp.restart_reason is not None:
            restart_process()


def default_identity(data_dir: Path, settings: ProcessorSettings, index: int = 0) -> WorkerIdentity:
    """Worker ``index``'s store under ``data_dir``, serving on ``settings.web_port``."""
    return WorkerIdentity(
        data_dir / "processors" / settings.faust_id / f"worker-{index}", settings.web_port
    )
