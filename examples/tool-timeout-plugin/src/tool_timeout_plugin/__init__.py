"""An example third-party handler plugin for sessionflow, shipped as its own package.

``tool-timeouts`` watches ``tool_call.failed`` events; when a tool failed with
``TOOL_TIMEOUT`` it emits an ``error.occurred`` for the session, naming the tool (taken from
the session's state), so analysts see tool timeouts among the session's errors.

Installed, it registers itself through the ``sessionflow.handlers`` entry-point group (see
``pyproject.toml``); workers load it unless ``SESSIONFLOW_PROCESSOR_PLUGINS`` leaves it out.
"""

from __future__ import annotations

from collections.abc import Collection

from sessionflow.processors.domain import SessionState
from sessionflow.processors.plugins.base import EventHandler
from sessionflow.schemas import ErrorCode, ErrorOccurred, EventEnvelope, ToolCallFailed


class ToolTimeouts(EventHandler):
    """``tool_call.failed`` with TOOL_TIMEOUT -> ``error.occurred`` TOOL_TIMEOUT."""

    @property
    def handler_name(self) -> str:
        return "tool-timeouts"

    @property
    def handled_event_types(self) -> Collection[str]:
        return ("tool_call.failed",)

    async def handle_event(
        self, event: EventEnvelope, session: SessionState
    ) -> ErrorOccurred | None:
        payload = event.payload
        if (
            not isinstance(payload, ToolCallFailed)
            or payload.error_code is not ErrorCode.TOOL_TIMEOUT
        ):
            return None
        call = session.tool_calls.get(payload.tool_call_id)
        tool = call.tool_name if call is not None else "unknown"
        return ErrorOccurred(
            error_code=ErrorCode.TOOL_TIMEOUT,
            message=f"tool {tool} timed out",
            details={"tool_call_id": payload.tool_call_id, "tool_name": tool},
            recoverable=True,
        )
