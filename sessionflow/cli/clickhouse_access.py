"""Reading ClickHouse from a command while the pipeline may be running.

With the embedded engine (``chdb://``), the running sink holds the data directory (chdb
locks it to one process): when the directory is locked and the sink's read-only query
endpoint answers, a command that only reads goes through the endpoint; otherwise it opens
the engine itself (so an endpoint of another pipeline on the same port is never taken for
this directory's). With a server DSN it connects to the server.
"""

from __future__ import annotations

import fcntl
import time
import urllib.request
from pathlib import Path
from typing import Any

from sessionflow.core.clickhouse import check_dsn, open_client
from sessionflow.core.config import load_settings
from sessionflow.core.errors import InfrastructureError
from sessionflow.core.settings import ClickHouseSettings, PathSettings
from sessionflow.sinks.endpoint import EndpointSettings

_SINK_START_S = 30.0


def reading_client() -> Any:
    """A client for reading the tables, in their database (see the module docstring).

    A directory held by a sink that is (re)starting — after a promote it re-executes itself —
    is waited for, up to 30 s, until its endpoint answers or the directory is free.
    """
    paths = load_settings(PathSettings)
    clickhouse = load_settings(ClickHouseSettings)
    endpoint = load_settings(EndpointSettings)
    parts = check_dsn(clickhouse, paths)
    if parts.scheme != "chdb":
        return _engine(clickhouse, paths)
    directory = Path(parts.path)
    deadline = time.monotonic() + _SINK_START_S
    while True:
        if not _locked(directory):
            try:
                return _engine(clickhouse, paths)
            except InfrastructureError:
                if not _locked(directory) or time.monotonic() > deadline:
                    raise  # not a sink taking the directory meanwhile
        elif _answers(endpoint):
            return _endpoint_client(endpoint, clickhouse)
        elif time.monotonic() > deadline:
            raise InfrastructureError(
                f"ClickHouse directory {directory} is held by another process and no query "
                f"endpoint answers on {endpoint.host}:{endpoint.port}"
            )
        time.sleep(0.2)  # a sink starting: poll the lock and the endpoint until the deadline


def _engine(clickhouse: ClickHouseSettings, paths: PathSettings) -> Any:
    client = open_client(clickhouse, paths)
    client.database = clickhouse.database
    return client


def _endpoint_client(endpoint: EndpointSettings, clickhouse: ClickHouseSettings) -> Any:
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


def _locked(directory: Path) -> bool:
    """True when another open engine holds ``directory`` (ClickHouse flocks its ``status``)."""
    try:
        status = (directory / "status").open("rb")
    except OSError:
        return False
    with status:
        try:
            fcntl.flock(status, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except OSError:
            return True
        fcntl.flock(status, fcntl.LOCK_UN)
    return False


def _answers(endpoint: EndpointSettings) -> bool:
    try:
        url = f"http://{endpoint.host}:{endpoint.port}/ping"
        with urllib.request.urlopen(url, timeout=1) as response:
            return bool(response.read() == b"Ok.\n")
    except OSError:
        return False
