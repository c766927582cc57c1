"""The analyst commands' SQL over the sink's tables (run in the tables' database).

Each function returns ``(sql, parameters)`` for clickhouse-connect's server-side binding
(``{name:Type}``), so the same SQL runs on embedded chdb, through the sink's query endpoint
and on a ClickHouse server. None needs ``FINAL``: current values come from the ``*_current``
views.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

Query = tuple[str, dict[str, Any]]


def sessions(
    user: str | None = None,
    status: str | None = None,
    tag: str | None = None,
    since: datetime | None = None,
    limit: int = 50,
) -> Query:
    """Sessions, newest first, filtered by user, status, tag and creation time."""
    where: list[str] = []
    params: dict[str, Any] = {"limit": limit}
    if user is not None:
        where.append("s.user_id = {user:String}")
        params["user"] = user
    if status is not None:
        where.append("s.status = {status:String}")
        params["status"] = status.upper()
    if tag is not None:
        where.append("has(s.tags, {tag:String})")
        params["tag"] = tag
    if since is not None:
        where.append("s.created_at >= {since:DateTime64(3, 'UTC')}")
        params["since"] = since
    sql = (
        "SELECT s.session_id AS session_id, s.status AS status, s.user_id AS user_id, "
        "s.name AS name, s.created_at AS created_at, s.updated_at AS updated_at, "
        "st.events AS events, st.total_tokens AS tokens, "
        "arraySum(mapValues(st.tool_calls_by_status)) AS tool_calls "
        "FROM sessions_current AS s LEFT JOIN session_stats_current AS st USING session_id"
        + (" WHERE " + " AND ".join(where) if where else "")
        + " ORDER BY s.created_at DESC, s.session_id LIMIT {limit:UInt32}"
    )
    return sql, params


def session(session_id: str) -> Query:
    """One session's state and statistics, with its cost from the price table."""
    sql = (
        "SELECT s.session_id AS session_id, s.status AS status, s.outcome AS outcome, "
        "s.user_id AS user_id, s.agent_id AS agent_id, s.name AS name, s.tags AS tags, "
        "s.approval_mode AS approval_mode, s.created_at AS created_at, "
        "s.updated_at AS updated_at, s.ended_at AS ended_at, st.events AS events, "
        "st.messages_by_role AS messages_by_role, st.tool_calls_by_status AS tool_calls, "
        "st.tools_used AS tools_used, st.tool_duration_ms_total AS tool_ms_total, "
        "st.tool_duration_ms_max AS tool_ms_max, st.prompt_tokens AS prompt_tokens, "
        "st.completion_tokens AS completion_tokens, st.total_tokens AS total_tokens, "
        "st.tokens_by_model AS tokens_by_model, st.errors_by_code AS errors_by_code, "
        "st.active_ms AS active_ms, "
        "(SELECT round(sum(t.prompt * p.i / 1e6 + t.completion * p.o / 1e6), 6) FROM "
        " (SELECT model, sum(prompt_tokens - ifNull(prev_prompt_tokens, 0)) AS prompt, "
        "  sum(completion_tokens - ifNull(prev_completion_tokens, 0)) AS completion "
        "  FROM events WHERE session_id = {id:String} AND total_tokens IS NOT NULL "
        "  AND event_type IN ('message.created', 'message.updated') GROUP BY model) AS t "
        " INNER JOIN (SELECT model, argMax(input_per_million, loaded_at) AS i, "
        "  argMax(output_per_million, loaded_at) AS o FROM model_prices GROUP BY model) AS p "
        " ON p.model = t.model) AS cost "
        "FROM sessions_current AS s LEFT JOIN session_stats_current AS st USING session_id "
        "WHERE s.session_id = {id:String}"
    )
    return sql, {"id": session_id}


def audit(session_id: str) -> Query:
    """A session's audit trail: every stored event in order, with the time since the last."""
    sql = (
        "SELECT occurred_at, "
        "dateDiff('millisecond', lagInFrame(occurred_at, 1, occurred_at) OVER w, occurred_at)"
        " AS after_ms, event_type, source, sequence, "
        "multiIf(tool_name IS NOT NULL, tool_name, role IS NOT NULL, role, "
        "error_code IS NOT NULL, error_code, outcome IS NOT NULL, outcome, '') AS detail, "
        "duration_ms, event_id, partition, offset "
        "FROM events WHERE session_id = {id:String} AND decode_error IS NULL "
        "WINDOW w AS (ORDER BY occurred_at, partition, offset "
        "ROWS BETWEEN UNBOUNDED PRECEDING AND CURRENT ROW) "
        "ORDER BY occurred_at, partition, offset"
    )
    return sql, {"id": session_id}


def history(session_id: str) -> Query:
    """A session's conversation: each message (first delivery) with its tool calls."""
    sql = (
        "SELECT m.occurred_at AS at, m.role AS role, m.message_id AS message_id, "
        "JSONExtractString(m.payload, 'content') AS content, m.model AS model, "
        "groupArray(if(c.tool_call_id = '', '', concat(c.tool_name, ' ', c.status))) "
        "AS tool_calls "
        "FROM (SELECT * FROM events_unique WHERE session_id = {id:String} "
        "      AND event_type = 'message.created') AS m "
        "LEFT JOIN (SELECT * FROM tool_calls_current WHERE session_id = {id:String}) AS c "
        "ON c.message_id = m.message_id "
        "GROUP BY at, role, message_id, content, model ORDER BY at, message_id"
    )
    return sql, {"id": session_id}
