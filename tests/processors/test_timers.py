"""Timer plugins on a real worker: an undecided approval times out once, a silent session is
suspended once, and a decided approval never times out."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

from sessionflow.core.settings import KafkaSettings
from sessionflow.producers import ProducerSettings, SessionEventProducer
from sessionflow.schemas import ApprovalMode, SessionConfig, new_session_id
from tests.processors.conftest import CODEC, topic_records
from tests.processors.harness import Worker, caught_up, wait_for, worker_env, workers


async def _sessions(kafka: KafkaSettings) -> tuple[str, str]:
    """Two live sessions: one with an undecided manual tool call, one whose call is decided."""
    waiting, decided = new_session_id(), new_session_id()
    async with SessionEventProducer(kafka, ProducerSettings(source="chat-api")) as producer:
        for sid in (waiting, decided):
            await producer.session_created(
                sid, config=SessionConfig(approval_mode=ApprovalMode.MANUAL)
            )
            await producer.session_activated(sid)
            await producer.message_created(sid, message_id="m1", role="assistant", content="...")
            await producer.tool_call_pending(
                sid, tool_call_id="c1", message_id="m1", tool_name="search", arguments="{}",
                approval_mode=ApprovalMode.MANUAL,
            )  # fmt: skip
        await producer.tool_call_approved(decided, tool_call_id="c1", approved_by="u1")
    return waiting, decided


def _emitted(kafka: KafkaSettings) -> list[dict[str, Any]]:
    events = [CODEC.decode(r.value) for r in topic_records(kafka)]
    return [e for e in events if e["source"].startswith("plugin:")]


def _ticks(worker: Worker) -> int:
    return int(worker.get("/health")[1]["ticks"])


def test_timers_fire_once_per_due_item(topics: KafkaSettings, app_id: str, tmp_path: Path) -> None:
    timers = {
        "SESSIONFLOW_PROCESSOR_APPROVAL_TIMEOUT_S": "2",
        "SESSIONFLOW_PROCESSOR_INACTIVITY_TIMEOUT_S": "5",
    }
    env = worker_env(topics, app_id, tmp_path, SESSIONFLOW_PROCESSOR_PLUGINS="", **timers)
    with workers(env, tmp_path) as (worker,):
        waiting, decided = asyncio.run(_sessions(topics))
        wait_for(lambda: len(_emitted(topics)) >= 3, 60, "two suspensions and one timeout")
        wait_for(lambda: caught_up(topics, [worker]), 60, "the worker to fold the emitted events")
        settled = _ticks(worker)
        wait_for(lambda: _ticks(worker) >= settled + 3, 30, "three more timer ticks")
        emitted = _emitted(topics)
        waiting_view = worker.get(f"/sessions/{waiting}")[1]
        decided_view = worker.get(f"/sessions/{decided}")[1]

    kinds = Counter((e["session_id"], e["event_type"], e["source"]) for e in emitted)
    assert kinds == {
        (waiting, "error.occurred", "plugin:approval-timeout"): 1,
        (waiting, "session.suspended", "plugin:inactivity"): 1,
        (decided, "session.suspended", "plugin:inactivity"): 1,
    }
    timeout = next(e for e in emitted if e["event_type"] == "error.occurred")
    assert timeout["payload"]["error_code"] == "APPROVAL_TIMEOUT"
    assert timeout["payload"]["details"]["tool_call_id"] == "c1"
    assert waiting_view["status"] == decided_view["status"] == "SUSPENDED"
    assert waiting_view["stats"]["errors_by_code"] == {"APPROVAL_TIMEOUT": 1}
    assert [c["approval_timed_out"] for c in waiting_view["tool_calls"]] == [True]
    assert [c["status"] for c in decided_view["tool_calls"]] == ["APPROVED"]
