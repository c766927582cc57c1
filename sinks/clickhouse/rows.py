"""Pure row building: Kafka records of the three topics -> rows of the ClickHouse tables.

No I/O here. Times are epoch milliseconds (ClickHouse ``DateTime64(3)`` takes them as they
are); ``bytes`` go to ``String`` columns unchanged. A record that does not decode still gets
its audit row (``decode_error`` set, envelope columns empty), so the audit holds every record.
"""

from __future__ import annotations

from typing import Any, Final, TypeVar

import orjson

from sessionflow.schemas.codec import EventCodec
from sessionflow.schemas.errors import DecodeError
from sessionflow.sinks.base import SinkRecord

EVENT_COLUMNS: Final = (
    "event_id", "event_type", "session_id", "sequence", "occurred_at", "source", "producer_id",
    "causation_id", "correlation_id", "schema_version", "user_id", "role", "message_id",
    "tool_call_id", "tool_name", "approval_mode", "stream_id", "model", "error_code", "outcome",
    "prompt_tokens", "completion_tokens", "total_tokens", "prev_prompt_tokens",
    "prev_completion_tokens", "prev_total_tokens", "duration_ms",
    "first_chunk_latency_ms", "wait_ms", "payload", "decode_error", "key", "avro", "topic",
    "partition", "offset", "kafka_timestamp",
)  # fmt: skip

Row = dict[str, Any]
"""A row of the state and dead-letter tables, by column name."""
EventRow = list[Any]
"""An audit row: its values in :data:`EVENT_COLUMNS` order (a list: built and transposed
several times faster than a dict, which counts at the sink's rates)."""
AnyRow = TypeVar("AnyRow", Row, EventRow)

_AT: Final = {name: index for index, name in enumerate(EVENT_COLUMNS)}
EVENT_TYPE: Final = _AT["event_type"]
SESSION_ID: Final = _AT["session_id"]
OCCURRED_AT: Final = _AT["occurred_at"]
USER_ID: Final = _AT["user_id"]
MESSAGE_ID: Final = _AT["message_id"]
TOOL_CALL_ID: Final = _AT["tool_call_id"]
TOOL_NAME: Final = _AT["tool_name"]
STREAM_ID: Final = _AT["stream_id"]
MODEL: Final = _AT["model"]
PROMPT_TOKENS: Final = _AT["prompt_tokens"]
COMPLETION_TOKENS: Final = _AT["completion_tokens"]
TOTAL_TOKENS: Final = _AT["total_tokens"]
PREV_PROMPT_TOKENS: Final = _AT["prev_prompt_tokens"]
PREV_COMPLETION_TOKENS: Final = _AT["prev_completion_tokens"]
PREV_TOTAL_TOKENS: Final = _AT["prev_total_tokens"]
WAIT_MS: Final = _AT["wait_ms"]
DECODE_ERROR: Final = _AT["decode_error"]
TOPIC: Final = _AT["topic"]
PARTITION: Final = _AT["partition"]
OFFSET: Final = _AT["offset"]


def event_row(record: SinkRecord, codec: EventCodec) -> EventRow:
    """The audit row of one record of the events topic (decoded, or with ``decode_error``)."""
    value = record.value or b""
    try:
        event = codec.decode(value)
        version = codec.writer_version(value)
    except DecodeError as exc:
        return _undecodable(record, value, f"{type(exc).__name__}: {exc}")
    payload = event["payload"]
    get = payload.get
    approval_mode, usage, config = get("approval_mode"), get("usage"), get("config")
    if approval_mode is None and isinstance(config, dict):
        approval_mode = config.get("approval_mode")
    return [  # in EVENT_COLUMNS order
        event["event_id"], event["event_type"], event["session_id"], event["sequence"],
        event["occurred_at"], event["source"], event.get("producer_id"),
        event.get("causation_id"), event.get("correlation_id"), version,
        get("user_id"), get("role"), get("message_id"), get("tool_call_id"), get("tool_name"),
        approval_mode, get("stream_id"), get("model"), get("error_code"), get("outcome"),
        usage["prompt_tokens"] if usage else None,
        usage["completion_tokens"] if usage else None,
        usage["total_tokens"] if usage else None,
        None, None, None,  # prev_*_tokens: the enrichment's
        get("duration_ms"), get("first_chunk_latency_ms"),
        None,  # wait_ms: the enrichment's
        orjson.dumps(payload, default=_json_default).decode(), None,
        record.key or b"", value, record.topic, record.partition, record.offset,
        record.timestamp_ms,
    ]  # fmt: skip


def _undecodable(record: SinkRecord, value: bytes, error: str) -> EventRow:
    """The audit row of a record that does not decode: its Kafka columns and the error."""
    row: EventRow = [None] * len(EVENT_COLUMNS)
    row[: _AT["schema_version"] + 1] = [
        "", "", (record.key or b"").decode("utf-8", "replace"), 0, record.timestamp_ms, "",
        None, None, None, 0,
    ]  # fmt: skip
    row[_AT["payload"] :] = [
        "", error, record.key or b"", value, record.topic, record.partition, record.offset,
        record.timestamp_ms,
    ]  # fmt: skip
    return row


def event_columns(rows: list[EventRow]) -> list[tuple[Any, ...]]:
    """Column-oriented data of audit ``rows`` for an insert of :data:`EVENT_COLUMNS`."""
    return list(zip(*rows, strict=True))


def _json_default(value: Any) -> Any:
    """Bytes as hex; anything else JSON does not know as its text (compact JSON, UTF-8)."""
    return value.hex() if isinstance(value, bytes) else str(value)


def columns(rows: list[Row], names: tuple[str, ...]) -> list[list[Any]]:
    """Column-oriented data of ``rows`` for an insert of ``names``."""
    return [[row[name] for row in rows] for name in names]


def month_of(millis: int) -> int:
    """The ClickHouse partition (``toYYYYMM``) of an epoch-millisecond time."""
    days = millis // 86_400_000
    # civil-from-days (Howard Hinnant), valid for the proleptic Gregorian calendar
    z = days + 719_468
    era = z // 146_097
    doe = z - era * 146_097
    yoe = (doe - doe // 1460 + doe // 36_524 - doe // 146_096) // 365
    doy = doe - (365 * yoe + yoe // 4 - yoe // 100)
    mp = (5 * doy + 2) // 153
    month = mp + 3 if mp < 10 else mp - 9
    year = yoe + era * 400 + (1 if month <= 2 else 0)
    return year * 100 + month


def split_by_month(rows: list[AnyRow], time_column: Any) -> list[list[AnyRow]]:
    """Consecutive runs of ``rows`` that fall in one month (one ClickHouse partition each);
    ``row[time_column]`` is a row's time in epoch ms."""
    runs: list[list[AnyRow]] = []
    low = high = 0  # the current run's month, as [first, next month's first) in epoch ms
    for row in rows:
        millis = row[time_column]
        if not low <= millis < high or not runs:
            low, high = month_bounds(millis)
            runs.append([])
        runs[-1].append(row)
    return runs


def month_bounds(millis: int) -> tuple[int, int]:
    """The epoch-ms range [first instant, first instant of the next month) holding ``millis``."""
    month = month_of(millis)
    year, number = divmod(month, 100)
    following = (year + 1) * 100 + 1 if number == 12 else month + 1
    return _first_millis(month), _first_millis(following)


def _first_millis(month: int) -> int:
    """Epoch ms of 00:00 UTC on the first day of ``month`` (YYYYMM)."""
    year, number = divmod(month, 100)
    # days-from-civil (Howard Hinnant), the inverse of month_of's conversion
    y = year - (1 if number <= 2 else 0)
    era = y // 400
    yoe = y - era * 400
    doy = (153 * (number + (-3 if number > 2 else 9)) + 2) // 5
    doe = yoe * 365 + yoe // 4 - yoe // 100 + doy
    return (era * 146_097 + doe - 719_468) * 86_400_000
