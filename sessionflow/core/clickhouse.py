"""Open ClickHouse through clickhouse-connect: embedded chdb by default, a server by DSN.

:func:`check_dsn` validates the DSN without connecting (scheme, host, port, chdb path), so an
entry point can reject a bad ``CLICKHOUSE_DSN`` before it starts anything. Messages never
repeat the DSN itself: it may hold a password.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any
from urllib.parse import SplitResult, urlsplit

from sessionflow.core.config import writable_dir
from sessionflow.core.errors import ConfigurationError, InfrastructureError
from sessionflow.core.settings import ClickHouseSettings, PathSettings

_SCHEMES = ("chdb", "http", "https")


def check_dsn(settings: ClickHouseSettings, paths: PathSettings) -> SplitResult:
    """The DSN to connect with, split; :class:`ConfigurationError` (one line) if unusable.

    Accepted: ``chdb:///absolute/dir`` (the directory is, or can be created, writable) and
    ``http(s)://[user[:password]@]host[:port][/database]``.
    """
    variable = "CLICKHOUSE_DSN" if settings.dsn is not None else "SESSIONFLOW_DATA_DIR"
    try:
        parts = urlsplit(settings.resolved_dsn(paths))
        parts.port  # noqa: B018 (parses the port: ValueError if not a number in range)
    except ValueError as exc:
        problem = "unbalanced '[' in the host" if "IPv6" in str(exc) else "invalid port"
        raise ConfigurationError(f"{variable}: not a usable URL: {problem}") from None
    if parts.scheme not in _SCHEMES:
        got = f"{parts.scheme}://" if parts.scheme else "no scheme"
        raise ConfigurationError(
            f"{variable}: must start with chdb://, http:// or https:// (got {got})"
        )
    if parts.scheme == "chdb":
        if parts.netloc or not parts.path.startswith("/"):
            raise ConfigurationError(f"{variable}: chdb needs an absolute path: chdb:///dir")
        writable_dir(Path(parts.path), variable, create=False)
    elif not parts.hostname:
        raise ConfigurationError(f"{variable}: no host in the URL ({parts.scheme}://host:port)")
    return parts


def open_client(settings: ClickHouseSettings, paths: PathSettings) -> Any:
    """A client on the configured DSN with ``settings.database`` created if missing.

    Raises :class:`ConfigurationError` for a DSN :func:`check_dsn` rejects (nothing is created
    then), :class:`InfrastructureError` when ClickHouse cannot be opened or reached.
    The embedded engine locks its data directory to one process: close the client before
    another process (a sink, an analyst's shell) opens the same directory.
    """
    import clickhouse_connect  # ~0.3 s to import: only the commands that open ClickHouse pay it

    parts = check_dsn(settings, paths)
    options: dict[str, Any] = {}
    if parts.scheme == "chdb":
        variable = "CLICKHOUSE_DSN" if settings.dsn is not None else "SESSIONFLOW_DATA_DIR"
        writable_dir(Path(parts.path), variable, create=True)
    else:  # clickhouse-connect ignores the DSN's scheme: without this, https:// speaks http
        options["interface"] = parts.scheme
    try:
        client = clickhouse_connect.get_client(dsn=settings.resolved_dsn(paths), **options)
        client.command(f"CREATE DATABASE IF NOT EXISTS `{settings.database}`")
    except Exception as exc:  # the driver raises many types; name the target, hide the DSN
        raise InfrastructureError(
            f"cannot open ClickHouse ({parts.scheme}://{parts.hostname or ''}…, "
            f"database {settings.database}): {exc}"
        ) from exc
    return client
