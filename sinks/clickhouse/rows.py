"""Pure row building: Kafka records of the three topics -> rows of the ClickHouse tables.

No I/O here. Times are epoch milliseconds (ClickHouse ``DateTime64(3)`` takes them as they
are); ``bytes`` go to ``String`` columns unchanged. A record that does not decode still gets
its audit row (``decode_error`` set, envelope columns empty), so the audit holds every record.
"""

from __future__ import annotations

from typing import Any, Final

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
_PAYLOAD_COLUMNS: Final = (
    "user_id", "role", "message_id", "tool_call_id", "tool_name", "approval_mode", "stream_id",
    "model", "error_code", "outcome", "duration_ms", "first_chunk_latency_ms",
)  # fmt: skip
_USAGE: Final = ("prompt_tokens", "completion_tokens", "total_tokens")
_ENRICHED: Final = ("wait_ms", "prev_prompt_tokens", "prev_completion_tokens", "prev_total_tokens")

Row = dict[str, Any]


def event_row(record: SinkRecord, codec: EventCodec) -> Row:
    """The audit row of one record of the events topic (decoded, or with ``decode_error``)."""
    value = record.value or b""
    try:
        event = codec.decode(value)
        version = codec.writer_version(value)
    except DecodeError as exc:
        return _undecodable(_record_columns(record, value), record, f"{type(exc).__name__}: {exc}")
    payload = event["payload"]
    get = payload.get
    approval_mode, usage, config = get("approval_mode"), get("usage"), get("config")
    if approval_mode is None and isinstance(config, dict):
        approval_mode = config.get("approval_mode")
    return {
        "key": record.key or b"", "avro": value, "topic": record.topic,
        "partition": record.partition, "offset": record.offset,
        "kafka_timestamp": record.timestamp_ms,
        "wait_ms": None, "prev_prompt_tokens": None, "prev_completion_tokens": None,
        "prev_total_tokens": None,
        "event_id": event["event_id"], "event_type": event["event_type"],
        "session_id": event["session_id"], "sequence": event["sequence"],
        "occurred_at": event["occurred_at"], "source": event["source"],
        "producer_id": event.get("producer_id"), "causation_id": event.get("causation_id"),
        "correlation_id": event.get("correlation_id"), "schema_version": version,
        "user_id": get("user_id"), "role": get("role"), "message_id": get("message_id"),
        "tool_call_id": get("tool_call_id"), "tool_name": get("tool_name"),
        "approval_mode": approval_mode, "stream_id": get("stream_id"), "model": get("model"),
        "error_code": get("error_code"), "outcome": get("outcome"),
        "duration_ms": get("duration_ms"), "first_chunk_latency_ms": get("first_chunk_latency_ms"),
        "prompt_tokens": usage["prompt_tokens"] if usage else None,
        "completion_tokens": usage["completion_tokens"] if usage else None,
        "total_tokens": usage["total_tokens"] if usage else None,
        "payload": orjson.dumps(payload, default=_json_default).decode(),
        "decode_error": None,
    }  # fmt: skip


def _record_columns(record: SinkRecord, value: bytes) -> Row:
    """The columns every audit row takes from the Kafka record itself."""
    return {
        "key": record.key or b"", "avro": value, "topic": record.topic,
        "partition": record.partition, "offset": record.offset,
        "kafka_timestamp": record.timestamp_ms, **dict.fromkeys(_ENRICHED),
    }  # fmt: skip


def _undecodable(row: Row, record: SinkRecord, error: str) -> Row:
    key = (record.key or b"").decode("utf-8", "replace")
    row.update(
        event_id="", event_type="", session_id=key, sequence=0,
        occurred_at=record.timestamp_ms, source="", producer_id=None, causation_id=None,
        correlation_id=None, schema_version=0, payload="", decode_error=error,
    )  # fmt: skip
    for name in (*_PAYLOAD_COLUMNS, *_USAGE):
        row[name] = None
    return row


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


def split_by_month(rows: list[Row], time_column: str) -> list[list[Row]]:
    """Consecutive runs of ``rows`` that fall in one month (one ClickHouse partition each)."""
    runs: list[list[Row]] = []
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
