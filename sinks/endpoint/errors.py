"""Errors the endpoint answers with, rendered the way ClickHouse's HTTP interface does.

A ClickHouse HTTP error is a status, an ``X-ClickHouse-Exception-Code`` header and a body
``Code: N. DB::Exception: message. (NAME)``; clickhouse-connect parses exactly that into its
``DatabaseError`` (code, symbolic name, message).
"""

from __future__ import annotations

import re

from sessionflow.core.errors import SessionflowError

# ClickHouse's own error codes and symbolic names for the errors the endpoint raises itself.
SYNTAX_ERROR = (62, "SYNTAX_ERROR")
READONLY = (164, "READONLY")
TOO_MANY_ROWS_OR_BYTES = (396, "TOO_MANY_ROWS_OR_BYTES")
AUTHENTICATION_FAILED = (516, "AUTHENTICATION_FAILED")
NETWORK_ERROR = (210, "NETWORK_ERROR")
STD_EXCEPTION = (1001, "STD_EXCEPTION")

# How ClickHouse's HTTP handler maps an exception's name to a status (default 500).
_STATUS_BY_NAME: dict[str, int] = {
    "AUTHENTICATION_FAILED": 401,
    "REQUIRED_PASSWORD": 401,
    "UNKNOWN_USER": 401,
    "WRONG_PASSWORD": 401,
    "READONLY": 403,
    "ACCESS_DENIED": 403,
    "FUNCTION_NOT_ALLOWED": 403,
    "SYNTAX_ERROR": 400,
    "BAD_ARGUMENTS": 400,
    "ILLEGAL_TYPE_OF_ARGUMENT": 400,
    "ILLEGAL_COLUMN": 400,
    "TYPE_MISMATCH": 400,
    "NUMBER_OF_ARGUMENTS_DOESNT_MATCH": 400,
    "TOO_MANY_ARGUMENTS_FOR_FUNCTION": 400,
    "TOO_FEW_ARGUMENTS_FOR_FUNCTION": 400,
    "CANNOT_PARSE_TEXT": 400,
    "CANNOT_PARSE_NUMBER": 400,
    "CANNOT_PARSE_DATE": 400,
    "CANNOT_PARSE_DATETIME": 400,
    "CANNOT_PARSE_UUID": 400,
    "UNKNOWN_TABLE": 404,
    "UNKNOWN_DATABASE": 404,
    "UNKNOWN_FUNCTION": 404,
    "UNKNOWN_IDENTIFIER": 404,
    "UNKNOWN_TYPE": 404,
    "UNKNOWN_STORAGE": 404,
    "UNKNOWN_SETTING": 404,
    "UNKNOWN_FORMAT": 404,
    "UNKNOWN_AGGREGATE_FUNCTION": 404,
    "UNKNOWN_TYPE_OF_QUERY": 404,
    "NOT_IMPLEMENTED": 501,
    "SUPPORT_IS_DISABLED": 501,
}

_ENGINE_MESSAGE = re.compile(r"Code: (\d+)\. DB::Exception: (.*)", re.DOTALL)
_NAME = re.compile(r"\(([A-Z][A-Z0-9_]+)\)")
_TRAILERS = re.compile(r"(\s*\(version [^)]*\))?(\s*\(for url [^)]*\))?\s*$")


class ClickHouseFailure(SessionflowError):
    """An error to answer a client with, ClickHouse style (code, symbolic name, text)."""

    def __init__(self, code: int, name: str, text: str) -> None:
        super().__init__(code, name, text)
        self.code = code
        self.name = name
        self.text = text

    def __str__(self) -> str:
        return self.body().rstrip("\n")

    @classmethod
    def of(cls, kind: tuple[int, str], text: str) -> ClickHouseFailure:
        """A failure of one of this module's kinds (e.g. ``READONLY``) with ``text``."""
        return cls(kind[0], kind[1], text)

    @property
    def status(self) -> int:
        """The HTTP status ClickHouse answers this error with."""
        return _STATUS_BY_NAME.get(self.name, 500)

    def body(self) -> str:
        """``Code: N. DB::Exception: text. (NAME)`` and a newline, as ClickHouse writes it."""
        return f"Code: {self.code}. DB::Exception: {self.text}. ({self.name})\n"


def failure_from_engine(exc: Exception) -> ClickHouseFailure:
    """The engine's own error as a :class:`ClickHouseFailure` (code, name and text kept).

    Works on clickhouse-connect's errors over chdb (``Code: N. DB::Exception: ...``) and over
    HTTP (the same text after ``server response:``); anything else is an ``STD_EXCEPTION``.
    """
    message = str(exc)
    match = _ENGINE_MESSAGE.search(message)
    if match is None:
        return ClickHouseFailure.of(STD_EXCEPTION, f"query failed: {type(exc).__name__}")
    code, text = int(match.group(1)), _TRAILERS.sub("", match.group(2).strip())
    names = _NAME.findall(text)
    name = names[-1] if names else "UNKNOWN_EXCEPTION"
    suffix = f"({name})"
    if text.endswith(suffix):
        text = text[: -len(suffix)].rstrip().rstrip(".")
    return ClickHouseFailure(code, name, text)
