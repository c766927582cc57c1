"""Audit rows are built as lists in column order: each value lands under its column's name.

Expected values come from the simulator's event objects (pydantic models), not from the
decoder the row builder uses.
"""

from __future__ import annotations

import json
from typing import Any

from sessionflow.producers.simulator import AnomalyKind, SimulationPlan, simulate
from sessionflow.schemas.codec import EventCodec
from sessionflow.sinks.base import SinkRecord
from sessionflow.sinks.clickhouse.rows import EVENT_COLUMNS, event_columns, event_row

CODEC = EventCodec()


def _rows() -> list[tuple[Any, SinkRecord, dict[str, Any]]]:
    plan = SimulationPlan(sessions=12, seed=7, anomalies=dict.fromkeys(AnomalyKind, 2))
    sim = simulate(plan, CODEC.encode)
    built = []
    for offset, outgoing in enumerate(sim.records):
        wire = outgoing.encoded(CODEC.encode)
        record = SinkRecord("t", 3, offset, wire.key.encode(), wire.value, wire.timestamp_ms)
        row = event_row(record, CODEC)
        assert len(row) == len(EVENT_COLUMNS)
        built.append((outgoing, record, dict(zip(EVENT_COLUMNS, row, strict=True))))
    return built


def test_every_value_is_under_its_own_column() -> None:
    checked = undecodable = 0
    for outgoing, record, row in _rows():
        assert (row["key"], row["avro"]) == (record.key, record.value)
        assert (row["topic"], row["partition"], row["offset"]) == ("t", 3, record.offset)
        assert row["kafka_timestamp"] == record.timestamp_ms
        event = outgoing.event if outgoing.raw is None else None
        if event is None:
            undecodable += 1
            assert row["decode_error"]
            assert row["event_id"] == ""
            assert row["payload"] == ""
            assert row["session_id"] == outgoing.key
            assert row["occurred_at"] == record.timestamp_ms
            continue
        checked += 1
        payload = event.payload.model_dump(mode="json")
        assert row["decode_error"] is None
        assert row["event_id"] == event.event_id
        assert row["session_id"] == event.session_id
        assert row["event_type"] == event.event_type.value
        assert row["sequence"] == event.sequence
        assert row["occurred_at"] == int(event.occurred_at.timestamp() * 1000)
        assert row["source"] == event.source
        assert row["producer_id"] == event.producer_id
        assert row["causation_id"] == event.causation_id
        assert row["correlation_id"] == event.correlation_id
        for name in ("user_id", "role", "message_id", "tool_call_id", "tool_name", "stream_id"):
            assert row[name] == payload.get(name), name
        for name in ("model", "error_code", "outcome", "duration_ms", "first_chunk_latency_ms"):
            assert row[name] == payload.get(name), name
        usage = payload.get("usage") or {}
        for name in ("prompt_tokens", "completion_tokens", "total_tokens"):
            assert row[name] == usage.get(name), name
        assert all(row[name] is None for name in EVENT_COLUMNS if name.startswith("prev_"))
        assert row["wait_ms"] is None
        assert json.loads(row["payload"]).keys() == payload.keys()
    assert checked > 100
    assert undecodable > 0


def test_columns_are_the_rows_transposed() -> None:
    rows = [event_row(record, CODEC) for _, record, _ in _rows()]
    data = event_columns(rows)
    assert len(data) == len(EVENT_COLUMNS)
    for index, column in enumerate(data):
        assert list(column) == [row[index] for row in rows]
