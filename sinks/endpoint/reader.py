"""The endpoint's read-only path into ClickHouse, for a chdb or an HTTP clickhouse-connect client.

Read-only is enforced by the engine (``readonly=1``: no writes, no DDL, no settings changes,
no table functions that reach files, network or programs), never by changing the caller's
client:

* **chdb**: a per-call ``readonly`` setting must not be used on the caller's client. The chdb
  backend applies per-call settings with ``SET`` and restores them afterwards, and once
  ``readonly=1`` is set the restore is refused, so the client would stay read-only for good
  (the sink's inserts would fail). The reader opens its own client on the same data
  directory instead (chdb serves any number of connections to the one engine of a process),
  set read-only once; its statements run beside the caller's.
* **HTTP server**: requests are stateless, so ``readonly=1`` rides as a per-call setting on
  the caller's client (left out when the server says the user cannot change it: such a user
  is read-only already).
"""

from __future__ import annotations

import contextlib
from typing import Any, Protocol

from sessionflow.core.errors import ConfigurationError
from sessionflow.sinks.endpoint.settings import EndpointSettings


class Reader(Protocol):
    """Runs one read-only statement; its methods block (call them from a worker thread)."""

    def run(self, sql: str, database: str | None, fmt: str | None, params: dict[str, str]) -> bytes:
        """The result bytes of ``sql`` in ``database`` with the query parameters ``params``
        (``{name:Type}`` placeholders, values as ClickHouse's ``param_name`` text); ``fmt``
        is appended as ``FORMAT`` when given (``sql`` then must have no ``FORMAT`` clause).
        Raises the driver's error."""
        ...

    def close(self) -> None:
        """Release what the reader opened (never the caller's client)."""
        ...


def _engine_limits(settings: EndpointSettings) -> dict[str, str]:
    return {
        "max_execution_time": str(settings.max_execution_seconds),
        "max_result_bytes": str(settings.max_result_bytes),
        "result_overflow_mode": "throw",
    }


class ChdbReader:
    """A read-only client of its own on the caller's chdb engine (same data directory).

    Not thread-safe: one statement at a time (it switches its client's database per call).
    """

    def __init__(self, client: Any, settings: EndpointSettings) -> None:
        import clickhouse_connect

        path = str(getattr(client, "path", ""))
        if not path.startswith("/"):
            raise ConfigurationError(
                "the query endpoint needs chdb on a data directory (chdb:///dir), not in memory"
            )
        # readonly last: once set, no setting can change any more
        options = {**_engine_limits(settings), "readonly": "1"}
        self._client = clickhouse_connect.get_client(dsn=f"chdb://{path}", settings=options)
        self._default_database = self._client.database

    def run(self, sql: str, database: str | None, fmt: str | None, params: dict[str, str]) -> bytes:
        self._client.database = database or self._default_database
        return bytes(self._client.raw_query(sql, parameters=params or None, fmt=fmt))

    def close(self) -> None:
        self._client.close()


class HttpReader:
    """The caller's HTTP client, each call with ``readonly=1`` and the limits as settings.

    Thread-safe as clickhouse-connect's HTTP client is; the caller's client is not changed.
    """

    def __init__(self, client: Any, settings: EndpointSettings) -> None:
        self._client = client
        wanted = {"readonly": "1", **_engine_limits(settings)}
        # a setting the server reports as not changeable (a read-only user: all of them) is
        # left out; clickhouse-connect would refuse the call otherwise
        known = getattr(client, "server_settings", {})
        self._settings = {
            name: value
            for name, value in wanted.items()
            if getattr(known.get(name), "readonly", 0) != 1
        }

    def run(self, sql: str, database: str | None, fmt: str | None, params: dict[str, str]) -> bytes:
        settings = dict(self._settings)
        database = database or self._client.database
        if database:
            settings["database"] = database
        return bytes(
            self._client.raw_query(
                sql, parameters=params or None, fmt=fmt, settings=settings, use_database=False
            )
        )

    def close(self) -> None:
        return None


def open_reader(client: Any, settings: EndpointSettings) -> Reader:
    """The read-only path for ``client`` (a clickhouse-connect chdb or HTTP client)."""
    with contextlib.suppress(ImportError):
        from clickhouse_connect.driver._chdbclient import ChdbClient

        if isinstance(client, ChdbClient):
            return ChdbReader(client, settings)
    return HttpReader(client, settings)
