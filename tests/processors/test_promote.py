"""sessionflow state promote: the live workers move to a rebuilt state version with nothing
processed twice or skipped, while events keep flowing; what is refused, and a worker started
during a promote."""

from __future__ import annotations

import asyncio
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest

from sessionflow.core.kafka_clients import new_consumer
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
from sessionflow.producers.simulator import Simulation
from sessionflow.schemas import EventType
from sessionflow.testing.kafka import free_ports
from tests.processors.conftest import CODEC, SimulationFactory, topic_records
from tests.processors.expected import expected_dead_letters
from tests.processors.harness import (
    Worker,
    caught_up,
    health,
    wait_for,
    worker_env,
    workers,
)
from tests.processors.promotekit import (
    SteadyProducer,
    end_offsets,
    fold_into_version,
    offsets_report,
    sessionflow,
)
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


ROOT = Path(__file__).parents[2]


@pytest.fixture(scope="module")
def timeout_plugin(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example tool-timeout plugin, pip-installed into a directory (for PYTHONPATH)."""
    target = tmp_path_factory.mktemp("promote-plugins")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(ROOT / "examples" / "tool-timeout-plugin")],
        check=True, timeout=600,
    )  # fmt: skip
    return target


def _on(group: list[Worker], version: str) -> bool:
    """Every worker serves again, on ``version``."""
    try:
        answers = [w.get("/health") for w in group]
    except OSError:  # restarting
        return False
    return all(code == 200 and body.get("state_version") == version for code, body in answers)


def _tool_timeouts(sims: list[Simulation]) -> set[str]:
    return {
        r.event.event_id for sim in sims for r in sim.records
        if r.anomaly is None and r.event is not None
        and r.event.event_type is EventType.TOOL_CALL_FAILED
        and r.event.payload.error_code.value == "TOOL_TIMEOUT"  # type: ignore[union-attr]
    }  # fmt: skip


def test_promote_while_events_flow_loses_and_duplicates_nothing(
    topics: KafkaSettings,
    simulated: SimulationFactory,
    app_id: str,
    tmp_path: Path,
    timeout_plugin: Path,
) -> None:
    sims = [simulated(16, 61, 1)]
    env = worker_env(
        topics, app_id, tmp_path, PYTHONPATH=str(timeout_plugin),
        SESSIONFLOW_PROCESSOR_BATCH_SIZE="200",
    )  # fmt: skip
    with workers(env, tmp_path, count=2) as group:
        wait_for(lambda: caught_up(topics, group), 120, "v1 to fold the first events")
        producer = SteadyProducer(topics, first_seed=62).start()
        try:
            wait_for(lambda: len(producer.sent) >= 1, 60, "events to flow")
            code, out, err = sessionflow(env, "replay", "--source", "topic", "--version", "v2")
            assert code == 0, err
            code, out, err = sessionflow(env, "state", "promote", "v2", "--timeout", "120")
            assert code == 0, err
            promoted_at = len(producer.sent)
            wait_for(lambda: len(producer.sent) > promoted_at, 60, "events after the promote")
        finally:
            sims += producer.finish()
        wait_for(lambda: _on(group, "v2"), 120, "the workers to restart on v2",
                 lambda: [health(w) for w in group])  # fmt: skip
        wait_for(lambda: caught_up(topics, group, "v2"), 180, "v2 to fold every event",
                 lambda: (offsets_report(topics, f"{app_id}-v2"),
                          [health(w) for w in group]))  # fmt: skip
        records = topic_records(topics)
        pure = fold({}, records, CODEC)
        answers = {sid: group[0].get(f"/sessions/{sid}") for sid in pure.states}
        current = sessionflow(env, "state", "current")

    assert "promoted v1 -> v2" in out
    assert current[0] == 0
    assert current[1].startswith("v2 (current since")
    assert {sid: code for sid, (code, _) in answers.items() if code != 200} == {}
    served = {sid: comparable(v) for sid, (_, v) in answers.items()}
    assert differences(served, {s: comparable(to_view(v)) for s, v in pure.states.items()}) == []

    dead = topic_records(topics, topics.dlq_topic)
    origins = Counter(origin_of(d) for d in dead)
    assert [o for o, n in origins.items() if n > 1] == []  # no dead letter twice
    assert Counter((reason_of(d), *origin_of(d)) for d in dead) == Counter(
        (d.reason.value, d.record.partition, d.record.offset) for d in pure.dead_letters
    )
    timeouts = _tool_timeouts(sims)
    assert timeouts, "the simulation must contain tool timeouts for this test to mean anything"
    emitted = [e for e in map(CODEC.decode, (r.value for r in records if event_id_of(r.value)))
               if e["source"].startswith("plugin:")]  # fmt: skip
    assert Counter(e["causation_id"] for e in emitted) == Counter(timeouts)  # each once

    originals = {(r.partition, r.offset): r for r in records}
    found = Counter((reason_of(d), event_id_of(originals[origin_of(d)].value)) for d in dead)
    expected = sum((expected_dead_letters(sim) for sim in sims), Counter())
    plugin_ids = {e["event_id"] for e in emitted}
    for letter in pure.dead_letters:  # what the plugin's own events broke, if anything
        if letter.event_id in plugin_ids:
            expected[(letter.reason.value, letter.event_id)] += 1
    assert found == expected


async def _promote_beside_a_member(
    kafka: KafkaSettings, env: dict[str, str], app_id: str, timeout_s: int, interrupt: bool
) -> tuple[int, str]:
    """Run ``state promote v2`` while a consumer that ignores the control record stays in
    v1's group (so draining never ends); SIGINT it once draining if ``interrupt``."""
    member = new_consumer(kafka, kafka.dlq_topic, group_id=f"{app_id}-v1")
    await member.start()
    try:
        deadline = time.monotonic() + 60
        while not member.assignment():
            assert time.monotonic() < deadline, "the member did not join v1's group"
            await member.getmany(timeout_ms=500)
        promote = await asyncio.create_subprocess_exec(
            sys.executable, "-m", "sessionflow.cli", "state", "promote", "v2",
            "--timeout", str(timeout_s), env=env, stderr=asyncio.subprocess.PIPE,
        )  # fmt: skip
        if interrupt:
            while not await _draining(kafka, app_id):
                assert time.monotonic() < deadline + 60, "the promote did not start draining"
            promote.send_signal(signal.SIGINT)
        _, err = await asyncio.wait_for(promote.communicate(), 120)
        assert promote.returncode is not None
        return promote.returncode, err.decode()
    finally:
        await member.stop()


async def _draining(kafka: KafkaSettings, app_id: str) -> bool:
    record = await read_control(kafka, app_id)
    if record is None or record.phase is not Phase.DRAINING:
        await asyncio.sleep(0.2)  # polling interval of a condition wait
        return False
    return True


def _both_rebuilt(kafka: KafkaSettings, app_id: str) -> None:
    """v1 and v2 both folded to the end of the topic (v1 as if its workers had run)."""
    settings, ends = ProcessorSettings(app_id=app_id), end_offsets(kafka)
    for version in ("v1", "v2"):
        asyncio.run(fold_into_version(kafka, settings, version, ends))


@pytest.mark.parametrize("interrupt", [False, True], ids=["timeout", "ctrl-c"])
def test_a_promote_that_cannot_drain_or_is_interrupted_rolls_back(
    topics: KafkaSettings,
    simulated: SimulationFactory,
    app_id: str,
    tmp_path: Path,
    interrupt: bool,
) -> None:
    simulated(6, 71, 0)
    _both_rebuilt(topics, app_id)
    env = worker_env(topics, app_id, tmp_path)

    code, err = asyncio.run(_promote_beside_a_member(topics, env, app_id, 3, interrupt))

    last = err.strip().splitlines()[-1]
    if interrupt:
        assert code == 130, err
        assert "interrupted: rolled back, the workers run on v1 again" in err
    else:
        assert code == 1, err
        assert "still has members after 3s; rolled back: the workers run on v1 again" in last
    record = asyncio.run(read_control(topics, app_id))
    assert record is not None
    assert (record.version, record.phase, record.previous) == ("v1", Phase.CURRENT, "v2")


def test_promoting_the_old_version_ends_a_drain_left_by_a_killed_promote(
    topics: KafkaSettings, app_id: str, tmp_path: Path
) -> None:
    left = VersionRecord.now("v2", Phase.DRAINING, "v1")
    asyncio.run(write_control(topics, app_id, left))
    env = worker_env(topics, app_id, tmp_path)
    code, out, err = sessionflow(env, "state", "current")
    assert code == 0, err
    assert out.startswith("v1 -> v2 (promoting, draining since")

    code, out, err = sessionflow(env, "state", "promote", "v1")

    assert code == 0, err
    assert "the interrupted promote to v2 is rolled back" in err
    assert out.strip() == "v1 is live"
    record = asyncio.run(read_control(topics, app_id))
    assert record is not None
    assert (record.version, record.phase, record.previous) == ("v1", Phase.CURRENT, "v2")
