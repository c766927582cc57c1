"""The SQL guard of the query endpoint, on its own (no engine): what passes, what is refused."""

from __future__ import annotations

import pytest

from sessionflow.sinks.endpoint.errors import ClickHouseFailure
from sessionflow.sinks.endpoint.sql_guard import check_read_only

FORMATS = {"tabseparated", "tsv", "json", "jsoneachrow", "csv", "native"}


@pytest.mark.parametrize(
    ("sql", "expected_sql", "expected_format"),
    [
        ("SELECT 1", "SELECT 1", None),
        ("  select 1 ;; ", "  select 1", None),
        ("SELECT 1; -- done", "SELECT 1", None),
        ("SELECT 1 FORMAT JSON", "SELECT 1 FORMAT JSON", "JSON"),
        ("SELECT 1 format jsoneachrow;", "SELECT 1 format jsoneachrow", "jsoneachrow"),
        ("SELECT format FROM t", "SELECT format FROM t", None),
        ("SELECT format('{}', 'x')", "SELECT format('{}', 'x')", None),
        ("SELECT * FROM (SELECT 1 FORMAT CSV) FORMAT TSV", None, "TSV"),
        ("WITH 1 AS x SELECT x", "WITH 1 AS x SELECT x", None),
        ("(SELECT 1) UNION ALL (SELECT 2)", None, None),
        ("SHOW TABLES", "SHOW TABLES", None),
        ("DESCRIBE TABLE t", "DESCRIBE TABLE t", None),
        ("EXPLAIN SELECT 1", "EXPLAIN SELECT 1", None),
        ("EXISTS TABLE t", "EXISTS TABLE t", None),
        ("/* INSERT */ SELECT 'DROP TABLE t; file(1)'", None, None),
        ("SELECT URLHierarchy('http://a/b')", None, None),
        ("SELECT $$ ' $$, 1", None, None),
    ],
)
def test_queries_pass_with_their_format(
    sql: str, expected_sql: str | None, expected_format: str | None
) -> None:
    query = check_read_only(sql, FORMATS)

    assert query.sql == (expected_sql if expected_sql is not None else sql.rstrip())
    assert query.format == expected_format


@pytest.mark.parametrize(
    "sql",
    [
        "INSERT INTO t VALUES (1)",
        "insert into t select 1",
        "-- comment\nINSERT INTO t VALUES (1)",
        "/* a /* nested */ comment */ DROP TABLE t",
        "CREATE TABLE x (a Int8) ENGINE = Memory",
        "DROP TABLE t",
        "ALTER TABLE t DELETE WHERE 1",
        "TRUNCATE TABLE t",
        "RENAME TABLE t TO u",
        "EXCHANGE TABLES t AND u",
        "OPTIMIZE TABLE t FINAL",
        "SYSTEM STOP MERGES",
        "KILL QUERY WHERE 1",
        "GRANT SELECT ON *.* TO x",
        "SET readonly = 0",
        "USE system",
        "ATTACH TABLE t",
        "DETACH TABLE t",
        "DELETE FROM t WHERE 1",
        "UNDROP TABLE t",
        "SELECT * FROM t INTO OUTFILE '/tmp/x'",
        "SELECT file('/etc/passwd')",
        "SELECT * FROM url('http://127.0.0.1/', CSV)",
        "SELECT * FROM `file`('/etc/passwd')",
        "SELECT * FROM s3('http://h/b/k.csv')",
        "SELECT * FROM remoteSecure('h', system.one)",
        "SELECT * FROM executable('ls', TSV, 'x String')",
        "SELECT * FROM icebergS3('http://h/b')",
        "SELECT * FROM FILE /* hidden */ ('x')",
        "SELECT $tag$ ' $tag$ FROM file('x')",
    ],
)
def test_writes_ddl_and_outside_access_are_refused_as_readonly(sql: str) -> None:
    with pytest.raises(ClickHouseFailure) as refused:
        check_read_only(sql, FORMATS)

    assert (refused.value.code, refused.value.name, refused.value.status) == (164, "READONLY", 403)


@pytest.mark.parametrize(
    "sql",
    [
        "",
        " ; ",
        "-- only a comment",
        "SELECT 1; DROP TABLE t",
        "SELECT 1; SELECT 2",
        "SELECT 'unterminated",
        "SELECT /* unterminated",
        "SELECT $$ unterminated",
        "SELEC 1",
        "'SELECT' 1",
    ],
)
def test_empty_multi_statement_and_unterminated_text_is_a_syntax_error(sql: str) -> None:
    with pytest.raises(ClickHouseFailure) as refused:
        check_read_only(sql, FORMATS)

    assert (refused.value.code, refused.value.name, refused.value.status) == (
        62,
        "SYNTAX_ERROR",
        400,
    )


def test_a_refusal_reads_like_a_clickhouse_error() -> None:
    with pytest.raises(ClickHouseFailure) as refused:
        check_read_only("DROP TABLE t", FORMATS)

    body = refused.value.body()
    assert body.startswith("Code: 164. DB::Exception: ")
    assert body.endswith(". (READONLY)\n")
    assert "DROP" in body
