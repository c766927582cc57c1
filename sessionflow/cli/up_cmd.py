"""``sessionflow up | status | down``: the whole pipeline as supervised processes.

``up`` uses the configured Kafka (``KAFKA_BOOTSTRAP_SERVERS``) or starts the local broker,
creates the topics, then supervises the processor worker(s) and the sink (which migrates
ClickHouse and serves the query endpoint); logs go to ``<data dir>/pipeline/logs``. In the
foreground Ctrl-C stops everything; ``--detach`` returns once every component answers and
leaves the pipeline running for ``status`` and ``down``. A local broker ``up`` started is
stopped with the pipeline; a configured one is left alone.
"""

from __future__ import annotations

import asyncio
import contextlib
import os
import signal
import socket
import subprocess
import sys
import threading
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import click

from sessionflow.cli.checks import checked_dirs, load_kafka
from sessionflow.cli.pipeline_status import (
    collect,
    component_ready,
    log_dir,
    running_state,
    state_file,
)
from sessionflow.cli.status_view import render
from sessionflow.core.clickhouse import check_dsn, open_client
from sessionflow.core.config import load_settings
from sessionflow.core.errors import ConfigurationError, InfrastructureError
from sessionflow.core.local_kafka import LocalKafka, LocalKafkaSettings
from sessionflow.core.reachability import ensure_reachable
from sessionflow.core.settings import (
    ClickHouseSettings,
    KafkaSettings,
    PathSettings,
    kafka_child_environment,
)
from sessionflow.core.supervisor import Component, Supervisor, pid_alive, read_state
from sessionflow.processors.promote import live_version
from sessionflow.processors.settings import ProcessorSettings
from sessionflow.producers.settings import TopicSettings
from sessionflow.producers.topics import create_topics
from sessionflow.sinks.endpoint import EndpointSettings
from sessionflow.sinks.settings import SinkSettings

_CLI = [sys.executable, "-m", "sessionflow.cli"]


@dataclass(frozen=True)
class PipelineSettings:
    """Every setting ``up`` uses, read and checked before anything starts."""

    kafka: KafkaSettings
    local_kafka: LocalKafkaSettings
    paths: PathSettings
    clickhouse: ClickHouseSettings
    processor: ProcessorSettings
    endpoint: EndpointSettings
    topics: TopicSettings
    workers: int

    @property
    def configured_kafka(self) -> bool:
        """True when KAFKA_BOOTSTRAP_SERVERS names a broker (else the local one runs)."""
        return "bootstrap_servers" in self.kafka.model_fields_set


def load_pipeline(workers: int) -> PipelineSettings:
    """The settings, checked; a port in use or a bad DSN fails here, before any start."""
    paths = checked_dirs(load_settings(PathSettings), create=True)
    clickhouse = load_settings(ClickHouseSettings)
    check_dsn(clickhouse, paths)
    settings = PipelineSettings(
        kafka=load_kafka(),
        local_kafka=load_settings(LocalKafkaSettings),
        paths=paths,
        clickhouse=clickhouse,
        processor=load_settings(ProcessorSettings),
        endpoint=load_settings(EndpointSettings),
        topics=load_settings(TopicSettings),
        workers=workers,
    )
    return settings


def components(settings: PipelineSettings, kafka: KafkaSettings) -> list[Component]:
    """The processes to supervise: ``workers`` processor workers and the sink."""
    env = {**kafka_child_environment(kafka), "SESSIONFLOW_DATA_DIR": str(settings.paths.data_dir)}
    logs = log_dir(settings.paths.data_dir)
    processor, endpoint = settings.processor, settings.endpoint
    found: list[Component] = []
    for index in range(settings.workers):
        port = processor.web_port + index
        url = f"http://{processor.web_host}:{port}"
        argv = [*_CLI, "process", "--worker-index", str(index), "--web-port", str(port)]
        urls = {"state_api": url, "metrics": f"{url}/metrics", "health": f"{url}/health"}
        name = f"processor-{index}"
        found.append(Component(name, argv, logs / f"{name}.log", env, urls))
    url = f"http://{endpoint.host}:{endpoint.port}"
    urls = {
        "clickhouse": url,
        "dashboard": f"{url}/dashboard",
        "metrics": f"{url}/metrics",
        "health": f"{url}/ping",
    }
    sink_argv = [*_CLI, "sink", "--http-port", str(endpoint.port)]
    found.append(Component("sink", sink_argv, logs / "sink.log", env, urls))
    return found


async def live_group(kafka: KafkaSettings, processors: ProcessorSettings) -> str:
    """The consumer group of the state version the workers run on (the settings' if the
    control record cannot be read)."""
    try:
        live = await live_version(kafka, processors)
    except Exception:
        return processors.faust_id
    return processors.model_copy(update={"state_version": live.version}).faust_id


def probe_clickhouse(settings: PipelineSettings) -> None:
    """Open ClickHouse once and close it (the sink opens it for good): an unusable embedded
    directory or an unreachable server fails here, in one line, before anything starts."""
    open_client(settings.clickhouse, settings.paths).close()


def check_ports_free(settings: PipelineSettings) -> None:
    """Raise ConfigurationError naming the first port a component needs that is taken."""
    processor, endpoint = settings.processor, settings.endpoint
    wanted = [(processor.web_host, processor.web_port + i, "SESSIONFLOW_PROCESSOR_WEB_PORT")
              for i in range(settings.workers)]  # fmt: skip
    wanted.append((endpoint.host, endpoint.port, "SESSIONFLOW_SINK_HTTP_PORT"))
    for host, port, setting in wanted:
        with socket.socket() as probe:
            probe.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
            try:
                probe.bind((host, port))
            except OSError:
                raise ConfigurationError(
                    f"{setting}: port {port} on {host} is in use (choose another)"
                ) from None


@click.command("up")
@click.option("--workers", type=click.IntRange(1, 64), default=1, show_default=True,
              help="Processor worker processes.")  # fmt: skip
@click.option("--detach", "-d", is_flag=True, help="Return once everything answers; keep it up.")
@click.option("--timeout", type=click.FloatRange(1), default=180.0, show_default=True,
              help="Seconds to wait for every component to answer (--detach).")  # fmt: skip
@click.option("--supervise", is_flag=True, hidden=True)
def up_command(workers: int, detach: bool, timeout: float, supervise: bool) -> None:
    """Run the whole pipeline: Kafka, topics, processor worker(s), sink and query endpoint."""
    settings = load_pipeline(workers)
    existing = running_state(settings.paths.data_dir)
    if existing is not None:
        click.echo(f"the pipeline already runs (supervisor pid {existing['supervisor_pid']}); "
                   "see `sessionflow status`")  # fmt: skip
        return
    probe_clickhouse(settings)
    check_ports_free(settings)
    if settings.configured_kafka:
        asyncio.run(ensure_reachable(settings.kafka))
    if detach:
        click.echo(ready_text(start_detached(settings, timeout)))
        return
    _run(settings, announce=not supervise)


def _run(settings: PipelineSettings, *, announce: bool) -> None:
    """Start Kafka (unless configured) and the topics, then supervise until stopped."""
    broker = None if settings.configured_kafka else LocalKafka(settings.local_kafka, settings.paths)
    kafka = settings.kafka
    if broker is not None:
        status = broker.up()
        kafka = kafka.model_copy(update={"bootstrap_servers": status.bootstrap_servers})
        click.echo(f"kafka: local broker at {status.bootstrap_servers} (pid {status.pid})")
    try:
        asyncio.run(create_topics(kafka, settings.topics))
        parts = components(settings, kafka)
        urls = {f"{c.name} {k}": v for c in parts for k, v in c.urls.items() if k != "health"}
        supervisor = Supervisor(
            parts, state_file(settings.paths.data_dir),
            extra={"bootstrap_servers": kafka.bootstrap_servers, "urls": urls,
                   "local_broker": broker is not None, "started_at": time.time()},
            on_event=lambda line: click.echo(line, err=True),
        )  # fmt: skip
        supervisor.install_signal_handlers()
        if announce:
            threading.Thread(target=_announce_ready, args=(settings,), daemon=True).start()
        supervisor.run()
    finally:
        if broker is not None:
            broker.down()
            click.echo("kafka: local broker stopped")


def _announce_ready(settings: PipelineSettings) -> None:
    if _wait_ready(settings.paths.data_dir, 600.0, None):
        state = read_state(state_file(settings.paths.data_dir)) or {}
        click.echo(ready_text(state))


def ready_text(state: dict[str, Any]) -> str:
    lines = ["pipeline up:"]
    lines += [f"  {name}: {url}" for name, url in sorted(state.get("urls", {}).items())]
    lines.append("  `sessionflow status` shows it; `sessionflow down` (or Ctrl-C) stops it")
    return "\n".join(lines)


def _wait_ready(data_dir: Path, timeout_s: float, child: subprocess.Popen[bytes] | None) -> bool:
    """Wait until every component answers; False when ``child`` (the supervisor) died."""
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        if child is not None and child.poll() is not None:
            return False
        state = read_state(state_file(data_dir))
        if state is not None and pid_alive(state.get("supervisor_pid")):
            parts = state.get("components", [])
            if parts and all(component_ready(c) for c in parts):
                return True
        time.sleep(0.5)  # polling interval of a condition wait
    raise InfrastructureError(
        f"timed out after {timeout_s:.0f}s waiting for the pipeline to answer; "
        f"logs in {log_dir(data_dir)}"
    )


def start_detached(settings: PipelineSettings, timeout_s: float) -> dict[str, Any]:
    """Start the pipeline in the background (``up --supervise`` in its own session); return
    its state once every component answers. Raises InfrastructureError if it stops first."""
    data_dir = settings.paths.data_dir
    log = log_dir(data_dir) / "up.log"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        child = subprocess.Popen(
            [*_CLI, "up", "--workers", str(settings.workers), "--supervise"],
            stdin=subprocess.DEVNULL, stdout=out, stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    if not _wait_ready(data_dir, timeout_s, child):
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise InfrastructureError(f"the pipeline stopped while starting: {tail[0]} (log {log})")
    return read_state(state_file(data_dir)) or {}


@click.command("down")
@click.option("--timeout", type=click.FloatRange(1), default=120.0, show_default=True,
              help="Seconds to wait for everything to stop.")  # fmt: skip
def down_command(timeout: float) -> None:
    """Stop the pipeline `sessionflow up` started (and its local broker)."""
    paths = checked_dirs(load_settings(PathSettings), create=False)
    state = running_state(paths.data_dir)
    if state is None:
        click.echo("the pipeline is not running")
        return
    pid = int(state["supervisor_pid"])
    _terminate(pid)
    deadline = time.monotonic() + timeout
    while pid_alive(pid):
        if time.monotonic() > deadline:
            raise InfrastructureError(f"the pipeline (pid {pid}) did not stop within {timeout:g}s")
        time.sleep(0.2)  # polling interval of a condition wait
    click.echo("the pipeline stopped")


def _terminate(pid: int) -> None:
    with contextlib.suppress(ProcessLookupError):
        os.kill(pid, signal.SIGTERM)


@click.command("status")
@click.option("--format", "fmt", type=click.Choice(["table", "json"]), default="table",
              show_default=True)  # fmt: skip
def status_command(fmt: str) -> None:
    """Components, consumer lag per group and partition, dead letters by reason, URLs."""
    paths = checked_dirs(load_settings(PathSettings), create=False)
    state = running_state(paths.data_dir)
    kafka = None
    processors = load_settings(ProcessorSettings)
    groups = [processors.faust_id, load_settings(SinkSettings).group_id]
    if state is not None:
        kafka = load_kafka().model_copy(update={"bootstrap_servers": state["bootstrap_servers"]})
        groups[0] = asyncio.run(live_group(kafka, processors))
    status = collect(paths.data_dir, kafka, groups)
    if fmt == "json":
        click.echo(status.as_json())
    else:
        render(status)
    if not status.running or not all(c["ready"] for c in status.components):
        raise SystemExit(1)
