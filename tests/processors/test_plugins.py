"""Handler plugins on a real worker: a third-party plugin emits, a raising and a hanging
plugin are isolated and dead-lettered, and nothing else stops."""

from __future__ import annotations

import subprocess
import sys
import uuid
from collections import Counter
from pathlib import Path

import pytest

from sessionflow.core.settings import KafkaSettings
from sessionflow.processors.domain import fold
from sessionflow.processors.domain.records import to_view
from sessionflow.schemas import EventType
from tests.processors.conftest import CODEC, SimulationFactory, topic_records
from tests.processors.expected import expected_dead_letters
from tests.processors.harness import caught_up, wait_for, worker_env, workers
from tests.processors.views import comparable, differences, event_id_of, origin_of, reason_of

ROOT = Path(__file__).parents[2]
PACKAGES = (ROOT / "examples" / "tool-timeout-plugin", ROOT / "tests/processors/plugin_fixtures")


@pytest.fixture(scope="session")
def plugin_path(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The example plugin and the misbehaving test plugins, pip-installed into a directory."""
    target = tmp_path_factory.mktemp("plugins")
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), *map(str, PACKAGES)],
        check=True, timeout=600,
    )  # fmt: skip
    return target


def test_plugins_emit_and_misbehaving_ones_are_isolated(
    topics: KafkaSettings,
    simulated: SimulationFactory,
    app_id: str,
    tmp_path: Path,
    plugin_path: Path,
) -> None:
    sim = simulated(40, 8, 1)
    env = worker_env(
        topics, app_id, tmp_path,
        PYTHONPATH=str(plugin_path), SESSIONFLOW_PROCESSOR_PLUGIN_TIMEOUT_MS="300",
    )  # fmt: skip
    with workers(env, tmp_path) as (worker,):
        wait_for(lambda: caught_up(topics, [worker]), 180, "the worker to fold the topic")
        records = topic_records(topics)
        pure = fold({}, records, CODEC)
        served = {sid: worker.get(f"/sessions/{sid}")[1] for sid in pure.states}
        _, stats = worker.get("/stats")

    valid = [r.event for r in sim.records if r.anomaly is None and r.event is not None]
    timeouts = {
        e.event_id for e in valid
        if e.event_type is EventType.TOOL_CALL_FAILED
        and e.payload.error_code.value == "TOOL_TIMEOUT"  # type: ignore[union-attr]
    }  # fmt: skip
    assert timeouts, "the simulation must contain tool timeouts for this test to mean anything"
    decoded = [CODEC.decode(r.value) for r in records if event_id_of(r.value)]
    emitted = [e for e in decoded if e["source"].startswith("plugin:")]
    assert Counter(e["source"] for e in emitted) == {"plugin:tool-timeouts": len(timeouts)}
    assert {e["causation_id"] for e in emitted} == timeouts
    assert all(e["event_type"] == "error.occurred" for e in emitted)
    assert all(uuid.UUID(e["event_id"]).version == 5 for e in emitted)  # derived, not random
    assert len({e["event_id"] for e in emitted}) == len(emitted)

    dead = topic_records(topics, topics.dlq_topic)
    originals = {(r.partition, r.offset): r for r in records}
    found = Counter((reason_of(d), event_id_of(originals[origin_of(d)].value)) for d in dead)
    expected = expected_dead_letters(sim)
    for event in valid:
        if event.event_type is EventType.MESSAGE_CREATED:
            expected[("plugin_failed", event.event_id)] += 1
        elif event.event_type is EventType.SESSION_CREATED:
            expected[("plugin_timeout", event.event_id)] += 1
    for letter in pure.dead_letters:  # what the plugins' own events broke, if anything
        if letter.event_id in {e["event_id"] for e in emitted}:
            expected[(letter.reason.value, letter.event_id)] += 1
    assert found == expected
    assert (
        differences(
            {sid: comparable(v) for sid, v in served.items()},
            {sid: comparable(to_view(s)) for sid, s in pure.states.items()},
        )
        == []
    )
    assert stats["dead_letters"]["plugin_failed"] == sum(
        1 for e in valid if e.event_type is EventType.MESSAGE_CREATED
    )
