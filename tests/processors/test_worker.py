"""A processor worker on the real broker: state over HTTP, dead letters on the DLQ topic."""

from __future__ import annotations

from collections import Counter
from pathlib import Path

from sessionflow.core.settings import KafkaSettings
from sessionflow.processors.domain import fold
from sessionflow.processors.domain.records import from_record, to_view
from sessionflow.schemas.state_codec import StateCodec
from tests.processors.conftest import CODEC, SimulationFactory, topic_records
from tests.processors.expected import (
    expected_dead_letters,
    expected_sessions,
    summary_of_expected,
)
from tests.processors.harness import caught_up, wait_for, worker_env, workers
from tests.processors.views import (
    comparable,
    event_id_of,
    origin_of,
    reason_of,
    summary_of_view,
)


def test_state_over_http_and_dead_letters_equal_the_ground_truth(
    topics: KafkaSettings, simulated: SimulationFactory, app_id: str, tmp_path: Path
) -> None:
    sim = simulated(60, 3, 2)
    env = worker_env(topics, app_id, tmp_path, SESSIONFLOW_PROCESSOR_PLUGINS="")
    with workers(env, tmp_path) as (worker,):
        wait_for(lambda: caught_up(topics, [worker]), 120, "the worker to fold the topic")
        views = {sid: worker.get(f"/sessions/{sid}") for sid in expected_sessions(sim)}
        status, missing = worker.get("/sessions/sess_19990101_000000_000000")
        _, stats = worker.get("/stats")

    assert "not uvloop" not in worker.log.read_text()  # run_worker warns when built too early
    expected = expected_sessions(sim)
    pure = fold({}, topic_records(topics), CODEC)
    assert {sid: code for sid, (code, _) in views.items() if code != 200} == {}
    assert {sid: summary_of_view(v) for sid, (_, v) in views.items()} == {
        sid: summary_of_expected(e) for sid, e in expected.items()
    }
    assert {sid: comparable(v) for sid, (_, v) in views.items()} == {
        sid: comparable(to_view(s)) for sid, s in pure.states.items()
    }
    assert (status, missing["error"]) == (404, "unknown session sess_19990101_000000_000000")
    assert stats["sessions"] == len(expected)
    assert stats["dead_letters"] == dict(
        Counter(r for r, _ in expected_dead_letters(sim).elements())
    )
    valid = [r.event for r in sim.records if r.anomaly is None and r.event is not None]
    per_type = Counter(e.event_type.value for e in valid)
    served_per_type: Counter[str] = Counter()
    for counts in stats["events_per_minute"].values():
        served_per_type.update(counts)
    assert served_per_type == per_type
    ran = [e for e in valid if e.event_type.value in ("tool_call.completed", "tool_call.failed")]
    timed = [e for e in ran if e.payload.duration_ms is not None]  # type: ignore[union-attr]
    assert stats["latency_ms"]["tool_execution_ms"]["count"] == len(timed)
    assert stats["active_sessions"] == sum(1 for e in expected.values() if e.status == "ACTIVE")

    changelog = f"{app_id}-v1-sessions-changelog"
    stream = {r.key.decode(): r.value for r in topic_records(topics, changelog) if r.key}
    decoded = {sid: from_record(StateCodec().decode(v)) for sid, v in stream.items()}
    assert decoded == pure.states  # the state stream a sink or replay reads, latest per key

    dead = topic_records(topics, topics.dlq_topic)
    by_origin = {origin_of(d): d for d in dead}
    originals = {(r.partition, r.offset): r for r in topic_records(topics)}
    found = Counter(
        (reason_of(d), event_id_of(originals[origin].value)) for origin, d in by_origin.items()
    )
    assert len(by_origin) == len(dead)  # no origin dead-lettered twice
    assert found == expected_dead_letters(sim)
    assert all(
        d.value == originals[o].value and d.key == originals[o].key for o, d in by_origin.items()
    )
