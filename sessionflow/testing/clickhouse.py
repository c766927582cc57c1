"""Real ClickHouse for tests: a server from ``CLICKHOUSE_DSN``, else embedded chdb.

chdb locks its data directory to one process, so a test run opens one client for the
session and gives each test its own database.
"""

from __future__ import annotations

import os
import tempfile
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import clickhouse_connect

from sessionflow.testing.names import unique_name


@contextmanager
def clickhouse_client() -> Iterator[Any]:
    """One clickhouse-connect client: ``CLICKHOUSE_DSN`` if set, else chdb in a temp dir.

    The client's ``sessionflow_dsn`` attribute is the DSN it was opened with (a child process
    given it reaches the same data: through the sink's endpoint while this process holds an
    embedded directory open).
    """
    dsn = os.environ.get("CLICKHOUSE_DSN")
    with tempfile.TemporaryDirectory(prefix="sessionflow-chdb-") as tmp:
        client = clickhouse_connect.get_client(dsn=dsn or f"chdb://{tmp}")
        client.sessionflow_dsn = dsn or f"chdb://{tmp}"  # type: ignore[attr-defined]
        try:
            yield client
        finally:
            client.close()


@contextmanager
def temporary_database(client: Any, prefix: str = "test") -> Iterator[str]:
    """Create a uniquely named database, yield its name, drop it afterwards."""
    name = unique_name(prefix, separator="_")
    client.command(f"CREATE DATABASE {name}")
    try:
        yield name
    finally:
        client.command(f"DROP DATABASE IF EXISTS {name}")
