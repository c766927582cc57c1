"""A read-only ClickHouse-compatible HTTP endpoint over a clickhouse-connect client.

The subset of ClickHouse's HTTP interface that curl, clickhouse-connect's ``http://`` client
and BI tools use: ``GET /ping`` and ``GET /`` (``Ok.``), a query in the ``query`` parameter
and/or the POST body (plain or form-encoded), the ``database`` and ``default_format``
parameters, a ``FORMAT`` clause in the SQL (default ``TabSeparated``), the ``X-ClickHouse-*``
response headers, and errors as ClickHouse writes them (status, ``X-ClickHouse-Exception-Code``,
``Code: N. DB::Exception: ... (NAME)``). Settings parameters (``max_threads=...``,
``wait_end_of_query=1`` ...) are accepted and ignored; query parameters (``param_x=...``)
fill ``{x:Type}`` placeholders. Sessions are not supported. The owner may add ``pages``:
``GET`` routes of its own (the sink's ``/metrics`` and dashboard), served without
authentication, like most exporters and status pages.

Threading contract: every engine call runs on ``executor``, never on the event loop. By
default the endpoint uses a private single-thread executor, so its statements run one at a
time; with chdb they run on a read-only connection of their own (see :mod:`.reader`), beside
the caller's inserts. A caller that wants the endpoint's statements serialized with its own
work passes its own executor (e.g. the sink's single insert thread); the endpoint then never
shuts it down.
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import hmac
import json
import logging
import time
import uuid
from collections.abc import Awaitable, Callable, Mapping
from concurrent.futures import Executor, ThreadPoolExecutor
from types import TracebackType
from typing import Any

from aiohttp import web

from sessionflow.core.errors import SessionflowError
from sessionflow.sinks.endpoint.errors import (
    AUTHENTICATION_FAILED,
    SYNTAX_ERROR,
    TOO_MANY_ROWS_OR_BYTES,
    ClickHouseFailure,
    failure_from_engine,
)
from sessionflow.sinks.endpoint.reader import Reader, open_reader
from sessionflow.sinks.endpoint.settings import EndpointSettings
from sessionflow.sinks.endpoint.sql_guard import ReadQuery, check_read_only

log = logging.getLogger(__name__)

_OK = "Ok.\n"
Page = Callable[[], Awaitable[tuple[bytes, str]]]
"""An extra GET route: returns the body and its content type."""

_FORM_TYPE = "multipart/form-data"  # like ClickHouse: an url-encoded body is the SQL itself
_UNKNOWN_FORMAT = (73, "UNKNOWN_FORMAT")
_DEFAULT_FORMAT = "TabSeparated"


class QueryEndpoint:
    """Serves read-only SQL over HTTP on ``settings.host:settings.port`` while started.

    ``client`` is an open clickhouse-connect client (chdb or HTTP), still owned by the caller:
    the endpoint never closes it nor changes its settings. ``default_database`` is where a
    query without ``database`` parameter runs (unset: the client's). Use ``async with`` or
    :meth:`start`/:meth:`stop`.
    """

    def __init__(
        self,
        client: Any,
        settings: EndpointSettings,
        *,
        default_database: str | None = None,
        executor: Executor | None = None,
        pages: Mapping[str, Page] | None = None,
    ) -> None:
        self._client = client
        self._pages = dict(pages or {})
        self._settings = settings
        self._default_database = default_database
        self._own_executor = executor is None
        self._executor: Executor = executor or ThreadPoolExecutor(
            max_workers=1, thread_name_prefix="query-endpoint"
        )
        self._reader: Reader | None = None
        self._runner: web.AppRunner | None = None
        self._formats: dict[str, str] = {}  # lower-case output format name -> its name
        self._timezone = "UTC"
        self._port: int | None = None

    @property
    def port(self) -> int:
        """The port it listens on (the one the system chose when ``settings.port`` is 0)."""
        if self._port is None:
            raise SessionflowError("the query endpoint is not started")
        return self._port

    @property
    def url(self) -> str:
        """``http://host:port`` of the running endpoint."""
        return f"http://{self._settings.host}:{self.port}"

    async def start(self) -> None:
        """Open the read-only path and listen; raises if the port cannot be bound."""
        self._reader = await self._call(open_reader, self._client, self._settings)
        names = await self._call(
            self._reader.run, "SELECT name FROM system.formats WHERE is_output", None, "TSV", {}
        )
        self._formats = {name.lower(): name for name in names.decode().split()}
        zone = await self._call(self._reader.run, "SELECT timezone()", None, "TSV", {})
        self._timezone = zone.decode().strip() or "UTC"
        app = web.Application()
        app.router.add_route("*", "/ping", self._ping)
        app.router.add_route("*", "/replicas_status", self._ping)
        for path, page in self._pages.items():
            app.router.add_route("GET", path, _page_handler(page))
        app.router.add_route("*", "/", self._root)
        app.router.add_route("*", "/{tail:.*}", self._unknown)
        # access_log=None: URLs can carry a password (?password=...), never log them
        self._runner = web.AppRunner(app, access_log=None, handle_signals=False)
        await self._runner.setup()
        site = web.TCPSite(self._runner, self._settings.host, self._settings.port)
        await site.start()
        self._port = int(self._runner.addresses[0][1])
        log.info("query endpoint listening on %s", self.url)

    async def stop(self) -> None:
        """Stop listening, let a running statement finish, close the read-only path."""
        if self._runner is not None:
            await self._runner.cleanup()
            self._runner = None
        if self._reader is not None:
            await self._call(self._reader.close)
            self._reader = None
        if self._own_executor:
            self._executor.shutdown(wait=True)
        self._port = None

    async def __aenter__(self) -> QueryEndpoint:
        await self.start()
        return self

    async def __aexit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        tb: TracebackType | None,
    ) -> None:
        await self.stop()

    async def _call(self, function: Any, *args: Any) -> Any:
        return await asyncio.get_running_loop().run_in_executor(self._executor, function, *args)

    # ---- handlers ---------------------------------------------------------------------

    async def _ping(self, request: web.Request) -> web.Response:
        return web.Response(text=_OK, content_type="text/html")

    async def _unknown(self, request: web.Request) -> web.Response:
        text = f"There is no handle {request.path}\n\nUse / or /ping for health checks.\n"
        return web.Response(status=404, text=text)

    async def _root(self, request: web.Request) -> web.Response:
        query_id = request.query.get("query_id") or str(uuid.uuid4())
        headers = {
            "X-ClickHouse-Query-Id": query_id,
            "X-ClickHouse-Server-Display-Name": self._settings.display_name,
            "X-ClickHouse-Timezone": self._timezone,
        }
        try:
            self._authenticate(request)
            sql = await _sql_of(request)
            if sql is None:
                return web.Response(text=_OK, content_type="text/html", headers=headers)
            query = check_read_only(sql, self._formats)
            started = time.monotonic_ns()
            body, fmt = await self._run(request, query)
        except ClickHouseFailure as failure:
            return _error_response(failure, headers)
        except Exception as exc:  # the driver's error: the engine's own text, code and name
            engine_failure = failure_from_engine(exc)
            if engine_failure.name == "STD_EXCEPTION":
                log.warning("query endpoint: query failed: %s", type(exc).__name__)
            return _error_response(engine_failure, headers)
        summary = {"read_rows": "0", "read_bytes": "0", "written_rows": "0"}
        summary |= {"written_bytes": "0", "total_rows_to_read": "0", "result_rows": "0"}
        summary |= {"result_bytes": str(len(body))}
        summary |= {"elapsed_ns": str(time.monotonic_ns() - started)}
        headers["X-ClickHouse-Format"] = fmt
        headers["X-ClickHouse-Summary"] = json.dumps(summary, separators=(",", ":"))
        headers["Content-Type"] = _content_type(fmt)
        return web.Response(body=body, headers=headers)

    async def _run(self, request: web.Request, query: ReadQuery) -> tuple[bytes, str]:
        """The result bytes of ``query`` and the name of their format."""
        if query.format is not None:
            fmt, append = self._formats[query.format.lower()], None
        else:
            wanted = (
                request.query.get("default_format")
                or request.headers.get("X-ClickHouse-Format")
                or _DEFAULT_FORMAT
            )
            if wanted.lower() not in self._formats:
                raise ClickHouseFailure.of(_UNKNOWN_FORMAT, f"Unknown output format {wanted}")
            fmt = append = self._formats[wanted.lower()]
        database = (
            request.query.get("database")
            or request.headers.get("X-ClickHouse-Database")
            or self._default_database
        )
        assert self._reader is not None  # handlers only run between start() and stop()
        params = {k[6:]: v for k, v in request.query.items() if k.startswith("param_")}
        body: bytes = await self._call(self._reader.run, query.sql, database, append, params)
        if len(body) > self._settings.max_result_bytes:
            raise ClickHouseFailure.of(
                TOO_MANY_ROWS_OR_BYTES,
                f"Limit for result exceeded, max bytes: {self._settings.max_result_bytes}",
            )
        return body, fmt

    def _authenticate(self, request: web.Request) -> None:
        """Nothing if auth is off or the request carries the configured user and password."""
        expected_user, expected_password = self._settings.user, self._settings.password
        if expected_user is None or expected_password is None:
            return
        user, password = _credentials(request)
        good_user = hmac.compare_digest(user.encode(), expected_user.encode())
        good_password = hmac.compare_digest(
            password.encode(), expected_password.get_secret_value().encode()
        )
        if not (good_user and good_password):
            raise ClickHouseFailure.of(
                AUTHENTICATION_FAILED,
                f"{user}: Authentication failed: password is incorrect, "
                "or there is no user with such name",
            )


async def _sql_of(request: web.Request) -> str | None:
    """The query: the ``query`` parameter, then the POST body (or its multipart ``query``);
    ``None`` for a request without any (a health check)."""
    parts = [request.query.get("query", "")]
    if request.method == "POST":
        if request.content_type == _FORM_TYPE:
            form = await request.post()
            field = form.get("query")
            parts.append(field if isinstance(field, str) else "")
        else:
            raw = await request.read()
            try:
                parts.append(raw.decode())
            except UnicodeDecodeError:
                raise ClickHouseFailure.of(SYNTAX_ERROR, "the query is not UTF-8") from None
    parts = [part for part in parts if part]
    if not parts:
        if request.method == "POST":
            raise ClickHouseFailure.of(SYNTAX_ERROR, "Empty query")
        return None
    return "\n".join(parts)


def _credentials(request: web.Request) -> tuple[str, str]:
    """(user, password) from HTTP Basic, X-ClickHouse-User/Key or ``user``/``password``
    parameters; ClickHouse's ``default`` user with no password when none is sent."""
    authorization = request.headers.get("Authorization", "")
    if authorization[:6].lower() == "basic ":
        try:
            user, _, password = base64.b64decode(authorization[6:]).decode().partition(":")
        except (binascii.Error, UnicodeDecodeError):
            return "default", ""
        return user, password
    if "X-ClickHouse-User" in request.headers:
        return request.headers["X-ClickHouse-User"], request.headers.get("X-ClickHouse-Key", "")
    return request.query.get("user", "default"), request.query.get("password", "")


def _error_response(failure: ClickHouseFailure, headers: dict[str, str]) -> web.Response:
    headers = headers | {"X-ClickHouse-Exception-Code": str(failure.code)}
    if failure.status == 401:
        headers["WWW-Authenticate"] = 'Basic realm="ClickHouse"'
    return web.Response(
        status=failure.status,
        text=failure.body(),
        headers=headers,
        content_type="text/plain",
    )


def _content_type(fmt: str) -> str:
    """The Content-Type ClickHouse sends for output format ``fmt``."""
    name = fmt.lower()
    if name.startswith(("tabseparated", "tsv")):
        return "text/tab-separated-values; charset=UTF-8"
    if name.startswith("csv"):
        header = "present" if "withnames" in name else "absent"
        return f"text/csv; charset=UTF-8; header={header}"
    if name.startswith(("json", "ndjson")):
        streaming = "eachrow" in name or "lines" in name or name == "ndjson"
        return f"application/{'x-ndjson' if streaming else 'json'}; charset=UTF-8"
    if name.startswith(("pretty", "vertical", "markdown", "values", "template", "raw")):
        return "text/plain; charset=UTF-8"
    if name == "xml":
        return "application/xml; charset=UTF-8"
    return "application/octet-stream"


def _page_handler(page: Page) -> Callable[[web.Request], Awaitable[web.Response]]:
    async def handle(request: web.Request) -> web.Response:
        body, content_type = await page()
        response = web.Response(body=body)
        response.headers["Content-Type"] = content_type
        return response

    return handle
