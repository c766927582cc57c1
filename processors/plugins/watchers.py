"""Built-in plugins on wall-clock timers: approval timeouts and inactive sessions.

A :class:`Watcher` names, for a session state, the moments (event time, epoch ms) at which
something becomes due; the runtime keeps those deadlines in a heap and, once the wall clock
passes one, asks the watcher to :meth:`~Watcher.fire` against the session's current state
(which may have moved on: an approval came, the session spoke again). A timer tick therefore
costs in proportion to what is due, not to the number of open sessions.

What a watcher fires is emitted like any plugin event: ``source=plugin:<name>``, caused by
the event it watched, with an id derived from both, so firing twice emits the same event.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Iterable

from sessionflow.processors.domain.model import SessionState, SessionStatus, ToolCallStatus
from sessionflow.schemas.enums import ErrorCode
from sessionflow.schemas.models import ContractModel, ErrorOccurred, SessionSuspended


class Watcher(ABC):
    """A timer-driven built-in plugin."""

    name: str

    @abstractmethod
    def deadlines(self, state: SessionState) -> Iterable[tuple[int, str]]:
        """(due at, item) pairs of ``state``; a later pair for the same item replaces one."""

    @abstractmethod
    def fire(self, state: SessionState, item: str, due_ms: int) -> tuple[ContractModel, str] | None:
        """The payload to emit and the event_id causing it, or None if no longer due."""


class ApprovalTimeoutWatcher(Watcher):
    """A manual tool call undecided ``timeout_ms`` after it was requested -> APPROVAL_TIMEOUT."""

    name = "approval-timeout"

    def __init__(self, timeout_ms: int) -> None:
        self.timeout_ms = timeout_ms

    def deadlines(self, state: SessionState) -> Iterable[tuple[int, str]]:
        if state.status is not SessionStatus.ACTIVE:
            return
        for call in state.tool_calls.values():
            if _waiting(call.status, call.approval_mode, call.approval_timed_out):
                yield call.requested_at + self.timeout_ms, call.tool_call_id

    def fire(self, state: SessionState, item: str, due_ms: int) -> tuple[ContractModel, str] | None:
        call = state.tool_calls.get(item)
        if call is None or state.status is not SessionStatus.ACTIVE:
            return None
        if not _waiting(call.status, call.approval_mode, call.approval_timed_out):
            return None
        if call.requested_at + self.timeout_ms != due_ms:
            return None
        waited_s = self.timeout_ms / 1000
        payload = ErrorOccurred(
            error_code=ErrorCode.APPROVAL_TIMEOUT,
            message=f"tool call {item} ({call.tool_name}) undecided after {waited_s:g}s",
            details={"tool_call_id": item, "tool_name": call.tool_name},
            recoverable=True,
        )
        return payload, call.requested_event_id


class InactivityWatcher(Watcher):
    """An ACTIVE session with no event for ``timeout_ms`` -> session.suspended (inactive)."""

    name = "inactivity"

    def __init__(self, timeout_ms: int) -> None:
        self.timeout_ms = timeout_ms

    def deadlines(self, state: SessionState) -> Iterable[tuple[int, str]]:
        if state.status is SessionStatus.ACTIVE and state.last_event_id is not None:
            yield state.updated_at + self.timeout_ms, state.last_event_id

    def fire(self, state: SessionState, item: str, due_ms: int) -> tuple[ContractModel, str] | None:
        if state.status is not SessionStatus.ACTIVE or state.last_event_id != item:
            return None
        minutes = self.timeout_ms / 60_000
        return SessionSuspended(reason=f"inactive for {minutes:g} min"), item


def _waiting(status: ToolCallStatus, mode: str, timed_out: bool) -> bool:
    return status is ToolCallStatus.PENDING and mode == "manual" and not timed_out
