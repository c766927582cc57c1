"""sessionflow state promote: the live workers move to a rebuilt state version with nothing
processed twice or skipped, while events keep flowing; what is refused, and a worker started
during a promote."""

from __future__ import annotations

import asyncio
import subprocess
import sys
from collections import Counter
from pathlib import Path

from sessionflow.core.settings import KafkaSettings
from sessionflow.processors.domain import fold
from sessionflow.processors.domain.records import to_view
from sessionflow.processors.runtime.control import (
    Phase,
    VersionRecord,
    read_control,
    write_control,
)
from sessionflow.processors.settings import ProcessorSettings
from sessionflow.testing.kafka import free_ports
from tests.processors.conftest import CODEC, SimulationFactory, topic_records
from tests.processors.expected import expected_dead_letters
from tests.processors.harness import (
    Worker,
    caught_up,
    health,
    wait_for,
    worker_env,
)
from tests.processors.promotekit import end_offsets, fold_into_version, sessionflow
from tests.processors.views import comparable, differences, event_id_of, origin_of, reason_of


def _one_line_error(err: str) -> str:
    lines = err.strip().splitlines()
    assert len(lines) == 1, err
    assert "Traceback" not in err
    return lines[0]


def test_promote_refuses_a_version_never_rebuilt_the_live_one_and_a_bad_name(
    topics: KafkaSettings, app_id: str, tmp_path: Path
) -> None:
    env = worker_env(topics, app_id, tmp_path)

    code, _, err = sessionflow(env, "state", "promote", "v9")
    assert code == 1
    line = _one_line_error(err)
    assert "v9 was never rebuilt" in line
    assert f"{app_id}-v9" in line

    code, _, err = sessionflow(env, "state", "promote", "v1")
    assert code == 1
    assert "v1 is already the live state version" in _one_line_error(err)

    code, _, err = sessionflow(env, "state", "promote", "latest")
    assert code == 2
    assert "'latest' is not a state version" in _one_line_error(err)

    assert asyncio.run(read_control(topics, app_id)) is None  # nothing was written
    code, out, _ = sessionflow(env, "state", "current")
    assert code == 0
    assert out.startswith("v1 (no control record")


def _serving(worker: Worker) -> bool:
    try:
        status, body = worker.get("/health")
    except OSError:
        return False
    return status == 200 and body["status"] == "ok"


def test_a_worker_started_while_draining_waits_then_runs_on_the_new_version(
    topics: KafkaSettings, simulated: SimulationFactory, app_id: str, tmp_path: Path
) -> None:
    simulated(12, 51, 1)
    settings = ProcessorSettings(app_id=app_id)
    asyncio.run(fold_into_version(topics, settings, "v2", end_offsets(topics)))
    draining = VersionRecord.now("v2", Phase.DRAINING, "v1")
    asyncio.run(write_control(topics, app_id, draining))

    env = worker_env(topics, app_id, tmp_path, SESSIONFLOW_PROCESSOR_PLUGINS="")
    log = tmp_path / "worker.log"
    port = free_ports(1)[0]
    with log.open("wb") as handle:
        process = subprocess.Popen(
            [sys.executable, "-m", "sessionflow.cli", "process", "--web-port", str(port)],
            env=env, stdout=handle, stderr=subprocess.STDOUT,
        )  # fmt: skip
    worker = Worker(port, log, process, env)
    try:
        wait_for(lambda: "waiting: v1 -> v2" in log.read_text(), 60, "the worker to wait")
        assert not _serving(worker)
        assert process.poll() is None
        asyncio.run(write_control(topics, app_id, VersionRecord.now("v2", Phase.CURRENT, "v1")))
        wait_for(lambda: _serving(worker), 90, "the worker to serve", lambda: log.read_text())
        assert worker.get("/health")[1]["state_version"] == "v2"
        later = simulated(12, 52, 1)
        wait_for(lambda: caught_up(topics, [worker], "v2"), 120, "v2 to fold the new events",
                 lambda: health(worker))  # fmt: skip
        pure = fold({}, topic_records(topics), CODEC)
        answers = {sid: worker.get(f"/sessions/{sid}") for sid in pure.states}
    finally:
        worker.stop()

    assert {sid: code for sid, (code, _) in answers.items() if code != 200} == {}
    served = {sid: comparable(v) for sid, (_, v) in answers.items()}
    assert differences(served, {s: comparable(to_view(v)) for s, v in pure.states.items()}) == []
    # v2 went on from the rebuild's offsets: only the later events were dead-lettered live
    records = {(r.partition, r.offset): r for r in topic_records(topics)}
    dead = topic_records(topics, topics.dlq_topic)
    found = Counter((reason_of(d), event_id_of(records[origin_of(d)].value)) for d in dead)
    assert found == expected_dead_letters(later)
