"""The sink on the real broker and the real ClickHouse engine: every record once, state and
dead letters equal to the processors' and the ground truth, analytics equal to a pure count."""

from __future__ import annotations

import asyncio
from collections import Counter
from pathlib import Path
from typing import Any

from sessionflow.core.settings import KafkaSettings
from sessionflow.producers.simulator import Simulation, simulate
from sessionflow.testing import read_topic
from tests.processors.conftest import CODEC, recent_plan
from tests.processors.expected import expected_dead_letters, expected_sessions
from tests.sinks.sinkkit import fill, rows


def test_every_record_once_state_and_dead_letters_as_the_processors_have_them(
    topics: KafkaSettings, ch_client: Any, ch_database: str, tmp_path: Path
) -> None:
    sim = simulate(recent_plan(40, 11, 2), CODEC.encode)
    db = ch_database
    inserts = fill(topics, ch_client, db, tmp_path, sim)

    records = asyncio.run(read_topic(topics, topics.topic))
    assert inserts > 3 * 6  # small batches: many inserts per partition
    assert rows(ch_client, f"SELECT count(), uniqExact(partition, offset) FROM {db}.events") == [
        (len(records), len(records))
    ]
    sent_ids = {r.event.event_id for r in sim.records if r.event is not None}
    assert rows(ch_client, f"SELECT count(), uniqExact(event_id) FROM {db}.events_unique") == [
        (len(sent_ids), len(sent_ids))
    ]
    expected = expected_sessions(sim)
    sessions = {
        sid: (status, user, outcome)
        for sid, status, user, outcome in rows(
            ch_client, f"SELECT session_id, status, user_id, outcome FROM {db}.sessions_current"
        )
    }
    assert sessions == {sid: (e.status, e.user_id, e.outcome) for sid, e in expected.items()}
    stats = {
        sid: (events, tokens, Counter(roles), Counter(used))
        for sid, events, tokens, roles, used in rows(
            ch_client,
            f"SELECT session_id, events, total_tokens, messages_by_role, tools_used "
            f"FROM {db}.session_stats_current",
        )
    }
    assert stats == {
        sid: (e.events, e.total_tokens, e.messages_by_role, e.tools_used)
        for sid, e in expected.items()
    }
    calls = rows(ch_client, f"SELECT session_id, tool_call_id, status FROM {db}.tool_calls_current")
    assert {(s, c): status for s, c, status in calls} == {
        (sid, call): status for sid, e in expected.items() for call, status in e.tool_status.items()
    }
    letters = rows(ch_client, f"SELECT reason, event_id FROM {db}.dead_letters")
    assert letters
    assert Counter(letters) == expected_dead_letters(sim)
    _check_analytics(ch_client, db, sim)


def _check_analytics(client: Any, db: str, sim: Simulation) -> None:
    """The incremental views against counts over the simulated records (every one sent)."""
    sent = [(r.event, r.event.payload.model_dump()) for r in sim.records if r.event is not None]
    per_type = Counter(e.event_type.value for e, _ in sent)
    assert dict(
        rows(client, f"SELECT event_type, sum(events) FROM {db}.events_per_minute GROUP BY 1")
    ) == dict(per_type)
    tool_of: dict[tuple[str, str], str] = {}
    ran: Counter[tuple[str, str]] = Counter()
    usage: dict[tuple[str, str], int] = {}
    total = 0
    for event, data in sent:
        kind = event.event_type.value
        if kind == "tool_call.pending":
            tool_of.setdefault((event.session_id, data["tool_call_id"]), data["tool_name"])
        elif kind in ("tool_call.completed", "tool_call.failed"):
            if data["duration_ms"] is None:
                continue
            tool = tool_of.get((event.session_id, data["tool_call_id"]), "")
            ran[(tool, "COMPLETED" if kind == "tool_call.completed" else "FAILED")] += 1
        elif kind.startswith("message.") and data["usage"] is not None:
            key = (event.session_id, data["message_id"])
            previous = usage.get(key, 0) if kind == "message.updated" else 0
            total += data["usage"]["total_tokens"] - previous
            usage[key] = data["usage"]["total_tokens"]
    got = rows(
        client, f"SELECT tool_name, status, countMerge(calls) FROM {db}.tool_latency GROUP BY 1, 2"
    )
    assert ran
    assert {(t, s): n for t, s, n in got} == dict(ran)
    assert total > 0
    assert rows(client, f"SELECT sum(total_tokens) FROM {db}.tokens_daily") == [(total,)]
    _check_per_entity_views(client, db, [event for event, _ in sent])


def _millis(moment: Any) -> int:
    return int(moment.timestamp() * 1000)


def _check_per_entity_views(client: Any, db: str, sent: list[Any]) -> None:
    """Approvals, errors, first chunks and user activity against counts over the records."""
    pending: dict[tuple[str, str], tuple[str, int]] = {}
    stream_model: dict[tuple[str, str], str | None] = {}
    user_of: dict[str, str | None] = {}
    decisions: Counter[tuple[str, str]] = Counter()
    waited: Counter[tuple[str, str]] = Counter()
    errors: Counter[str] = Counter()
    chunks: Counter[str] = Counter()
    activity: Counter[str] = Counter()
    for event in sent:
        kind, data, sid = event.event_type.value, event.payload.model_dump(), event.session_id
        if kind == "session.created":
            user_of.setdefault(sid, data["user_id"])
        activity[user_of.get(sid) or ""] += 1
        if kind == "tool_call.pending":
            pending.setdefault(
                (sid, data["tool_call_id"]), (data["tool_name"], _millis(event.occurred_at))
            )
        elif kind in ("tool_call.approved", "tool_call.rejected"):
            tool, asked = pending.get((sid, data["tool_call_id"]), ("", None))
            outcome = (tool, "APPROVED" if kind == "tool_call.approved" else "REJECTED")
            decisions[outcome] += 1
            waited[outcome] += (
                max(0, _millis(event.occurred_at) - asked) if asked is not None else 0
            )
        if kind in ("error.occurred", "tool_call.failed"):
            errors[data["error_code"]] += 1
        if kind == "stream.started":
            stream_model.setdefault((sid, data["stream_id"]), data["model"])
        elif kind == "stream.ended" and data["first_chunk_latency_ms"] is not None:
            chunks[stream_model.get((sid, data["stream_id"])) or ""] += 1
    approvals = rows(
        client, f"SELECT tool_name, outcome, countMerge(decisions), sumMerge(decision_ms_total) "
        f"FROM {db}.approval_outcomes GROUP BY 1, 2",
    )  # fmt: skip
    assert decisions
    assert {(t, o): (n, ms) for t, o, n, ms in approvals} == {
        key: (n, waited[key]) for key, n in decisions.items()
    }
    assert errors
    assert dict(
        rows(client, f"SELECT error_code, sum(errors) FROM {db}.errors_per_minute GROUP BY 1")
    ) == dict(errors)
    assert chunks
    assert dict(
        rows(client, f"SELECT model, countMerge(streams) FROM {db}.first_chunk_latency GROUP BY 1")
    ) == dict(chunks)
    assert dict(
        rows(client, f"SELECT user_id, sum(events) FROM {db}.user_activity GROUP BY 1")
    ) == dict(activity)
