"""Running plugins on the events a fold applied: isolated, bounded, deterministic ids.

:func:`run_plugins` calls every handler registered for each applied event (never on events
it emitted itself, never past the causation depth limit), each call bounded by a timeout,
concurrently. A returned payload becomes an :class:`Emission`: a complete envelope whose
``event_id`` is derived from the plugin's name and the causing event, numbered 1 in a scope
of its own (``producer_id = plugin:<name>@<cause event_id>``), with the causing event's time,
so running the same plugin on the same event again emits the very same event. A plugin that
raises or times out yields a dead letter of the causing record instead.
"""

from __future__ import annotations

import asyncio
import time
import uuid
from collections import Counter
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from sessionflow.processors.domain.deadletters import DeadLetter, Reason, Record
from sessionflow.processors.domain.model import SessionState
from sessionflow.processors.plugins.base import EventHandler
from sessionflow.processors.plugins.registry import PluginRegistry
from sessionflow.schemas.errors import EventValidationError
from sessionflow.schemas.models import PAYLOAD_MODELS, ContractModel, EventEnvelope
from sessionflow.schemas.validation import make_event, millis_to_datetime, validate_event

DEPTH_HEADER = "sessionflow.depth"
_NAMESPACE = uuid.UUID("5e55f10e-0000-4000-8000-000000000000")
_TYPE_OF = {model: event_type for event_type, model in PAYLOAD_MODELS.items()}


@dataclass(frozen=True, slots=True)
class Emission:
    """An event a plugin emitted, the record that caused it (None for a timer) and its depth."""

    cause: Record | None
    event: EventEnvelope
    depth: int


@dataclass(slots=True)
class PluginOutcome:
    """What the plugins did for one batch."""

    emissions: list[Emission] = field(default_factory=list)
    dead_letters: list[DeadLetter] = field(default_factory=list)
    calls: Counter[str] = field(default_factory=Counter)
    failures: Counter[str] = field(default_factory=Counter)
    seconds: dict[str, float] = field(default_factory=dict)


def emitted_event_id(plugin: str, cause_event_id: str) -> str:
    """The deterministic event_id of what ``plugin`` emits for ``cause_event_id``."""
    return str(uuid.uuid5(_NAMESPACE, f"{plugin}:{cause_event_id}"))


def depth_of(record: Record) -> int:
    """Causation depth of a record: 0 for service events, n for the n-th plugin generation."""
    for name, value in record.headers:
        if name == DEPTH_HEADER:
            try:
                return int(value)
            except ValueError:
                return 0
    return 0


def build_emission(
    plugin: str, payload: ContractModel, cause: dict[str, Any], record: Record
) -> Emission:
    """The envelope ``plugin`` emits for ``payload`` in reaction to ``cause``."""
    event_type = _TYPE_OF.get(type(payload))
    if event_type is None:
        raise EventValidationError("", "payload", f"{type(payload).__name__} is no event payload")
    envelope = make_event(
        event_type,
        cause["session_id"],
        1,
        f"plugin:{plugin}",
        payload,
        event_id=emitted_event_id(plugin, cause["event_id"]),
        occurred_at=millis_to_datetime(cause["occurred_at"]),
        causation_id=cause["event_id"],
        correlation_id=cause.get("correlation_id"),
        producer_id=f"plugin:{plugin}@{cause['event_id']}",
    )
    return Emission(record, envelope, depth_of(record) + 1)


def timer_emission(
    plugin: str, payload: ContractModel, session_id: str, cause_event_id: str, due_ms: int
) -> Emission:
    """The envelope a timer-driven plugin emits when a deadline of ``session_id`` is due."""
    event_type = _TYPE_OF.get(type(payload))
    if event_type is None:
        raise EventValidationError("", "payload", f"{type(payload).__name__} is no event payload")
    envelope = make_event(
        event_type,
        session_id,
        1,
        f"plugin:{plugin}",
        payload,
        event_id=emitted_event_id(plugin, cause_event_id),
        occurred_at=millis_to_datetime(due_ms),
        causation_id=cause_event_id,
        producer_id=f"plugin:{plugin}@{cause_event_id}",
    )
    return Emission(None, envelope, 1)


async def run_plugins(
    registry: PluginRegistry,
    applied: Sequence[tuple[Record, dict[str, Any]]],
    states: Mapping[str, SessionState],
    *,
    timeout_s: float,
    max_depth: int,
    clock: Callable[[], float] = time.perf_counter,
) -> PluginOutcome:
    """Call the registered handlers on ``applied`` events; see the module docstring."""
    outcome = PluginOutcome()
    calls = []
    for record, event in applied:
        handlers = registry.for_type(event["event_type"])
        if not handlers or depth_of(record) >= max_depth:
            continue
        state = states.get(event["session_id"])
        if state is None:
            continue
        envelope: EventEnvelope | None = None
        for handler in handlers:
            if event["source"] == f"plugin:{handler.handler_name}":
                continue  # a plugin never receives its own output
            if envelope is None:
                envelope = validate_event(event)
            calls.append(_call(handler, envelope, state, record, event, timeout_s, outcome, clock))
    if calls:
        await asyncio.gather(*calls)
    return outcome


async def _call(
    handler: EventHandler,
    envelope: EventEnvelope,
    state: SessionState,
    record: Record,
    event: dict[str, Any],
    timeout_s: float,
    outcome: PluginOutcome,
    clock: Callable[[], float],
) -> None:
    name = handler.handler_name
    outcome.calls[name] += 1
    started = clock()
    try:
        payload = await asyncio.wait_for(handler.handle_event(envelope, state), timeout_s)
        if payload is not None:
            outcome.emissions.append(build_emission(name, payload, event, record))
    except TimeoutError:
        _failed(
            outcome,
            name,
            record,
            event,
            Reason.PLUGIN_TIMEOUT,
            f"no answer in {timeout_s:g}s",
            None,
        )
    except Exception as exc:  # a plugin's failure is isolated: counted and dead-lettered
        detail = f"{type(exc).__name__}: {exc}"
        _failed(outcome, name, record, event, Reason.PLUGIN_FAILED, detail, type(exc).__name__)
    finally:
        outcome.seconds[name] = outcome.seconds.get(name, 0.0) + clock() - started


def _failed(
    outcome: PluginOutcome,
    plugin: str,
    record: Record,
    event: dict[str, Any],
    reason: Reason,
    detail: str,
    error_class: str | None,
) -> None:
    outcome.failures[plugin] += 1
    outcome.dead_letters.append(
        DeadLetter(
            record, reason, f"plugin {plugin} on {event['event_type']}: {detail}"[:500],
            session_id=event["session_id"], event_id=event["event_id"],
            event_type=event["event_type"], error_class=error_class,
        )
    )  # fmt: skip
