"""The demo's processing step: a processor worker folds the simulated sessions, and its state
and dead letters are checked against the simulator's ground truth.

The worker runs as a child process (``sessionflow process``) for the duration of the step;
the demo waits on the worker's consumer group having committed everything (no sleeps), then
reads every simulated session over the worker's state API and the dead letters the run wrote.
"""

from __future__ import annotations

import asyncio
import json
import os
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Callable, Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sessionflow.cli.pipeline_status import reasons_between, topic_lags
from sessionflow.core.errors import InfrastructureError
from sessionflow.core.settings import KafkaSettings, kafka_child_environment
from sessionflow.core.topic_reader import offset_bounds
from sessionflow.processors.settings import ProcessorSettings
from sessionflow.producers.simulator import Simulation

_LIFECYCLE = {
    "session.created": "CREATED",
    "session.activated": "ACTIVE",
    "session.suspended": "SUSPENDED",
    "session.ended": "ENDED",
}


@contextmanager
def processor_worker(
    kafka: KafkaSettings, settings: ProcessorSettings, data_dir: Path, log: Path
) -> Iterator[str]:
    """A ``sessionflow process`` child for the block; yields its state API's URL."""
    env = {**os.environ, **kafka_child_environment(kafka), "SESSIONFLOW_DATA_DIR": str(data_dir)}
    url = f"http://{settings.web_host}:{settings.web_port}"
    log.parent.mkdir(parents=True, exist_ok=True)
    with log.open("ab") as out:
        child = subprocess.Popen(
            [sys.executable, "-m", "sessionflow.cli", "process"],
            env=env, stdout=out, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL,
        )  # fmt: skip
    try:
        wait_until(lambda: _serving(url, child, log), 120, f"the processor at {url} to start")
        yield url
    finally:
        child.terminate()
        try:
            child.wait(60)
        except subprocess.TimeoutExpired:
            child.kill()
            child.wait(10)


def wait_caught_up(kafka: KafkaSettings, group: str, timeout_s: float = 300.0) -> None:
    """Return once ``group`` committed every record now on the domain topic."""
    wait_until(lambda: _lag(kafka, group) == 0, timeout_s, f"consumer group {group} to catch up")


def expected_states(sim: Simulation) -> dict[str, tuple[str, int, int]]:
    """Per simulated session: status after its valid events, their number, the last one's time.

    The time (epoch ms) tells whether the inactivity watcher may have suspended the session.
    """
    status: dict[str, str] = {}
    events: Counter[str] = Counter()
    last: dict[str, int] = {}
    for record in sim.records:
        if record.anomaly is None and record.event is not None:
            event = record.event
            events[event.session_id] += 1
            last[event.session_id] = int(event.occurred_at.timestamp() * 1000)
            status[event.session_id] = _LIFECYCLE.get(
                event.event_type.value, status.get(event.session_id, "")
            )
    return {sid: (status[sid], events[sid], last[sid]) for sid in status}


def as_expected(
    expected: tuple[str, int, int], served: tuple[str, int] | None, idle_before_ms: int | None
) -> bool:
    """True when ``served`` is the expected (status, events), or — for a session ACTIVE and
    silent since before ``idle_before_ms`` — that session suspended by the inactivity watcher
    (one event more). ``idle_before_ms`` None: the watcher is off."""
    status, events, last_ms = expected
    if served == (status, events):
        return True
    idle = idle_before_ms is not None and status == "ACTIVE" and last_ms < idle_before_ms
    return idle and served == ("SUSPENDED", events + 1)


def served_states(url: str, sessions: list[str]) -> dict[str, tuple[str, int]]:
    """(status, events applied) of each session, as the worker's state API serves it."""
    served = {}
    for session_id in sessions:
        view = _get(f"{url}/sessions/{session_id}")
        if view is not None:
            served[session_id] = (view["status"], int(view["stats"]["events"]))
    return served


def dead_letter_reasons(
    kafka: KafkaSettings, start: Mapping[int, int], end: Mapping[int, int]
) -> Counter[str]:
    """Dead letters written between two sets of offsets of the DLQ topic, by reason."""
    return asyncio.run(reasons_between(kafka, start, end))


def expected_reasons(sim: Simulation) -> Counter[str]:
    """The dead letters the injected anomalies must produce, by reason."""
    return Counter(anomaly.kind.value for anomaly in sim.injected)


def dlq_ends(kafka: KafkaSettings) -> dict[int, int]:
    """End offsets of the DLQ topic now."""
    return asyncio.run(offset_bounds(kafka, kafka.dlq_topic))[1]


def _lag(kafka: KafkaSettings, group: str) -> int:
    return sum(asyncio.run(topic_lags(kafka, [kafka.topic], [group]))[group].values())


def _serving(url: str, child: subprocess.Popen[bytes], log: Path) -> bool:
    if child.poll() is not None:
        tail = log.read_text(errors="replace").strip().splitlines()[-1:] or ["no output"]
        raise InfrastructureError(f"the processor exited ({child.returncode}): {tail[0]}")
    health = _get(f"{url}/health")
    return health is not None and health.get("status") == "ok"


def _get(url: str) -> Any:
    try:
        with urllib.request.urlopen(url, timeout=10) as response:
            return json.loads(response.read())
    except (urllib.error.URLError, OSError, ValueError):
        return None


def wait_until(condition: Callable[[], bool], timeout_s: float, what: str) -> None:
    """Return once ``condition()`` holds; InfrastructureError naming ``what`` after
    ``timeout_s``."""
    deadline = time.monotonic() + timeout_s
    while not condition():
        if time.monotonic() > deadline:
            raise InfrastructureError(f"timed out after {timeout_s:.0f}s waiting for {what}")
        time.sleep(0.25)  # polling interval of a condition wait
