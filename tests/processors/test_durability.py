"""Crashes lose and double nothing: a worker SIGKILLed at random points, restarted, is exact."""

from __future__ import annotations

import random
import shutil
from collections import Counter
from pathlib import Path

from sessionflow.core.settings import KafkaSettings
from sessionflow.processors.domain import fold
from sessionflow.processors.domain.records import to_view
from sessionflow.producers.simulator import simulate
from tests.processors.conftest import CODEC, recent_plan, send, topic_records
from tests.processors.expected import expected_dead_letters
from tests.processors.harness import (
    Worker,
    caught_up,
    health,
    start_worker,
    wait_for,
    worker_env,
)
from tests.processors.views import (
    comparable,
    differences,
    event_id_of,
    origin_of,
    reason_of,
)


def _batches(worker: Worker) -> int:
    try:
        status, body = worker.get("/health")
    except OSError:
        return -1
    return int(body["batches"]) if status == 200 else -1


def _kill_after_some_batches(
    kafka: KafkaSettings, worker: Worker, batches: int, env: dict[str, str], log: Path
) -> Worker:
    """SIGKILL ``worker`` once it folded ``batches`` batches (or all there is); a new one.

    Killed at a random point: mid-way through the records, between a batch and its commit,
    or after catching up.
    """
    wait_for(
        lambda: _batches(worker) >= batches or caught_up(kafka, [worker]),
        90, f"{batches} batches before the kill", lambda: health(worker),
    )  # fmt: skip
    worker.kill()
    return start_worker(env, log)


def test_a_worker_killed_again_and_again_ends_with_the_pure_fold(
    topics: KafkaSettings, app_id: str, tmp_path: Path
) -> None:
    rng = random.Random(20261202)
    env = worker_env(
        topics, app_id, tmp_path, SESSIONFLOW_PROCESSOR_PLUGINS="",
        SESSIONFLOW_PROCESSOR_BATCH_SIZE="150",
    )  # fmt: skip
    sims = [simulate(recent_plan(20, seed, 1), CODEC.encode) for seed in (31, 32, 33, 34)]
    log = tmp_path / "worker.log"
    worker = start_worker(env, log)
    try:
        for round_, sim in enumerate(sims):
            send(topics, sim)
            worker = _kill_after_some_batches(topics, worker, rng.randint(1, 4), env, log)
            if round_ == 2:  # this time the worker lost its disk: the changelog alone recovers it
                worker.kill()
                shutil.rmtree(tmp_path / "processors")
                worker = start_worker(env, log)
        wait_for(lambda: caught_up(topics, [worker]), 180, "the restarted worker to catch up")
        records = topic_records(topics)
        pure = fold({}, records, CODEC)
        answers = {sid: worker.get(f"/sessions/{sid}") for sid in pure.states}
    finally:
        worker.stop()

    assert {sid: code for sid, (code, _) in answers.items() if code != 200} == {}
    served = {sid: comparable(v) for sid, (_, v) in answers.items()}
    assert (
        differences(served, {sid: comparable(to_view(s)) for sid, s in pure.states.items()}) == []
    )
    dead = topic_records(topics, topics.dlq_topic)
    origins = Counter(origin_of(d) for d in dead)
    assert [o for o, n in origins.items() if n > 1] == []  # no dead letter written twice
    injected = sum((expected_dead_letters(sim) for sim in sims), Counter())
    originals = {(r.partition, r.offset): r for r in records}
    found = Counter((reason_of(d), event_id_of(originals[origin_of(d)].value)) for d in dead)
    assert found == injected
