"""Plugins that misbehave on purpose, to prove a worker isolates them.

``boom`` raises on every ``message.created``; ``sloth`` never answers on
``session.created`` (it sleeps far past any plugin timeout).
"""

from __future__ import annotations

import asyncio
from collections.abc import Collection

from sessionflow.processors.domain import SessionState
from sessionflow.processors.plugins.base import EventHandler
from sessionflow.schemas import ContractModel, EventEnvelope


class Boom(EventHandler):
    """Raises on every message.created."""

    @property
    def handler_name(self) -> str:
        return "boom"

    @property
    def handled_event_types(self) -> Collection[str]:
        return ("message.created",)

    async def handle_event(
        self, event: EventEnvelope, session: SessionState
    ) -> ContractModel | None:
        raise RuntimeError(f"boom on {event.event_id}")


class Sloth(EventHandler):
    """Hangs on every session.created."""

    @property
    def handler_name(self) -> str:
        return "sloth"

    @property
    def handled_event_types(self) -> Collection[str]:
        return ("session.created",)

    async def handle_event(
        self, event: EventEnvelope, session: SessionState
    ) -> ContractModel | None:
        await asyncio.sleep(3600)
        return None
