"""Two workers share the partitions; either one answers for any session (routed to the owner)
and for the statistics of both."""

from __future__ import annotations

from pathlib import Path

from sessionflow.core.settings import KafkaSettings
from sessionflow.processors.domain import fold
from sessionflow.processors.domain.records import to_view
from tests.processors.conftest import CODEC, SimulationFactory, topic_records
from tests.processors.harness import Worker, caught_up, wait_for, worker_env, workers
from tests.processors.views import comparable, differences


def _sharing(group: list[Worker]) -> bool:
    owned = [set(w.get("/health")[1]["partitions"]) for w in group]
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
        answers = [{sid: w.get(f"/sessions/{sid}") for sid in pure.states} for w in group]
        stats = [w.get("/stats")[1] for w in group]

    expected = {sid: comparable(to_view(s)) for sid, s in pure.states.items()}
    for answer in answers:
        assert {sid: code for sid, (code, _) in answer.items() if code != 200} == {}
        assert differences({s: comparable(v) for s, (_, v) in answer.items()}, expected) == []
    for merged in stats:
        assert merged["sessions"] == len(pure.states)
        assert sorted(merged["partitions"]) == list(range(6))
        assert len(merged["workers"]) == 2
