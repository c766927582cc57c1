"""Two workers share the partitions; either one answers for any session (routed to the owner)
and for the statistics of both."""

from __future__ import annotations

import signal
import socket
import subprocess
import sys
from pathlib import Path
from typing import Any

from sessionflow.core.settings import KafkaSettings
from sessionflow.processors.domain import fold
from sessionflow.processors.domain.records import to_view
from sessionflow.testing.kafka import free_ports
from tests.processors.conftest import CODEC, SimulationFactory, topic_records
from tests.processors.harness import Worker, caught_up, wait_for, worker_env, workers
from tests.processors.views import comparable, differences


def _sharing(group: list[Worker]) -> bool:
    try:
        owned = [set(w.get("/health")[1]["partitions"]) for w in group]
    except OSError:  # not serving yet
        return False
    return all(owned) and not set.intersection(*owned) and len(set.union(*owned)) == 6


def test_two_workers_share_partitions_and_route_requests(
    topics: KafkaSettings, simulated: SimulationFactory, app_id: str, tmp_path: Path
) -> None:
    simulated(40, 21, 1)
    env = worker_env(topics, app_id, tmp_path, SESSIONFLOW_PROCESSOR_PLUGINS="")
    with workers(env, tmp_path, count=2) as group:
        wait_for(lambda: _sharing(group), 120, "the two workers to share the 6 partitions")
        wait_for(lambda: caught_up(topics, group), 120, "the workers to fold the topic")
        pure = fold({}, topic_records(topics), CODEC)
        answers: list[dict[str, Any]] = []

        def every_session_served() -> bool:
            # a worker that just got partitions serves them once it recovered their state
            answers[:] = [{sid: w.get(f"/sessions/{sid}") for sid in pure.states} for w in group]
            return all(code == 200 for answer in answers for code, _ in answer.values())

        wait_for(every_session_served, 120, "both workers to serve every session")
        stats = [w.get("/stats")[1] for w in group]

    expected = {sid: comparable(to_view(s)) for sid, s in pure.states.items()}
    for answer in answers:
        assert differences({s: comparable(v) for s, (_, v) in answer.items()}, expected) == []
    for merged in stats:
        assert merged["sessions"] == len(pure.states)
        assert sorted(merged["partitions"]) == list(range(6))
        assert len(merged["workers"]) == 2


def _consecutive_free_ports() -> int:
    """A port p such that p and p + 1 are free now."""
    for port in free_ports(30):
        if _free(port + 1):
            return port
    raise AssertionError("no two consecutive free ports")


def _free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
    return True


def test_workers_option_runs_and_stops_a_group_of_workers(
    topics: KafkaSettings, app_id: str, tmp_path: Path
) -> None:
    port = _consecutive_free_ports()
    env = worker_env(topics, app_id, tmp_path, SESSIONFLOW_PROCESSOR_PLUGINS="")
    log = (tmp_path / "supervisor.log").open("wb")
    supervisor = subprocess.Popen(
        [sys.executable, "-m", "sessionflow.cli", "process", "--workers", "2",
         "--web-port", str(port)],
        env=env, stdout=log, stderr=subprocess.STDOUT,
    )  # fmt: skip
    group = [Worker(p, tmp_path / "supervisor.log", supervisor, env) for p in (port, port + 1)]
    try:
        wait_for(lambda: _sharing(group), 120, "the two workers to share the 6 partitions")
    finally:
        supervisor.send_signal(signal.SIGTERM)
        code = supervisor.wait(90)
        log.close()

    assert code == 0, (tmp_path / "supervisor.log").read_text()[-2000:]
    assert not any(_answers(p) for p in (port, port + 1))  # both workers are gone


def _answers(port: int) -> bool:
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=1):
            return True
    except OSError:
        return False
