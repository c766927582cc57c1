"""The plugin registry: handlers by event type, loaded from the entry-point group.

A :class:`PluginRegistry` is an object passed to the processor app (no global registry).
:meth:`PluginRegistry.from_entry_points` loads the installed ``sessionflow.handlers``
plugins, honouring the enabled/disabled settings; a plugin that cannot be loaded is a
configuration error naming it (the worker does not start half-configured).
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterable
from importlib.metadata import entry_points

from sessionflow.core.errors import ConfigurationError
from sessionflow.processors.plugins.base import ENTRY_POINT_GROUP, EventHandler
from sessionflow.schemas.enums import EventType

_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_-]{0,63}$")
_KNOWN_TYPES = frozenset(t.value for t in EventType)


class PluginRegistry:
    """Handlers by name and by the event types they handle."""

    def __init__(self, handlers: Iterable[EventHandler] = ()) -> None:
        self._by_name: dict[str, EventHandler] = {}
        self._by_type: dict[str, tuple[EventHandler, ...]] = {}
        for handler in handlers:
            self.register(handler)

    def register(self, handler: EventHandler) -> None:
        """Add ``handler``; its name must be new and its event types known."""
        name = handler.handler_name
        if not isinstance(name, str) or not _NAME.match(name):
            raise ConfigurationError(f"plugin name {name!r}: use letters, digits, - and _")
        if name in self._by_name:
            raise ConfigurationError(f"plugin {name}: registered twice")
        types = set(handler.handled_event_types)
        unknown = types - _KNOWN_TYPES
        if unknown:
            raise ConfigurationError(f"plugin {name}: unknown event types {sorted(unknown)}")
        self._by_name[name] = handler
        for event_type in types:
            self._by_type[event_type] = (*self._by_type.get(event_type, ()), handler)

    def for_type(self, event_type: str) -> tuple[EventHandler, ...]:
        """The handlers of ``event_type``, in registration order."""
        return self._by_type.get(event_type, ())

    @property
    def names(self) -> tuple[str, ...]:
        """Registered plugin names."""
        return tuple(self._by_name)

    def __len__(self) -> int:
        return len(self._by_name)

    @classmethod
    def from_entry_points(
        cls,
        enabled: Collection[str] | None = None,
        disabled: Collection[str] = (),
        group: str = ENTRY_POINT_GROUP,
    ) -> PluginRegistry:
        """Load installed plugins: all of them, or only ``enabled``; never ``disabled``.

        Raises :class:`ConfigurationError` for an enabled name that is not installed or a
        plugin that fails to load.
        """
        found = {ep.name: ep for ep in entry_points(group=group)}
        if enabled is not None:
            missing = sorted(set(enabled) - set(found))
            if missing:
                raise ConfigurationError(
                    f"plugins {missing} are enabled but not installed (group {group})"
                )
        registry = cls()
        for name, entry in sorted(found.items()):
            if name in disabled or (enabled is not None and name not in enabled):
                continue
            try:
                factory = entry.load()
                handler = factory()
            except Exception as exc:  # a third party's import or constructor failed
                raise ConfigurationError(
                    f"plugin {name} ({entry.value}) failed to load: {type(exc).__name__}: {exc}"
                ) from exc
            if not isinstance(handler, EventHandler):
                raise ConfigurationError(f"plugin {name} ({entry.value}) is not an EventHandler")
            if handler.handler_name != name:
                raise ConfigurationError(
                    f"plugin {name} ({entry.value}) calls itself {handler.handler_name!r}: "
                    "the entry-point name must be the handler_name"
                )
            registry.register(handler)
        return registry
