"""``sessionflow replay --source topic``: a new version beside the live one, equal to the fold."""

from __future__ import annotations

from collections import Counter
from collections.abc import Iterable
from pathlib import Path
from typing import Any

from sessionflow.core.settings import KafkaSettings
from sessionflow.processors.domain.records import to_view
from sessionflow.processors.runtime.deadletter_writer import H_GROUP
from sessionflow.producers.simulator import simulate
from sessionflow.schemas.state_codec import state_topic
from tests.processors.conftest import CODEC, SimulationFactory, recent_plan, send, topic_records
from tests.processors.expected import expected_dead_letters
from tests.processors.harness import Worker, caught_up, wait_for, worker_env, workers
from tests.processors.views import comparable
from tests.replay.kit import committed, ends_of, pure_fold, replay_env, run_replay, version_states


def _served(worker: Worker, sessions: Iterable[str]) -> dict[str, Any]:
    """Each session's state view as ``worker`` serves it (all must be found)."""
    answers = {sid: worker.get(f"/sessions/{sid}") for sid in sessions}
    assert {sid: code for sid, (code, _) in answers.items() if code != 200} == {}
    return {sid: comparable(view) for sid, (_, view) in answers.items()}


def test_a_rebuild_beside_the_live_worker_equals_it_and_a_worker_continues_on_it(
    topics: KafkaSettings, simulated: SimulationFactory, app_id: str, tmp_path: Path
) -> None:
    sim = simulated(60, 3, 2)
    (tmp_path / "live").mkdir()
    live_env = worker_env(topics, app_id, tmp_path / "live", SESSIONFLOW_PROCESSOR_PLUGINS="")
    live_changelog = state_topic(f"{app_id}-v1")
    with workers(live_env, tmp_path / "live") as (live,):
        wait_for(lambda: caught_up(topics, [live]), 120, "the live worker to fold the topic")
        live_before = (topic_records(topics, live_changelog), committed(topics, f"{app_id}-v1"))
        done = run_replay(replay_env(topics, app_id, tmp_path), "--source", "topic")
        assert done.returncode == 0, done.stderr
        records = topic_records(topics)
        pure = pure_fold(records)
        served = _served(live, pure)
        live_after = (topic_records(topics, live_changelog), committed(topics, f"{app_id}-v1"))

    rebuilt = version_states(topics, app_id, "v2")
    assert rebuilt == pure
    assert served == {sid: comparable(to_view(state)) for sid, state in rebuilt.items()}
    assert committed(topics, f"{app_id}-v2") == ends_of(records)
    assert live_after == live_before  # the live version's changelog and offsets untouched
    reasons = Counter(reason for reason, _ in expected_dead_letters(sim).elements())
    dead = ", ".join(f"{r} {n:,}" for r, n in sorted(reasons.items()))
    assert f"version v2: {len(records):,} events folded" in done.stdout
    assert f"{len(pure):,} sessions" in done.stdout
    assert f"dead letters (not written again): {dead}\n" in done.stdout

    more = simulate(recent_plan(15, 4, 1), CODEC.encode)
    send(topics, more)
    (tmp_path / "v2").mkdir()
    env = worker_env(
        topics, app_id, tmp_path / "v2", SESSIONFLOW_PROCESSOR_PLUGINS="",
        SESSIONFLOW_PROCESSOR_STATE_VERSION="v2",
    )  # fmt: skip
    everything = topic_records(topics)
    with workers(env, tmp_path / "v2") as (worker,):
        wait_for(
            lambda: committed(topics, f"{app_id}-v2") == ends_of(everything), 120,
            "the v2 worker to fold the new events",
        )  # fmt: skip
        expected = pure_fold(everything)
        served_v2 = _served(worker, expected)
        busy = run_replay(replay_env(topics, app_id, tmp_path), "--source", "topic",
                          "--version", "v2", "--resume")  # fmt: skip
    assert busy.returncode == 1
    assert busy.stderr.strip().splitlines() == [
        f"error: --version v2: 1 worker(s) run on it (group {app_id}-v2); a rebuild writes "
        "only a version no worker runs"
    ]
    assert served_v2 == {sid: comparable(to_view(s)) for sid, s in expected.items()}
    v2_letters = [
        d for d in topic_records(topics, topics.dlq_topic)
        if dict(d.headers).get(H_GROUP) == f"{app_id}-v2".encode()
    ]  # fmt: skip
    assert len(v2_letters) == sum(expected_dead_letters(more).values())  # new events only
