"""The plugin runner and the timer plugins, without a broker: ids, isolation, loops, deadlines."""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Collection
from datetime import UTC, datetime, timedelta

from sessionflow.processors.domain import Reason, Record, SessionState, fold
from sessionflow.processors.plugins.base import EventHandler
from sessionflow.processors.plugins.registry import PluginRegistry
from sessionflow.processors.plugins.runner import DEPTH_HEADER, run_plugins
from sessionflow.processors.plugins.watchers import ApprovalTimeoutWatcher, InactivityWatcher
from sessionflow.processors.runtime.scheduler import DeadlineScheduler
from sessionflow.schemas import (
    ApprovalMode,
    ContractModel,
    ErrorCode,
    ErrorOccurred,
    EventCodec,
    EventEnvelope,
    SessionConfig,
    make_event,
)

CODEC = EventCodec()
T0 = datetime(2026, 5, 1, 12, 0, tzinfo=UTC)
SID = "sess_20260501_120000_abcdef"


class Echo(EventHandler):
    """Answers every message.created and error.occurred with an error.occurred."""

    def __init__(self, name: str = "echo") -> None:
        self.name = name
        self.seen: list[str] = []

    @property
    def handler_name(self) -> str:
        return self.name

    @property
    def handled_event_types(self) -> Collection[str]:
        return ("message.created", "error.occurred")

    async def handle_event(self, event: EventEnvelope, session: SessionState) -> ContractModel:
        self.seen.append(event.event_id)
        return ErrorOccurred(error_code=ErrorCode.INTERNAL_ERROR, message="echo", recoverable=True)


class Raises(Echo):
    async def handle_event(self, event: EventEnvelope, session: SessionState) -> ContractModel:
        raise ValueError("nope")


class Hangs(Echo):
    async def handle_event(self, event: EventEnvelope, session: SessionState) -> ContractModel:
        await asyncio.sleep(60)
        raise AssertionError("unreachable")


def _records(*events: EventEnvelope, depth: int = 0) -> list[Record]:
    headers = ((DEPTH_HEADER, str(depth).encode()),) if depth else ()
    return [
        Record("t", 0, offset, e.session_id.encode(), CODEC.encode(e), 0, headers)
        for offset, e in enumerate(events)
    ]


def _session(mode: ApprovalMode = ApprovalMode.AUTO) -> list[EventEnvelope]:
    def at(seconds: int) -> datetime:
        return T0 + timedelta(seconds=seconds)

    return [
        make_event("session.created", SID, 1, "svc", {"config": SessionConfig(approval_mode=mode)},
                   occurred_at=at(0), producer_id="svc-1"),
        make_event("session.activated", SID, 2, "svc", {}, occurred_at=at(1), producer_id="svc-1"),
        make_event("message.created", SID, 3, "svc",
                   {"message_id": "m1", "role": "user", "content": "hi"},
                   occurred_at=at(2), producer_id="svc-1"),
    ]  # fmt: skip


def _run(registry: PluginRegistry, records: list[Record]):  # type: ignore[no-untyped-def]
    result = fold({}, records, CODEC)
    return asyncio.run(
        run_plugins(registry, result.applied, result.states, timeout_s=0.2, max_depth=2)
    )


def test_an_emitted_event_has_a_derived_id_its_cause_and_a_scope_of_its_own() -> None:
    events = _session()
    outcome = _run(PluginRegistry([Echo()]), _records(*events))

    (emission,) = outcome.emissions
    emitted = emission.event
    cause = events[2]
    assert emitted.event_id == str(uuid.uuid5(emitted_namespace(), f"echo:{cause.event_id}"))
    assert (emitted.causation_id, emitted.source) == (cause.event_id, "plugin:echo")
    assert (emitted.producer_id, emitted.sequence) == (f"plugin:echo@{cause.event_id}", 1)
    assert emitted.occurred_at == cause.occurred_at
    assert emission.depth == 1
    again = _run(PluginRegistry([Echo()]), _records(*events))
    assert again.emissions[0].event == emitted  # a re-run emits the very same event


def emitted_namespace() -> uuid.UUID:
    """The namespace the runner documents for derived ids."""
    return uuid.UUID("5e55f10e-0000-4000-8000-000000000000")


def test_a_plugin_never_receives_its_own_output_and_chains_stop_at_the_depth_limit() -> None:
    events = _session()
    first = _run(PluginRegistry([Echo()]), _records(*events)).emissions[0].event
    own = Echo()
    other = Echo("other")

    _run(PluginRegistry([own, other]), _records(*events, first))
    deep = _run(PluginRegistry([Echo("third")]), _records(*events, first, depth=2))

    assert first.event_id not in own.seen  # its own output
    assert first.event_id in other.seen  # another plugin's is fine
    assert deep.calls == {}  # depth 2 == limit: nobody is called


def test_raising_and_hanging_plugins_are_dead_lettered_and_the_others_go_on() -> None:
    events = _session()
    registry = PluginRegistry([Raises("raises"), Hangs("hangs"), Echo("fine")])

    outcome = _run(registry, _records(*events))

    reasons = {(d.reason, d.event_id) for d in outcome.dead_letters}
    assert reasons == {
        (Reason.PLUGIN_FAILED, events[2].event_id),
        (Reason.PLUGIN_TIMEOUT, events[2].event_id),
    }
    assert [e.event.source for e in outcome.emissions] == ["plugin:fine"]
    assert outcome.failures == {"raises": 1, "hangs": 1}


def test_watchers_fire_once_per_due_item_and_not_after_it_was_settled() -> None:
    manual = _session(ApprovalMode.MANUAL)
    pending = make_event(
        "tool_call.pending", SID, 4, "svc",
        {"tool_call_id": "c1", "message_id": "m1", "tool_name": "search",
         "arguments": "{}", "approval_mode": "manual"},
        occurred_at=T0 + timedelta(seconds=3), producer_id="svc-1",
    )  # fmt: skip
    state = fold({}, _records(*manual, pending), CODEC).states[SID]
    approval, idle = ApprovalTimeoutWatcher(10_000), InactivityWatcher(60_000)
    scheduler = DeadlineScheduler([approval, idle])
    start = int(T0.timestamp() * 1000)

    scheduler.schedule(state)
    before = scheduler.pop_due(start + 3_000 + 9_999)
    due = scheduler.pop_due(start + 3_000 + 10_000)
    scheduler.schedule(state)  # the same state again (its error is not back yet)
    again = scheduler.pop_due(start + 3_000 + 20_000)
    idle_due = scheduler.pop_due(start + 3_000 + 60_000)

    assert before == []
    assert [(d.watcher.name, d.item) for d in due] == [("approval-timeout", "c1")]
    fired = approval.fire(state, "c1", due[0].due_ms)
    assert fired is not None
    assert fired[1] == pending.event_id
    assert again == []
    assert [(d.watcher.name, d.session_id) for d in idle_due] == [("inactivity", SID)]
