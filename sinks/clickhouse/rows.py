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
    row: Row = {
        "key": record.key or b"",
        "avro": value,
        "topic": record.topic,
        "partition": record.partition,
        "offset": record.offset,
        "kafka_timestamp": record.timestamp_ms,
        **dict.fromkeys(_ENRICHED),
    }
    try:
        event = codec.decode(value)
        version = codec.writer_version(value)
    except DecodeError as exc:
        return _undecodable(row, record, f"{type(exc).__name__}: {exc}")
    payload = event["payload"]
    for name in ("event_id", "event_type", "session_id", "sequence", "occurred_at", "source"):
        row[name] = event[name]
    for name in ("producer_id", "causation_id", "correlation_id"):
        row[name] = event.get(name)
    row["schema_version"] = version
    for name in _PAYLOAD_COLUMNS:
        row[name] = payload.get(name)
    config = payload.get("config")
    if isinstance(config, dict) and row["approval_mode"] is None:
        row["approval_mode"] = config.get("approval_mode")
    usage = payload.get("usage")
    for name in _USAGE:
        row[name] = usage[name] if usage else None
    row["payload"] = orjson.dumps(payload, default=_json_default).decode()
    row["decode_error"] = None
    return row


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
    current = -1
    for row in rows:
        month = month_of(row[time_column])
        if month != current:
            runs.append([])
            current = month
        runs[-1].append(row)
    return runs
