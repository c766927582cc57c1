"""Open ClickHouse through clickhouse-connect: embedded chdb by default, a server by DSN."""

from __future__ import annotations

from typing import Any
from urllib.parse import urlparse

import clickhouse_connect

from sessionflow.core.errors import InfrastructureError
from sessionflow.core.settings import ClickHouseSettings, PathSettings


def open_client(settings: ClickHouseSettings, paths: PathSettings) -> Any:
    """A client on the configured DSN with ``settings.database`` created if missing.

    The embedded engine locks its data directory to one process: close the client before
    another process (a sink, an analyst's shell) opens the same directory.
    """
    dsn = settings.resolved_dsn(paths)
    if dsn.startswith("chdb:"):
        location = urlparse(dsn).path
        if location:
            from pathlib import Path

            Path(location).mkdir(parents=True, exist_ok=True)
    try:
        client = clickhouse_connect.get_client(dsn=dsn)
        client.command(f"CREATE DATABASE IF NOT EXISTS `{settings.database}`")
    except Exception as exc:  # the driver raises many types; name the target, hide the DSN
        scheme = urlparse(dsn).scheme
        raise InfrastructureError(
            f"cannot open ClickHouse ({scheme}://…, database {settings.database}): {exc}"
        ) from exc
    return client
