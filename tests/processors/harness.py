"""Run processor workers as real processes against the test's broker, and wait on them."""

from __future__ import annotations

import asyncio
import json
import os
import signal
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from aiokafka.errors import KafkaError

from sessionflow.core.kafka_clients import new_admin
from sessionflow.core.settings import KafkaSettings
from sessionflow.core.topic_reader import offset_bounds
from sessionflow.testing import kafka_env
from sessionflow.testing.kafka import free_ports


@dataclass
class Worker:
    """One ``sessionflow process`` child: its port, log file and process."""

    port: int
    log: Path
    process: subprocess.Popen[bytes]
    env: dict[str, str] = field(repr=False)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def get(self, path: str) -> tuple[int, Any]:
        """(status, JSON body) of ``GET path``."""
        try:
            with urllib.request.urlopen(self.url + path, timeout=10) as response:
                return response.status, json.loads(response.read())
        except urllib.error.HTTPError as exc:
            return exc.code, json.loads(exc.read() or b"null")

    def kill(self) -> None:
        """SIGKILL, the way a crash ends a worker."""
        self.process.send_signal(signal.SIGKILL)
        self.process.wait(30)

    def stop(self) -> int:
        """SIGTERM and wait; the exit code."""
        if self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                return self.process.wait(60)
            except subprocess.TimeoutExpired:
                self.process.kill()
                return self.process.wait(10)
        return self.process.returncode


def worker_env(kafka: KafkaSettings, app_id: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a worker of app ``app_id`` on ``kafka``.

    Timer plugins are off unless ``extra`` turns them on: simulated sessions are minutes
    old, and a test about something else must not see them suspended for inactivity.
    """
    env = {**os.environ, **kafka_env(kafka)}
    env.update(
        SESSIONFLOW_DATA_DIR=str(data_dir),
        SESSIONFLOW_PROCESSOR_APP_ID=app_id,
        SESSIONFLOW_PROCESSOR_BATCH_TIMEOUT_MS="50",
        SESSIONFLOW_PROCESSOR_APPROVAL_TIMEOUT_S="0",
        SESSIONFLOW_PROCESSOR_INACTIVITY_TIMEOUT_S="0",
    )
    env.update(extra)
    return env


def start_worker(env: dict[str, str], log: Path, index: int = 0) -> Worker:
    """Start a worker and wait until its state API answers."""
    port = free_ports(1)[0]
    handle = log.open("ab")
    process = subprocess.Popen(
        [sys.executable, "-m", "sessionflow.cli", *_verbosity(), "process",
         "--worker-index", str(index), "--web-port", str(port)],
        env=env, stdout=handle, stderr=subprocess.STDOUT,
    )  # fmt: skip
    handle.close()
    worker = Worker(port, log, process, env)
    try:
        wait_for(lambda: _serving(worker), 90, f"worker on {port} to serve ({log})")
    except BaseException:
        worker.stop()  # never leave a worker behind a failed test
        raise
    return worker


def _verbosity() -> list[str]:
    """``-v`` when SESSIONFLOW_TEST_WORKER_VERBOSE is set (debug logs in the worker's log)."""
    return ["-v"] if os.environ.get("SESSIONFLOW_TEST_WORKER_VERBOSE") else []


@contextmanager
def workers(env: dict[str, str], log_dir: Path, count: int = 1) -> Iterator[list[Worker]]:
    """``count`` workers for the block; stopped afterwards."""
    started: list[Worker] = []
    try:
        for index in range(count):
            started.append(start_worker(env, log_dir / f"worker-{index}.log", index))
        yield started
    finally:
        for worker in started:
            worker.stop()


def _serving(worker: Worker) -> bool:
    if worker.process.poll() is not None:
        raise AssertionError(
            f"worker exited {worker.process.returncode}: {worker.log.read_text()[-3000:]}"
        )
    try:
        status, body = worker.get("/health")
    except OSError:
        return False
    return status == 200 and body["status"] == "ok"


def wait_for(condition: Any, timeout_s: float, what: str, explain: Any = None) -> None:
    """Poll ``condition()`` until true; fail naming ``what`` (and ``explain()``) after timeout."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            detail = f": {explain()}" if explain is not None else ""
            raise AssertionError(f"timed out after {timeout_s}s waiting for {what}{detail}")
        time.sleep(0.2)  # polling interval of a condition wait


def health(worker: Worker) -> Any:
    """The worker's /health body, or why it has none."""
    try:
        return worker.get("/health")
    except OSError as exc:
        return repr(exc)


def caught_up(kafka: KafkaSettings, group: list[Worker], version: str = "v1") -> bool:
    """True when the workers' consumer group (of state ``version``) has committed every
    record now on the topic.

    Offsets are committed after a batch's states, dead letters and plugin events are
    durable, so this is "everything is processed and would survive a crash".
    """
    app_id = group[0].env["SESSIONFLOW_PROCESSOR_APP_ID"]
    if any(worker.process.poll() is not None for worker in group):
        return False
    try:
        return asyncio.run(_lag(kafka, f"{app_id}-{version}")) == 0
    except KafkaError:  # e.g. the group's coordinator is not elected yet
        return False


async def _lag(kafka: KafkaSettings, group_id: str) -> int:
    _, ends = await offset_bounds(kafka, kafka.topic)
    admin = new_admin(kafka)
    await admin.start()
    try:
        committed = await admin.list_consumer_group_offsets(group_id)
    finally:
        await admin.close()
    done = {tp.partition: meta.offset for tp, meta in committed.items() if tp.topic == kafka.topic}
    return sum(max(0, end - done.get(p, 0)) for p, end in ends.items())
