"""Defence in depth for the read-only endpoint: which SQL it passes to the engine at all.

The engine itself enforces read-only mode (``readonly=1``, see :mod:`.reader`); this guard
refuses, before anything runs, what ``readonly=1`` lets through in an embedded engine or what
would change the shared connection: ``INTO OUTFILE`` (chdb writes the file), the scalar
``file()`` (reads local files even read-only), ``USE``/``SET`` (they would change the handle's
state for later requests), ``KILL`` (could stop the sink's own inserts), several statements in
one request, and every statement that is not a query (INSERT, CREATE, ALTER, SYSTEM ...).

It tokenizes like ClickHouse's lexer (quoted strings and identifiers with backslash escapes
and doubled quotes, ``$tag$`` heredocs, ``--``/``#`` line comments, nested ``/* */``
comments); anything it cannot tokenize is refused rather than guessed at.
"""

from __future__ import annotations

import re
from collections.abc import Collection, Iterator
from dataclasses import dataclass
from itertools import pairwise

from sessionflow.sinks.endpoint.errors import READONLY, SYNTAX_ERROR, ClickHouseFailure

# Statements that only read: everything else is refused.
_QUERY_KEYWORDS = frozenset({"SELECT", "WITH", "SHOW", "DESCRIBE", "DESC", "EXPLAIN", "EXISTS"})

# Statements ClickHouse knows that change something: refused as READONLY (other words: syntax).
_CHANGING_KEYWORDS = frozenset(
    {
        "INSERT", "CREATE", "DROP", "ALTER", "TRUNCATE", "RENAME", "EXCHANGE", "OPTIMIZE",
        "SYSTEM", "KILL", "GRANT", "REVOKE", "SET", "USE", "ATTACH", "DETACH", "DELETE",
        "UPDATE", "UNDROP", "CHECK", "WATCH", "MOVE", "BACKUP", "RESTORE", "BEGIN", "COMMIT",
        "ROLLBACK", "REPLACE", "EXECUTE", "PARALLEL",
    }
)  # fmt: skip

# Functions that read or write outside the engine's own tables (files, network, programs).
_OUTSIDE_FUNCTIONS = frozenset(
    {
        "file",
        "filecluster",
        "url",
        "urlcluster",
        "gcs",
        "oss",
        "cosn",
        "mysql",
        "postgresql",
        "sqlite",
        "odbc",
        "jdbc",
        "mongodb",
        "redis",
        "executable",
        "input",
        "ytsaurus",
        "arrowflight",
        "arrowflightcluster",
    }
)
_OUTSIDE_PREFIXES = (
    "s3",
    "hdfs",
    "azureblob",
    "remote",
    "cluster",
    "iceberg",
    "deltalake",
    "hudi",
    "paimon",
)
_FILE_CLAUSES = re.compile(r"\b(OUTFILE|INFILE)\b", re.IGNORECASE)

_WORD = re.compile(r"[A-Za-z_][A-Za-z0-9_]*")
_NUMBER = re.compile(r"[0-9][0-9A-Za-z_.]*")
_HEREDOC = re.compile(r"\$([A-Za-z_][A-Za-z0-9_]*)?\$")


@dataclass(frozen=True)
class Token:
    """One lexical token: ``word`` (bare), ``ident`` (quoted), ``string``, ``number``,
    ``punct``; ``text`` is the word, the unquoted identifier or the character."""

    kind: str
    text: str
    end: int = 0  # where it ends in the SQL

    def is_punct(self, char: str) -> bool:
        """Whether this is the punctuation ``char``."""
        return self.kind == "punct" and self.text == char


@dataclass(frozen=True)
class ReadQuery:
    """A query the guard let through: the SQL without trailing ``;`` and its ``FORMAT``
    clause's format if it has one (the name as written; ``None``: no clause)."""

    sql: str
    format: str | None


def check_read_only(sql: str, output_formats: Collection[str]) -> ReadQuery:
    """``sql`` as a :class:`ReadQuery` if it is one read-only statement.

    ``output_formats`` are the engine's output format names, lower-cased (they tell a
    ``FORMAT JSON`` clause from a column named ``format``). Raises
    :class:`~.errors.ClickHouseFailure` ``READONLY`` for anything but a query, and
    ``SYNTAX_ERROR`` for an empty, unterminated or multi-statement text.
    """
    if _FILE_CLAUSES.search(sql):
        raise _refused("INTO OUTFILE / FROM INFILE")
    tokens = list(tokenize(sql))
    while tokens and tokens[-1].is_punct(";"):
        tokens.pop()
    if not tokens:
        raise ClickHouseFailure.of(SYNTAX_ERROR, "Empty query")
    if any(token.is_punct(";") for token in tokens):
        raise ClickHouseFailure.of(SYNTAX_ERROR, "Multi-statements are not allowed")
    first = tokens[0]
    keyword = first.text.upper() if first.kind == "word" else ""
    if not first.is_punct("(") and keyword not in _QUERY_KEYWORDS:
        if keyword in _CHANGING_KEYWORDS:
            raise _refused(f"{keyword} statements")
        raise ClickHouseFailure.of(SYNTAX_ERROR, f"Syntax error: no query starts with {first.text}")
    _refuse_outside_functions(tokens)
    # cut after the last token: drops trailing ';' and comments, so a FORMAT can follow
    return ReadQuery(sql[: tokens[-1].end], _format_clause(tokens, output_formats))


def tokenize(sql: str) -> Iterator[Token]:
    """The tokens of ``sql`` without whitespace and comments; ``SYNTAX_ERROR`` if a string,
    quoted identifier, heredoc or comment is not closed."""
    pos, end = 0, len(sql)
    while pos < end:
        char = sql[pos]
        if char.isspace():
            pos += 1
        elif sql.startswith("--", pos) or char == "#":
            newline = sql.find("\n", pos)
            pos = end if newline < 0 else newline + 1
        elif sql.startswith("/*", pos):
            pos = _skip_block_comment(sql, pos)
        elif char in "'\"`":
            text, pos = _quoted(sql, pos)
            yield Token("string" if char == "'" else "ident", text, pos)
        elif char == "$" and (heredoc := _HEREDOC.match(sql, pos)):
            close = sql.find(heredoc.group(0), heredoc.end())
            if close < 0:
                raise _unterminated("heredoc")
            pos = close + len(heredoc.group(0))
            yield Token("string", sql[heredoc.end() : close], pos)
        elif word := _WORD.match(sql, pos):
            yield Token("word", word.group(0), word.end())
            pos = word.end()
        elif number := _NUMBER.match(sql, pos):
            yield Token("number", number.group(0), number.end())
            pos = number.end()
        else:
            yield Token("punct", char, pos + 1)
            pos += 1


def _skip_block_comment(sql: str, pos: int) -> int:
    depth, pos = 1, pos + 2
    while depth:
        opening, closing = sql.find("/*", pos), sql.find("*/", pos)
        if closing < 0:
            raise _unterminated("comment")
        if 0 <= opening < closing:
            depth, pos = depth + 1, opening + 2
        else:
            depth, pos = depth - 1, closing + 2
    return pos


def _quoted(sql: str, pos: int) -> tuple[str, int]:
    """The unquoted text of the literal or identifier opening at ``pos``, and where it ends."""
    quote, pos, parts = sql[pos], pos + 1, []
    while pos < len(sql):
        char = sql[pos]
        if char == "\\":
            parts.append(sql[pos + 1 : pos + 2])
            pos += 2
        elif char == quote and sql.startswith(quote * 2, pos):
            parts.append(quote)
            pos += 2
        elif char == quote:
            return "".join(parts), pos + 1
        else:
            parts.append(char)
            pos += 1
    raise _unterminated("quoted string or identifier")


def _refuse_outside_functions(tokens: list[Token]) -> None:
    for token, following in pairwise(tokens):
        if token.kind not in ("word", "ident") or not following.is_punct("("):
            continue
        name = token.text.lower()
        if name in _OUTSIDE_FUNCTIONS or name.startswith(_OUTSIDE_PREFIXES):
            raise _refused(f"the function {token.text}() (files, network, programs)")


def _format_clause(tokens: list[Token], output_formats: Collection[str]) -> str | None:
    """The format of the last top-level ``FORMAT name`` whose name is an output format."""
    found, depth = None, 0
    for token, following in pairwise(tokens):
        if token.kind == "punct":
            depth += {"(": 1, ")": -1}.get(token.text, 0)
        elif (
            depth == 0
            and token.kind == "word"
            and token.text.upper() == "FORMAT"
            and following.kind in ("word", "ident")
            and following.text.lower() in output_formats
        ):
            found = following.text
    return found


def _refused(what: str) -> ClickHouseFailure:
    return ClickHouseFailure.of(
        READONLY, f"the sessionflow query endpoint is read-only: {what} refused"
    )


def _unterminated(what: str) -> ClickHouseFailure:
    return ClickHouseFailure.of(SYNTAX_ERROR, f"unterminated {what}")
