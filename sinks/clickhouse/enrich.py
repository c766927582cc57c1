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

from sessionflow.sinks.clickhouse.rows import Row

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

    def enrich(self, rows: list[Row]) -> None:
        """Enrich ``rows`` (one partition, offset order) in place."""
        self._prefetch(rows)
        for row in rows:
            if row["decode_error"] is None:
                self._apply(row)

    def _apply(self, row: Row) -> None:
        kind, session = row["event_type"], row["session_id"]
        if kind == "session.created":
            if self._users.get(session) is None:
                self._users.put(session, (row["user_id"],))
        else:
            user = self._users.get(session)
            row["user_id"] = user[0] if user else None
        if kind == "tool_call.pending":
            key = (session, row["tool_call_id"])
            if self._tools.get(key) is None:
                self._tools.put(key, (row["tool_name"], row["occurred_at"]))
        elif kind in _TOOL_USERS:
            tool = self._tools.get((session, row["tool_call_id"]))
            if tool is not None:
                row["tool_name"] = tool[0]
                if kind in _DECISIONS:
                    row["wait_ms"] = max(0, row["occurred_at"] - tool[1])
        elif kind == "stream.started":
            key = (session, row["stream_id"])
            if self._streams.get(key) is None:
                self._streams.put(key, (row["model"],))
        elif kind == "stream.ended":
            stream = self._streams.get((session, row["stream_id"]))
            row["model"] = stream[0] if stream else None
        elif kind in ("message.created", "message.updated"):
            self._message(row, session)

    def _message(self, row: Row, session: str) -> None:
        key = (session, row["message_id"])
        previous = self._messages.get(key)
        if row["event_type"] == "message.updated":
            row["model"] = previous[0] if previous else None
            if previous is not None and row["total_tokens"] is not None:
                row["prev_prompt_tokens"], row["prev_completion_tokens"] = previous[1:3]
                row["prev_total_tokens"] = previous[3]
        if row["total_tokens"] is not None or previous is None:
            self._messages.put(
                key,
                (row["model"], row["prompt_tokens"], row["completion_tokens"], row["total_tokens"]),
            )

    # ------------------------------------------------------------------ lookups

    def _prefetch(self, rows: list[Row]) -> None:
        """Load the definitions ``rows`` need that are neither cached nor in ``rows``."""
        defined: set[tuple[str, Key | str]] = set()
        wanted: dict[str, set[Any]] = {"user": set(), "tool": set(), "stream": set(), "msg": set()}
        for row in rows:
            if row["decode_error"] is not None:
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


def _needs(row: Row) -> list[tuple[str, Any]]:
    kind, session = row["event_type"], row["session_id"]
    needs: list[tuple[str, Any]] = []
    if kind != "session.created":
        needs.append(("user", session))
    if kind in _TOOL_USERS:
        needs.append(("tool", (session, row["tool_call_id"])))
    elif kind == "stream.ended":
        needs.append(("stream", (session, row["stream_id"])))
    elif kind == "message.updated":
        needs.append(("msg", (session, row["message_id"])))
    return needs


def _defines(row: Row) -> list[tuple[str, Any]]:
    kind, session = row["event_type"], row["session_id"]
    if kind == "session.created":
        return [("user", session)]
    if kind == "tool_call.pending":
        return [("tool", (session, row["tool_call_id"]))]
    if kind == "stream.started":
        return [("stream", (session, row["stream_id"]))]
    if kind in ("message.created", "message.updated"):
        return [("msg", (session, row["message_id"]))]
    return []
