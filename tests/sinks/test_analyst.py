"""Analysts' view: the README's ten queries and the analyst commands on a simulated run,
checked against the simulator's ground truth (not against the sink's own code)."""

from __future__ import annotations

import asyncio
import json
import os
import re
import subprocess
import sys
from collections import Counter, defaultdict
from pathlib import Path
from typing import Any

from sessionflow.core.settings import KafkaSettings
from sessionflow.producers.simulator import Simulation, simulate
from sessionflow.sinks.endpoint import EndpointSettings, QueryEndpoint
from sessionflow.testing import kafka_env
from tests.processors.conftest import CODEC, recent_plan
from tests.processors.expected import ExpectedSession, expected_dead_letters, expected_sessions
from tests.sinks.sinkkit import fill

README = Path(__file__).resolve().parents[2] / "README.md"
PRICE = (2.0, 10.0)  # per 1M prompt / completion tokens, for every model


def readme_queries() -> list[str]:
    """The SQL of the README's numbered analyst queries, in order."""
    section = README.read_text().split("## For analysts: ten queries", 1)[1].split("\n## ", 1)[0]
    return re.findall(r"^\d+\. .*?\n```sql\n(.*?)\n```", section, flags=re.M | re.S)


def _sent(sim: Simulation) -> list[Any]:
    return [r.event for r in sim.records if r.event is not None]


def _valid(sim: Simulation) -> list[Any]:
    return [r.event for r in sim.records if r.anomaly is None and r.event is not None]


def _per_user(expected: dict[str, ExpectedSession], value: Any) -> dict[Any, Any]:
    found: dict[Any, Any] = defaultdict(int)
    for summary in expected.values():
        found[summary.user_id] += value(summary)
    return dict(found)


def _durations(sim: Simulation) -> dict[str, tuple[int, int, int]]:
    tool_of: dict[tuple[str, str], str] = {}
    final: dict[tuple[str, str], int | None] = {}
    for event in _valid(sim):
        data = event.payload.model_dump()
        key = (event.session_id, data.get("tool_call_id"))
        if event.event_type.value == "tool_call.pending":
            tool_of[key] = data["tool_name"]
        elif event.event_type.value in ("tool_call.completed", "tool_call.failed"):
            final[key] = data["duration_ms"]
    runs: dict[str, list[int]] = defaultdict(list)
    for key, duration in final.items():
        if duration is not None:
            runs[tool_of[key]].append(duration)
    return {tool: (len(d), sum(d), max(d)) for tool, d in runs.items()}


def expected_answers(sim: Simulation) -> list[dict[Any, Any]]:
    """Per README query, its answer as {first column: the other columns}."""
    expected = expected_sessions(sim)
    first_type: dict[str, str] = {}
    for event in _sent(sim):
        first_type.setdefault(event.event_id, event.event_type.value)
    tools: Counter[str] = sum((e.tools_used for e in expected.values()), Counter())
    outcomes = Counter(s for e in expected.values() for s in e.tool_status.values())
    roles: Counter[str] = sum((e.messages_by_role for e in expected.values()), Counter())
    errors: Counter[str] = sum((e.errors_by_code for e in expected.values()), Counter())
    sessions = _per_user(expected, lambda e: 1)
    active = _per_user(expected, lambda e: int(e.status == "ACTIVE"))
    return [
        dict(Counter(e.status for e in expected.values())),
        dict(Counter(first_type.values())),
        dict(Counter(reason for reason, _ in expected_dead_letters(sim).elements())),
        dict(tools),
        dict(outcomes),
        _per_user(expected, lambda e: e.total_tokens),
        dict(roles),
        dict(errors),
        _durations(sim),
        {user: (n, active[user]) for user, n in sessions.items()},
    ]


def _as_dict(result: list[tuple[Any, ...]]) -> dict[Any, Any]:
    return {row[0]: row[1] if len(row) == 2 else tuple(row[1:]) for row in result}


def test_the_readme_queries_and_the_analyst_commands_answer_as_the_ground_truth(
    topics: KafkaSettings, ch_client: Any, ch_database: str, tmp_path: Path
) -> None:
    sim = simulate(recent_plan(30, 17, 1), CODEC.encode)
    models = {e.payload.model for e in _sent(sim) if getattr(e.payload, "model", None)}
    prices = ",".join(f"{m}={PRICE[0]:g}/{PRICE[1]:g}" for m in sorted(models))
    fill(topics, ch_client, ch_database, tmp_path, sim, prices=prices)

    queries = readme_queries()
    assert len(queries) == 10
    previous = ch_client.database
    ch_client.database = ch_database
    try:
        answers = [_as_dict(list(ch_client.query(sql).result_rows)) for sql in queries]
    finally:  # the run's shared client: back to its database (None would leave it here)
        ch_client.database = previous or "default"
    for number, (got, want) in enumerate(zip(answers, expected_answers(sim), strict=True), 1):
        assert want, f"query {number}: the ground truth is empty, the check would be vacuous"
        assert got == want, f"README query {number}"

    asyncio.run(_check_commands(topics, ch_client, ch_database, tmp_path, sim))


async def _check_commands(
    kafka: KafkaSettings, client: Any, database: str, tmp_path: Path, sim: Simulation
) -> None:
    """The commands as subprocesses, through a query endpoint over this test's database."""
    settings = EndpointSettings(port=0)
    async with QueryEndpoint(client, settings, default_database=database) as endpoint:
        env = {
            **os.environ, **kafka_env(kafka), "CLICKHOUSE_DATABASE": database,
            "SESSIONFLOW_SINK_HTTP_PORT": str(endpoint.port),
            "SESSIONFLOW_DATA_DIR": str(tmp_path),
            # this process holds that directory open, as a running sink would
            "CLICKHOUSE_DSN": client.sessionflow_dsn,
        }  # fmt: skip
        await asyncio.to_thread(_commands, env, sim)


def _cli(env: dict[str, str], *args: str) -> Any:
    result = subprocess.run(
        [sys.executable, "-m", "sessionflow.cli", *args, "--format", "json"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert result.returncode == 0, result.stderr
    return json.loads(result.stdout)


def _commands(env: dict[str, str], sim: Simulation) -> None:
    expected = expected_sessions(sim)
    listed = _cli(env, "sessions", "--limit", "1000")
    assert {row["session_id"]: row["status"] for row in listed} == {
        sid: e.status for sid, e in expected.items()
    }
    ended = _cli(env, "sessions", "--status", "ended", "--limit", "1000")
    assert sorted(row["session_id"] for row in ended) == sorted(
        sid for sid, e in expected.items() if e.status == "ENDED"
    )
    sid = max(expected, key=lambda session: _cost(sim, session))
    summary = expected[sid]
    (state,) = _cli(env, "session", sid)
    assert (state["events"], state["total_tokens"], state["user_id"]) == (
        summary.events, summary.total_tokens, summary.user_id,
    )  # fmt: skip
    assert _cost(sim, sid) > 0
    assert state["cost"] == _cost(sim, sid)
    mine = [e for e in _sent(sim) if e.session_id == sid]
    trail = _cli(env, "audit", sid)
    assert sorted(row["event_id"] for row in trail) == sorted(e.event_id for e in mine)
    assert [row["occurred_at"] for row in trail] == sorted(row["occurred_at"] for row in trail)
    talk = _cli(env, "history", sid)
    created = {e.payload.message_id for e in mine if e.event_type.value == "message.created"}
    assert {row["message_id"] for row in talk} == created
    (count,) = _cli(env, "query", "SELECT count() AS n FROM events")
    assert count["n"] == len(sim.records)
    missing = subprocess.run(
        [sys.executable, "-m", "sessionflow.cli", "session", "sess_19990101_000000_000000"],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip
    assert missing.returncode == 1
    assert missing.stderr.strip().splitlines() == [
        "error: session sess_19990101_000000_000000: not in ClickHouse"
    ]


def _cost(sim: Simulation, session_id: str) -> float:
    """The session's token cost at the test's prices: each message's latest usage, priced
    by the model of its creation (messages without a model have no price)."""
    usage: dict[str, tuple[int, int]] = {}
    model_of: dict[str, str | None] = {}
    prompt = completion = 0
    for event in _sent(sim):
        kind, data = event.event_type.value, event.payload.model_dump()
        if event.session_id != session_id or not kind.startswith("message."):
            continue
        message = data["message_id"]
        if kind == "message.created":
            model_of[message] = data["model"]
            usage.pop(message, None)
        if data["usage"] is None:
            continue
        before = usage.get(message, (0, 0))
        now = (data["usage"]["prompt_tokens"], data["usage"]["completion_tokens"])
        usage[message] = now
        if model_of.get(message) is not None:
            prompt += now[0] - before[0]
            completion += now[1] - before[1]
    return round(prompt * PRICE[0] / 1e6 + completion * PRICE[1] / 1e6, 6)
