"""Audit rows enriched with what earlier events of their session said, for the analytics views.

An event names its session, tool call, stream or message only by id; the analytics group by
what the defining event said: the session's ``user_id`` (``session.created``), a tool call's
``tool_name`` and request time (``tool_call.pending``), a stream's ``model``
(``stream.started``), a message's model and previous token usage (``message.created`` and
``message.updated``). A defining event precedes its users in the same Kafka partition (the
session is the key), and the sink stores each partition in offset order, so the definition
is either earlier in the batch or already in ClickHouse: the enrichment is the same whether
the sink runs through or restarts in between. A bounded cache keeps recent definitions; what
it misses is looked up once per batch. The first definition wins, as in the processors,
except message usage, where the latest wins (an update replaces a message's usage).
"""

from __future__ import annotations

from collections import OrderedDict
from collections.abc import Iterable
from typing import Any, Final

from sessionflow.sinks.clickhouse.rows import (
    COMPLETION_TOKENS,
    DECODE_ERROR,
    EVENT_TYPE,
    MESSAGE_ID,
    MODEL,
    OCCURRED_AT,
    PREV_COMPLETION_TOKENS,
    PREV_PROMPT_TOKENS,
    PREV_TOTAL_TOKENS,
    PROMPT_TOKENS,
    SESSION_ID,
    STREAM_ID,
    TOOL_CALL_ID,
    TOOL_NAME,
    TOTAL_TOKENS,
    USER_ID,
    WAIT_MS,
    EventRow,
)

Key = tuple[str, str]
_TOOL_USERS: Final = frozenset(
    {"tool_call.approved", "tool_call.rejected", "tool_call.completed", "tool_call.failed"}
)
_DECISIONS: Final = frozenset({"tool_call.approved", "tool_call.rejected"})


class _Cache:
    """A bounded LRU map."""

    def __init__(self, size: int) -> None:
        self.size = size
        self.items: OrderedDict[Any, Any] = OrderedDict()

    def get(self, key: Any) -> Any:
        value = self.items.get(key)
        if value is not None:
            self.items.move_to_end(key)
        return value

    def put(self, key: Any, value: Any) -> None:
        self.items[key] = value
        self.items.move_to_end(key)
        if len(self.items) > self.size:
            self.items.popitem(last=False)


class Enricher:
    """Fills ``user_id``, ``tool_name``, ``wait_ms``, ``model`` and ``prev_*_tokens``."""

    def __init__(self, client: Any, database: str, cache_size: int = 200_000) -> None:
        self._client = client
        self._db = f"`{database}`"
        self._users = _Cache(cache_size)
        self._tools = _Cache(cache_size)
        self._streams = _Cache(cache_size)
        self._messages = _Cache(cache_size)
        self._caches = {
            "user": self._users, "tool": self._tools, "stream": self._streams,
            "msg": self._messages,
        }  # fmt: skip

    def enrich(self, rows: list[EventRow]) -> None:
        """Enrich ``rows`` (one partition, offset order) in place."""
        self._prefetch(rows)
        for row in rows:
            if row[DECODE_ERROR] is None:
                self._apply(row)

    def _apply(self, row: EventRow) -> None:
        kind, session = row[EVENT_TYPE], row[SESSION_ID]
        if kind == "session.created":
            if self._users.get(session) is None:
                self._users.put(session, (row[USER_ID],))
        else:
            user = self._users.get(session)
            row[USER_ID] = user[0] if user else None
        if kind == "tool_call.pending":
            key = (session, row[TOOL_CALL_ID])
            if self._tools.get(key) is None:
                self._tools.put(key, (row[TOOL_NAME], row[OCCURRED_AT]))
        elif kind in _TOOL_USERS:
            tool = self._tools.get((session, row[TOOL_CALL_ID]))
            if tool is not None:
                row[TOOL_NAME] = tool[0]
                if kind in _DECISIONS:
                    row[WAIT_MS] = max(0, row[OCCURRED_AT] - tool[1])
        elif kind == "stream.started":
            key = (session, row[STREAM_ID])
            if self._streams.get(key) is None:
                self._streams.put(key, (row[MODEL],))
        elif kind == "stream.ended":
            stream = self._streams.get((session, row[STREAM_ID]))
            row[MODEL] = stream[0] if stream else None
        elif kind in ("message.created", "message.updated"):
            self._message(row, session)

    def _message(self, row: EventRow, session: str) -> None:
        key = (session, row[MESSAGE_ID])
        previous = self._messages.get(key)
        if row[EVENT_TYPE] == "message.updated":
            row[MODEL] = previous[0] if previous else None
            if previous is not None and row[TOTAL_TOKENS] is not None:
                row[PREV_PROMPT_TOKENS], row[PREV_COMPLETION_TOKENS] = previous[1:3]
                row[PREV_TOTAL_TOKENS] = previous[3]
        if row[TOTAL_TOKENS] is not None or previous is None:
            self._messages.put(
                key,
                (row[MODEL], row[PROMPT_TOKENS], row[COMPLETION_TOKENS], row[TOTAL_TOKENS]),
            )

    # ------------------------------------------------------------------ lookups

    def _prefetch(self, rows: list[EventRow]) -> None:
        """Load the definitions ``rows`` need that are neither cached nor in ``rows``."""
        defined: set[tuple[str, Key | str]] = set()
        wanted: dict[str, set[Any]] = {"user": set(), "tool": set(), "stream": set(), "msg": set()}
        for row in rows:
            if row[DECODE_ERROR] is not None:
                continue
            for kind, key in _needs(row):
                if (kind, key) not in defined and self._caches[kind].get(key) is None:
                    wanted[kind].add(key)
            for kind, key in _defines(row):
                defined.add((kind, key))
        if wanted["user"]:
            self._load_users(wanted["user"])
        for kind, loader in (
            ("tool", self._load_tools),
            ("stream", self._load_streams),
            ("msg", self._load_messages),
        ):
            if wanted[kind]:
                loader(wanted[kind])

    def _query(self, sql: str, sessions: Iterable[str]) -> list[tuple[Any, ...]]:
        return list(self._client.query(sql, parameters={"ids": sorted(set(sessions))}).result_rows)

    def _load_users(self, sessions: set[str]) -> None:
        sql = (
            f"SELECT session_id, user_id FROM {self._db}.events WHERE session_id IN "
            "{ids:Array(String)} AND event_type = 'session.created' ORDER BY partition, offset"
        )
        for session, user in self._query(sql, sessions):
            if self._users.get(session) is None:
                self._users.put(session, (user,))

    def _load_tools(self, keys: set[Key]) -> None:
        sql = (
            f"SELECT session_id, tool_call_id, tool_name, toUnixTimestamp64Milli(occurred_at) "
            f"FROM {self._db}.events WHERE session_id IN {{ids:Array(String)}} "
            "AND event_type = 'tool_call.pending' ORDER BY partition, offset"
        )
        for session, call, tool, at in self._query(sql, (s for s, _ in keys)):
            if (session, call) in keys and self._tools.get((session, call)) is None:
                self._tools.put((session, call), (tool, at))

    def _load_streams(self, keys: set[Key]) -> None:
        sql = (
            f"SELECT session_id, stream_id, model FROM {self._db}.events WHERE session_id IN "
            "{ids:Array(String)} AND event_type = 'stream.started' ORDER BY partition, offset"
        )
        for session, stream, model in self._query(sql, (s for s, _ in keys)):
            if (session, stream) in keys and self._streams.get((session, stream)) is None:
                self._streams.put((session, stream), (model,))

    def _load_messages(self, keys: set[Key]) -> None:
        sql = (
            f"SELECT session_id, message_id, model, event_type, prompt_tokens, "
            f"completion_tokens, total_tokens FROM {self._db}.events WHERE session_id IN "
            "{ids:Array(String)} AND event_type IN ('message.created', 'message.updated') "
            "ORDER BY partition, offset"
        )
        found: dict[Key, tuple[Any, ...]] = {}
        for session, message, model, kind, prompt, completion, total in self._query(
            sql, (s for s, _ in keys)
        ):
            key = (session, message)
            if key not in keys:
                continue
            previous = found.get(key)
            if kind == "message.updated":
                model = previous[0] if previous else None
            if total is not None or previous is None:
                found[key] = (model, prompt, completion, total)
        for key, value in found.items():
            self._messages.put(key, value)


def _needs(row: EventRow) -> list[tuple[str, Any]]:
    kind, session = row[EVENT_TYPE], row[SESSION_ID]
    needs: list[tuple[str, Any]] = []
    if kind != "session.created":
        needs.append(("user", session))
    if kind in _TOOL_USERS:
        needs.append(("tool", (session, row[TOOL_CALL_ID])))
    elif kind == "stream.ended":
        needs.append(("stream", (session, row[STREAM_ID])))
    elif kind == "message.updated":
        needs.append(("msg", (session, row[MESSAGE_ID])))
    return needs


def _defines(row: EventRow) -> list[tuple[str, Any]]:
    kind, session = row[EVENT_TYPE], row[SESSION_ID]
    if kind == "session.created":
        return [("user", session)]
    if kind == "tool_call.pending":
        return [("tool", (session, row[TOOL_CALL_ID]))]
    if kind == "stream.started":
        return [("stream", (session, row[STREAM_ID]))]
    if kind in ("message.created", "message.updated"):
        return [("msg", (session, row[MESSAGE_ID]))]
    return []
