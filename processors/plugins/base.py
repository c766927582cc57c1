"""The handler plugin interface: what a third party implements to react to session events.

A plugin is an :class:`EventHandler`: a name, the event types it handles, and
``async handle_event(event, session)`` that may return a new event's payload. It ships as its
own package and declares itself in the ``sessionflow.handlers`` entry-point group::

    [project.entry-points."sessionflow.handlers"]
    my-plugin = "my_package.module:MyHandler"

The entry point names a class (instantiated without arguments) or a factory.

What the runtime guarantees:

- ``event`` is the validated envelope; ``session`` the session's state after the batch that
  applied the event (read-only: do not change it);
- a returned payload becomes an event on the domain topic with ``source=plugin:<name>``,
  ``causation_id`` = the handled event's id and an ``event_id`` derived from the plugin name
  and that id, so a re-run after a crash emits the same event (consumers collapse it);
- a plugin never receives events it emitted itself, and chains of plugin events end at a
  depth limit;
- a plugin that raises or exceeds its timeout is counted and its event dead-lettered with
  reason ``plugin_failed`` / ``plugin_timeout``; the other plugins go on. Blocking (non-async)
  work must go to a thread (``asyncio.to_thread``): it would stall the worker.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Collection

from sessionflow.processors.domain.model import SessionState
from sessionflow.schemas.models import ContractModel, EventEnvelope

ENTRY_POINT_GROUP = "sessionflow.handlers"


class EventHandler(ABC):
    """A handler plugin (see the module docstring for the contract)."""

    @property
    @abstractmethod
    def handler_name(self) -> str:
        """Unique plugin name: letters, digits, ``-`` and ``_``."""

    @property
    @abstractmethod
    def handled_event_types(self) -> Collection[str]:
        """Dotted event types this handler receives (e.g. ``tool_call.pending``)."""

    @abstractmethod
    async def handle_event(
        self, event: EventEnvelope, session: SessionState
    ) -> ContractModel | None:
        """React to ``event``; return a payload model to emit a new event, or None."""
