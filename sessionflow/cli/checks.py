"""Checks every command runs on its inputs before it touches anything.

Settings come from :func:`sessionflow.core.config.load_settings` (one line per bad variable);
the checks here cover what a settings class cannot see on its own: the broker list has the
``host:port`` form, a directory from the environment is usable, an output file can be written.
Each failure is a :class:`ConfigurationError` or a ``click.BadParameter`` naming the setting
or option, so :func:`sessionflow.cli.main.main` prints it as one line.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import click

from sessionflow.core.config import load_settings, writable_dir
from sessionflow.core.errors import ConfigurationError
from sessionflow.core.settings import KafkaSettings, PathSettings


def load_kafka(**overrides: Any) -> KafkaSettings:
    """:class:`KafkaSettings` from the environment, with the broker list checked."""
    kafka = load_settings(KafkaSettings, **overrides)
    problem = bootstrap_problem(kafka.bootstrap_servers)
    if problem is not None:
        raise ConfigurationError(f"KAFKA_BOOTSTRAP_SERVERS: {problem}")
    return kafka


def bootstrap_problem(servers: str) -> str | None:
    """Why ``servers`` is not a comma-separated ``host:port`` list, or None if it is."""
    if not servers.strip():
        return "must be a comma-separated list of host:port (got '')"
    for entry in (part.strip() for part in servers.split(",")):
        host, colon, port = entry.rpartition(":")
        if not colon or not host or host in ("[", "[]"):
            return f"{entry!r} is not host:port"
        if not port.isdigit() or not 1 <= int(port) <= 65535:
            return f"{entry!r}: the port must be an integer from 1 to 65535"
    return None


def checked_dirs(paths: PathSettings, *, create: bool) -> PathSettings:
    """``paths`` with the data and cache dirs checked usable (and created if ``create``)."""
    writable_dir(paths.data_dir, "SESSIONFLOW_DATA_DIR", create=create)
    writable_dir(paths.cache_dir, "SESSIONFLOW_CACHE_DIR", create=create)
    return paths


class OutputFile(click.Path):
    """A file the command will write: not a directory, in an existing writable directory."""

    def __init__(self) -> None:
        super().__init__(dir_okay=False, writable=True, path_type=Path)

    def convert(self, value: Any, param: click.Parameter | None, ctx: click.Context | None) -> Any:
        """Check the path can be written now, before the command does anything."""
        path = Path(os.fsdecode(super().convert(value, param, ctx)))
        parent = path.parent
        if not parent.is_dir():
            self.fail(f"directory {parent} does not exist", param, ctx)
        if not os.access(parent, os.W_OK | os.X_OK):
            self.fail(f"directory {parent} is not writable", param, ctx)
        return path
