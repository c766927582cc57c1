"""Reading ClickHouse from a command while the pipeline may be running.

With the embedded engine (``chdb://``), the running sink holds the data directory (chdb
locks it to one process): a command that only reads then goes through the sink's read-only
query endpoint when it answers, and opens the engine itself otherwise. With a server DSN it
connects to the server.
"""

from __future__ import annotations

import urllib.request
from typing import Any

from sessionflow.core.clickhouse import check_dsn, open_client
from sessionflow.core.config import load_settings
from sessionflow.core.errors import InfrastructureError
from sessionflow.core.settings import ClickHouseSettings, PathSettings
from sessionflow.sinks.endpoint import EndpointSettings


def reading_client() -> Any:
    """A client for reading the tables, in their database (see the module docstring)."""
    paths = load_settings(PathSettings)
    clickhouse = load_settings(ClickHouseSettings)
    endpoint = load_settings(EndpointSettings)
    parts = check_dsn(clickhouse, paths)
    if parts.scheme == "chdb" and _answers(endpoint):
        import clickhouse_connect

        password = endpoint.password.get_secret_value() if endpoint.password else ""
        try:
            return clickhouse_connect.get_client(
                host=endpoint.host, port=endpoint.port, username=endpoint.user or "default",
                password=password, database=clickhouse.database,
            )  # fmt: skip
        except Exception as exc:  # the driver raises many types
            raise InfrastructureError(
                f"the sink's query endpoint on {endpoint.host}:{endpoint.port}: {exc}"
            ) from exc
    client = open_client(clickhouse, paths)
    client.database = clickhouse.database
    return client


def _answers(endpoint: EndpointSettings) -> bool:
    try:
        url = f"http://{endpoint.host}:{endpoint.port}/ping"
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.read() == b"Ok.\n")
    except OSError:
        return False
