"""The read-only query endpoint over the run's real ClickHouse client, through curl, urllib and
clickhouse-connect's own HTTP client. Expected values come from the direct client."""

from __future__ import annotations

import asyncio
import base64
import json
import subprocess
import threading
import urllib.error
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import clickhouse_connect
import pytest
import urllib3
from clickhouse_connect.driver.exceptions import DatabaseError
from pydantic import SecretStr, ValidationError

from sessionflow.sinks.endpoint import EndpointSettings, QueryEndpoint

pytestmark = pytest.mark.clickhouse

ROWS = [
    (i, f"name {i}\twith tab" if i % 7 == 0 else f"name {i}", "even" if i % 2 else "odd", i * 0.5)
    for i in range(50)
]
WAIT = 60.0


@contextmanager
def serving(
    client: Any, settings: EndpointSettings, database: str | None
) -> Iterator[QueryEndpoint]:
    """The endpoint running on its own event loop in a thread (tests call it blocking)."""
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, daemon=True)
    thread.start()
    endpoint = QueryEndpoint(client, settings, default_database=database)
    asyncio.run_coroutine_threadsafe(endpoint.start(), loop).result(WAIT)
    try:
        yield endpoint
    finally:
        asyncio.run_coroutine_threadsafe(endpoint.stop(), loop).result(WAIT)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(WAIT)
        loop.close()


@pytest.fixture
def table(ch_client: Any, ch_database: str) -> str:
    """``events`` in the test's database, filled with :data:`ROWS`."""
    ch_client.command(
        f"CREATE TABLE {ch_database}.events (id UInt32, name String, "
        "parity LowCardinality(String), value Float64) ENGINE = MergeTree ORDER BY id"
    )
    ch_client.insert(f"{ch_database}.events", ROWS, column_names=["id", "name", "parity", "value"])
    return f"{ch_database}.events"


@pytest.fixture
def endpoint(ch_client: Any, ch_database: str, table: str) -> Iterator[QueryEndpoint]:
    with serving(ch_client, EndpointSettings(port=0), ch_database) as running:
        yield running


def http(
    endpoint: QueryEndpoint,
    params: dict[str, str] | None = None,
    body: bytes | None = None,
    headers: dict[str, str] | None = None,
    path: str = "/",
) -> tuple[int, dict[str, str], bytes]:
    """Status, headers and body of one request (errors included) with urllib."""
    url = f"{endpoint.url}{path}?{urllib.parse.urlencode(params or {})}"
    request = urllib.request.Request(url, data=body, headers=headers or {})
    try:
        with urllib.request.urlopen(request, timeout=WAIT) as response:
            return response.status, dict(response.headers), response.read()
    except urllib.error.HTTPError as error:
        return error.code, dict(error.headers), error.read()


def state_of(ch_client: Any, table: str) -> Any:
    """What a write could change, read directly: row count, checksum, the table's DDL."""
    checksum = ch_client.command(f"SELECT count(), sum(cityHash64(*)) FROM {table}")
    return checksum, ch_client.command(f"SHOW CREATE TABLE {table}")


def test_ping_and_root_answer_ok(endpoint: QueryEndpoint) -> None:
    assert http(endpoint, path="/ping")[::2] == (200, b"Ok.\n")
    assert http(endpoint)[::2] == (200, b"Ok.\n")
    assert http(endpoint, path="/nowhere")[0] == 404


def test_curl_gets_tab_separated_by_default(
    endpoint: QueryEndpoint, ch_client: Any, table: str
) -> None:
    sql = f"SELECT id, name, parity, value FROM {table} ORDER BY id"
    url = f"{endpoint.url}/?{urllib.parse.urlencode({'query': sql})}"

    got = subprocess.run(["curl", "-sS", "--fail", url], capture_output=True, check=True).stdout

    assert got == ch_client.raw_query(sql, fmt="TabSeparated")
    assert got.count(b"\n") == len(ROWS)


@pytest.mark.parametrize("fmt", ["JSONEachRow", "CSV", "TSVWithNames", "JSONCompact", "JSON"])
def test_format_clause_answers_in_that_format(
    endpoint: QueryEndpoint, ch_client: Any, table: str, fmt: str
) -> None:
    sql = f"SELECT id, name, value FROM {table} WHERE id < 10 ORDER BY id FORMAT {fmt}"

    status, headers, body = http(endpoint, {"query": sql})

    expected = ch_client.raw_query(sql)
    assert status == 200
    assert headers["X-ClickHouse-Format"] == fmt
    if fmt.startswith("JSON") and not fmt.endswith("EachRow"):  # they carry timings: compare data
        assert json.loads(body)["data"] == json.loads(expected)["data"]
        assert json.loads(body)["meta"] == json.loads(expected)["meta"]
    else:
        assert body == expected


def test_default_format_param_and_database_param(
    endpoint: QueryEndpoint, ch_client: Any, ch_database: str, table: str
) -> None:
    sql = "SELECT id, name FROM events ORDER BY id"

    status, headers, body = http(
        endpoint, {"query": sql, "default_format": "CSV", "database": ch_database}
    )

    assert (status, headers["X-ClickHouse-Format"]) == (200, "CSV")
    assert headers["Content-Type"].startswith("text/csv")
    assert body == ch_client.raw_query(f"SELECT id, name FROM {table} ORDER BY id", fmt="CSV")
    other = http(endpoint, {"query": "SELECT count() FROM one", "database": "system"})
    assert other[::2] == (200, b"1\n")
    unknown = http(endpoint, {"query": "SELECT 1", "default_format": "NoSuchFormat"})
    assert unknown[0] == 404
    assert unknown[1]["X-ClickHouse-Exception-Code"] == "73"


def test_query_in_post_body_plain_multipart_and_after_the_query_param(
    endpoint: QueryEndpoint, ch_client: Any, table: str
) -> None:
    sql = f"SELECT sum(value), count() FROM {table} WHERE parity = 'odd'"
    expected = ch_client.raw_query(sql, fmt="TabSeparated")

    plain = http(endpoint, body=sql.encode(), headers={"Content-Type": "text/plain"})
    form = urllib3.request("POST", f"{endpoint.url}/", fields={"query": sql}, timeout=WAIT)
    split = http(
        endpoint,
        {"query": f"SELECT sum(value), count() FROM {table}"},
        body=b"WHERE parity = 'odd'",
    )

    assert plain[::2] == split[::2] == (200, expected)
    assert (form.status, form.data) == (200, expected)


def test_unknown_settings_params_are_ignored(endpoint: QueryEndpoint) -> None:
    params = {"query": "SELECT 42", "max_threads": "1", "wait_end_of_query": "1"}
    params |= {"enable_http_compression": "1", "session_timeout": "60", "query_id": "q-1"}

    status, headers, body = http(endpoint, params)

    assert (status, body, headers["X-ClickHouse-Query-Id"]) == (200, b"42\n", "q-1")
    for name in ("X-ClickHouse-Summary", "X-ClickHouse-Timezone"):
        assert name in headers
    assert json.loads(headers["X-ClickHouse-Summary"])["result_bytes"] == "3"
    assert headers["X-ClickHouse-Server-Display-Name"] == "sessionflow"


def test_clickhouse_connect_http_client_gets_what_the_direct_client_gets(
    endpoint: QueryEndpoint, ch_client: Any, ch_database: str, table: str
) -> None:
    remote = clickhouse_connect.get_client(host="127.0.0.1", port=endpoint.port)
    try:
        sql = (
            "SELECT id, name, parity, value, toDateTime64('2026-01-02 03:04:05.6', 3, 'UTC') AS at,"
            " [id, id + 1] AS pair, map(name, value) AS m FROM events ORDER BY id"
        )
        direct_sql = sql.replace("FROM events", f"FROM {table}")

        got = remote.query(sql, settings={"database": ch_database})
        expected = ch_client.query(direct_sql)

        assert got.result_rows == expected.result_rows
        assert got.column_names == expected.column_names
        assert [t.name for t in got.column_types] == [t.name for t in expected.column_types]
        assert remote.command(f"SELECT count() FROM {table}") == ch_client.command(
            f"SELECT count() FROM {table}"
        )
        assert remote.command(f"SELECT id FROM {table} WHERE 0") == ""
        assert remote.raw_query(f"SELECT max(id) FROM {table}", fmt="CSV") == ch_client.raw_query(
            f"SELECT max(id) FROM {table}", fmt="CSV"
        )
        assert remote.server_version == ch_client.server_version
    finally:
        remote.close()


def test_bad_sql_raises_database_error_with_the_engines_code_and_name(
    endpoint: QueryEndpoint, ch_client: Any, table: str
) -> None:
    remote = clickhouse_connect.get_client(host="127.0.0.1", port=endpoint.port)
    try:
        for sql in (
            f"SELECT no_such_column FROM {table}",
            "SELECT * FROM no_such_table",
            "SELEC 1",
        ):
            with pytest.raises(DatabaseError) as direct:
                ch_client.query(sql)
            with pytest.raises(DatabaseError) as through:
                remote.query(sql)
            assert through.value.code == direct.value.code
            assert through.value.name == direct.value.name
            assert direct.value.name is not None
            assert direct.value.name in str(through.value)
    finally:
        remote.close()


WRITES = [
    "INSERT INTO {t} (id) VALUES (999)",
    "INSERT INTO {t} SELECT * FROM {t}",
    "INSERT INTO FUNCTION file('out.csv', 'CSV') SELECT 1",
    "CREATE TABLE {t}_copy AS {t}",
    "CREATE DATABASE endpoint_should_not_exist",
    "DROP TABLE {t}",
    "TRUNCATE TABLE {t}",
    "ALTER TABLE {t} DELETE WHERE 1",
    "ALTER TABLE {t} UPDATE value = 0 WHERE 1",
    "ALTER TABLE {t} ADD COLUMN extra UInt8",
    "DELETE FROM {t} WHERE 1",
    "RENAME TABLE {t} TO {t}_renamed",
    "OPTIMIZE TABLE {t} FINAL",
    "SYSTEM STOP MERGES {t}",
    "KILL QUERY WHERE 1",
    "GRANT SELECT ON *.* TO nobody",
    "SET readonly = 0",
    "USE system",
    "DETACH TABLE {t}",
    "ATTACH TABLE {t}",
    "SELECT * FROM {t} INTO OUTFILE 'leak.tsv'",
    "SELECT file('/etc/hostname')",
    "SELECT * FROM url('http://127.0.0.1:9/', 'LineAsString')",
    "SELECT * FROM remote('127.0.0.1:9000', system.one)",
    "SELECT 1; DROP TABLE {t}",
    "SELECT count() FROM {t} SETTINGS readonly = 0",
    "SELECT count() FROM {t} SETTINGS max_threads = 1",
]


@pytest.mark.parametrize("write", WRITES)
def test_every_write_and_ddl_kind_is_refused_and_changes_nothing(
    endpoint: QueryEndpoint, ch_client: Any, table: str, write: str
) -> None:
    before = state_of(ch_client, table)
    sql = write.format(t=table)

    status, headers, body = http(endpoint, {"query": sql})

    assert status in (400, 403)
    assert headers["X-ClickHouse-Exception-Code"] in ("164", "62")
    assert body.startswith(b"Code: ")
    assert state_of(ch_client, table) == before
    databases = ch_client.command(
        "SELECT count() FROM system.databases WHERE name LIKE 'endpoint_%'"
    )
    assert databases == 0


def test_clickhouse_connect_command_write_raises_readonly(
    endpoint: QueryEndpoint, ch_client: Any, table: str
) -> None:
    before = state_of(ch_client, table)
    remote = clickhouse_connect.get_client(host="127.0.0.1", port=endpoint.port)
    try:
        with pytest.raises(DatabaseError) as refused:
            remote.command(f"INSERT INTO {table} (id) VALUES (1000)")
        assert (refused.value.code, refused.value.name) == (164, "READONLY")
    finally:
        remote.close()
    assert state_of(ch_client, table) == before


def test_the_engine_itself_refuses_writes_and_the_callers_client_still_writes(
    endpoint: QueryEndpoint, ch_client: Any, table: str
) -> None:
    """Past the guard: the endpoint's own connection is read-only in the engine."""
    reader = endpoint._reader  # the engine path, without the guard in front of it
    assert reader is not None
    with pytest.raises(DatabaseError) as refused:
        reader.run(f"INSERT INTO {table} (id) VALUES (1001)", None, None, {})
    assert refused.value.code == 164
    with pytest.raises(DatabaseError):
        reader.run("SELECT * FROM file('/etc/hostname', 'LineAsString')", None, None, {})

    ch_client.insert(
        table, [(1002, "after", "odd", 0.0)], column_names=["id", "name", "parity", "value"]
    )
    assert ch_client.command(f"SELECT count() FROM {table}") == len(ROWS) + 1


def test_a_result_over_the_limit_is_refused(ch_client: Any, ch_database: str, table: str) -> None:
    limit = EndpointSettings(port=0, max_result_bytes=64 * 1024)
    with serving(ch_client, limit, ch_database) as small:
        big = "SELECT number, toString(number) FROM numbers(100000)"
        status, headers, _ = http(small, {"query": big})
        assert (status, headers["X-ClickHouse-Exception-Code"]) == (500, "396")
        assert http(small, {"query": "SELECT 1"})[::2] == (200, b"1\n")


def _basic(user: str, password: str) -> dict[str, str]:
    token = base64.b64encode(f"{user}:{password}".encode()).decode()
    return {"Authorization": f"Basic {token}"}


def test_basic_auth_when_configured(ch_client: Any, ch_database: str, table: str) -> None:
    settings = EndpointSettings(port=0, user="analyst", password=SecretStr("s3cret"))
    query = {"query": "SELECT 7"}
    with serving(ch_client, settings, ch_database) as secured:
        assert http(secured, path="/ping")[::2] == (200, b"Ok.\n")
        for headers in ({}, _basic("analyst", "wrong"), _basic("other", "s3cret")):
            status, answer, body = http(secured, query, headers=headers)
            assert (status, answer["X-ClickHouse-Exception-Code"]) == (401, "516")
            assert b"AUTHENTICATION_FAILED" in body
        assert http(secured, query, headers=_basic("analyst", "s3cret"))[::2] == (200, b"7\n")
        keys = {"X-ClickHouse-User": "analyst", "X-ClickHouse-Key": "s3cret"}
        assert http(secured, query, headers=keys)[::2] == (200, b"7\n")
        params = query | {"user": "analyst", "password": "s3cret"}
        assert http(secured, params)[::2] == (200, b"7\n")
        curl = ["curl", "-sS", "-u", "analyst:s3cret", f"{secured.url}/?query=SELECT%208"]
        assert subprocess.run(curl, capture_output=True, check=True).stdout == b"8\n"

        good = clickhouse_connect.get_client(
            host="127.0.0.1", port=secured.port, username="analyst", password="s3cret"
        )
        assert good.command(f"SELECT count() FROM {table}") == len(ROWS)
        good.close()
        with pytest.raises(DatabaseError) as refused:
            clickhouse_connect.get_client(
                host="127.0.0.1", port=secured.port, username="analyst", password="nope"
            )
        assert refused.value.code == 516


def test_settings_keep_the_password_secret_and_need_both_auth_fields(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setenv("SESSIONFLOW_SINK_HTTP_USER", "analyst")
    monkeypatch.setenv("SESSIONFLOW_SINK_HTTP_PASSWORD", "hunter2")
    monkeypatch.setenv("SESSIONFLOW_SINK_HTTP_PORT", "18124")

    settings = EndpointSettings()

    assert (settings.user, settings.port, settings.host) == ("analyst", 18124, "127.0.0.1")
    assert "hunter2" not in repr(settings)
    monkeypatch.delenv("SESSIONFLOW_SINK_HTTP_PASSWORD")
    with pytest.raises(ValidationError, match="go together"):
        EndpointSettings()


def test_queries_run_while_another_thread_inserts_through_the_same_client(
    endpoint: QueryEndpoint, ch_client: Any, table: str
) -> None:
    """The sink inserts through the client the endpoint was given; queries see whole batches."""
    batches, size = 40, 100
    ch_client.command(f"TRUNCATE TABLE {table}")
    progress = threading.Condition()
    queries_done = 0
    failures: list[BaseException] = []

    def insert() -> None:
        try:
            for batch in range(batches):
                if batch == batches - 1:  # the last batch waits until queries ran beside it
                    with progress:
                        if not progress.wait_for(lambda: queries_done >= 3, timeout=WAIT):
                            raise TimeoutError("no query answered while inserting")
                rows = [(batch * size + i, "x", "odd", 1.0) for i in range(size)]
                ch_client.insert(table, rows, column_names=["id", "name", "parity", "value"])
        except BaseException as exc:  # reported by the test thread
            failures.append(exc)

    writer = threading.Thread(target=insert)
    writer.start()
    remote = clickhouse_connect.get_client(host="127.0.0.1", port=endpoint.port)
    seen: list[int] = []
    try:
        while writer.is_alive() or not seen:
            count, next_id = remote.query(f"SELECT count(), max(id) + 1 FROM {table}").result_rows[
                0
            ]
            assert count % size == 0  # every insert is one whole batch
            assert count in (0, next_id)  # and batches arrive in order
            seen.append(count)
            with progress:
                queries_done += 1
                progress.notify_all()
    finally:
        writer.join(WAIT)
        remote.close()
    assert not writer.is_alive()
    assert failures == []
    assert seen == sorted(seen)
    assert len(seen) >= 3
    final = remote_count = ch_client.command(f"SELECT count() FROM {table}")
    assert final == batches * size
    assert (
        http(endpoint, {"query": f"SELECT count() FROM {table}"})[2] == f"{remote_count}\n".encode()
    )


def test_over_an_http_client_the_endpoint_passes_readonly_and_database_per_call(
    endpoint: QueryEndpoint, ch_client: Any, ch_database: str, table: str
) -> None:
    """The HTTP path (a ClickHouse server in production; here the chdb endpoint as server)."""
    upstream = clickhouse_connect.get_client(host="127.0.0.1", port=endpoint.port)
    try:
        with serving(upstream, EndpointSettings(port=0), ch_database) as relay:
            sql = "SELECT id, name FROM events ORDER BY id"
            assert http(relay, {"query": sql})[::2] == (
                200,
                ch_client.raw_query(f"SELECT id, name FROM {table} ORDER BY id", fmt="TSV"),
            )
            status, headers, body = http(relay, {"query": "SELECT * FROM no_such_table"})
            assert (status, headers["X-ClickHouse-Exception-Code"]) == (404, "60")
            assert b"(UNKNOWN_TABLE)" in body
            assert b"for url" not in body
    finally:
        upstream.close()
