"""The ClickHouse destination: audit, state and dead-letter tables, offsets kept with the data.

Exactly once without FINAL: every row carries its Kafka topic, partition and offset; each
insert is a contiguous offset range of one Kafka partition that falls in one ClickHouse
partition, so it lands as one part, all or nothing; the highest stored offset of a partition
therefore means "everything up to it is stored", and the sink resumes right after it. A
retried insert carries the same ``insert_deduplication_token`` (the tables keep a
deduplication window), so an insert that succeeded although the client saw an error is not
stored twice. For the state stream, ``sessions`` is written last: its highest offset is the
resume point, and ``tool_calls``/``session_stats`` rows at or below their own highest stored
offset are not written again.
"""

from __future__ import annotations

import threading
from collections.abc import Sequence
from typing import Any

from sessionflow.core.errors import ConfigurationError
from sessionflow.schemas.codec import EventCodec
from sessionflow.schemas.errors import DecodeError
from sessionflow.schemas.state_codec import StateCodec
from sessionflow.sinks.base import Destination, SinkRecord
from sessionflow.sinks.clickhouse.enrich import Enricher
from sessionflow.sinks.clickhouse.rows import (
    EVENT_COLUMNS,
    OCCURRED_AT,
    OFFSET,
    PARTITION,
    TOPIC,
    Row,
    columns,
    event_columns,
    event_row,
    split_by_month,
)
from sessionflow.sinks.clickhouse.state_rows import (
    DEAD_LETTER_COLUMNS,
    SESSION_COLUMNS,
    STATS_COLUMNS,
    TOOL_CALL_COLUMNS,
    dead_letter_row,
    state_rows,
)

Inserts = list[tuple[str, tuple[str, ...], Sequence[Sequence[Any]], str]]
"""Queued inserts: table, column names, column-oriented data, deduplication token."""


class ClickHouseDestination(Destination):
    """Stores the events topic, the state stream and the dead-letter topic in ``database``.

    ``lock`` serialises every use of ``client`` (chdb's connection is not shared between
    threads); the query endpoint takes the same lock.
    """

    def __init__(
        self,
        client: Any,
        database: str,
        topics: tuple[str, str | None, str | None],
        lock: threading.Lock | None = None,
    ) -> None:
        self._client = client
        self._db = database
        self.events_topic, self.state_topic, self.dlq_topic = topics
        self._lock = lock or threading.Lock()
        self._codec = EventCodec()
        self._state_codec = StateCodec()
        self._enricher = Enricher(_Locked(client, self._lock), database)
        self._pending: Inserts = []
        self._floors: dict[tuple[str, str, int], int] = {}
        self._types: dict[str, dict[str, str]] = {}

    def topics(self) -> tuple[str, ...]:
        return tuple(t for t in (self.events_topic, self.state_topic, self.dlq_topic) if t)

    def stored_offsets(self, topic: str) -> dict[int, int]:
        if topic == self.events_topic:
            return self._max_offsets("events", topic)
        if topic == self.dlq_topic:
            return self._max_offsets("dead_letters", topic)
        for table in ("tool_calls", "session_stats"):
            for partition, offset in self._max_offsets(table, topic).items():
                self._floors[(table, topic, partition)] = offset
        return self._max_offsets("sessions", topic)

    def _max_offsets(self, table: str, topic: str) -> dict[int, int]:
        sql = (
            f"SELECT partition, max(offset) FROM `{self._db}`.{table} "
            "WHERE topic = {t:String} GROUP BY partition"
        )
        with self._lock:
            rows = self._client.query(sql, parameters={"t": topic}).result_rows
        return {int(p): int(o) for p, o in rows}

    def add(self, records: list[SinkRecord]) -> None:
        if not records:
            return
        topic = records[0].topic
        if topic == self.events_topic:
            codec = self._codec
            audit = [event_row(record, codec) for record in records]
            self._enricher.enrich(audit)
            for run in split_by_month(audit, OCCURRED_AT):
                first, last = run[0], run[-1]
                span = (first[TOPIC], first[PARTITION], first[OFFSET], last[OFFSET])
                self._queue_columns("events", EVENT_COLUMNS, event_columns(run), span)
        elif topic == self.dlq_topic:
            rows = [dead_letter_row(record, self._codec) for record in records]
            for letters in split_by_month(rows, "kafka_timestamp"):
                self._queue("dead_letters", DEAD_LETTER_COLUMNS, letters)
        else:
            self._add_states(records)

    def _add_states(self, records: list[SinkRecord]) -> None:
        sessions: list[Row] = []
        stats: list[Row] = []
        calls: list[Row] = []
        for record in records:
            try:
                built = state_rows(record, self._state_codec)
            except DecodeError as exc:
                raise ConfigurationError(
                    f"{record.topic}[{record.partition}]@{record.offset}: not a state of the "
                    f"contract ({exc}); is the state topic right?"
                ) from exc
            if built is not None:
                sessions.append(built[0])
                stats.append(built[1])
                calls.extend(built[2])
        self._queue("tool_calls", TOOL_CALL_COLUMNS, self._above_floor("tool_calls", calls))
        self._queue("session_stats", STATS_COLUMNS, self._above_floor("session_stats", stats))
        self._queue("sessions", SESSION_COLUMNS, sessions)

    def _above_floor(self, table: str, rows: list[Row]) -> list[Row]:
        if not rows:
            return rows
        floor = self._floors.get((table, rows[0]["topic"], rows[0]["partition"]), -1)
        return [row for row in rows if row["offset"] > floor]

    def _queue(self, table: str, names: tuple[str, ...], rows: list[Row]) -> None:
        if rows:
            first, last = rows[0], rows[-1]
            span = (first["topic"], first["partition"], first["offset"], last["offset"])
            self._queue_columns(table, names, columns(rows, names), span)

    def _queue_columns(
        self,
        table: str,
        names: tuple[str, ...],
        data: Sequence[Sequence[Any]],
        span: tuple[str, int, int, int],
    ) -> None:
        """Queue one insert; ``span``: the topic, partition, first and last offset it holds."""
        topic, partition, first, last = span
        token = f"{table}:{topic}:{partition}:{first}-{last}"
        self._pending.append((table, names, data, token))

    def flush(self) -> int:
        written = 0
        while self._pending:
            table, names, data, token = self._pending[0]
            self._insert(table, names, data, token)
            written += len(data[0])
            self._pending.pop(0)
        return written

    def discard(self) -> None:
        """Forget rows added but not flushed (after a revocation)."""
        self._pending.clear()

    def _insert(
        self, table: str, names: Sequence[str], data: Sequence[Sequence[Any]], token: str
    ) -> None:
        with self._lock:
            self._client.insert(
                f"{self._db}.{table}",
                data,
                column_names=list(names),
                column_type_names=self._wire_types(table, names),
                column_oriented=True,
                settings={"insert_deduplication_token": token, "parallel_view_processing": 1},
            )

    def _wire_types(self, table: str, names: Sequence[str]) -> list[str]:
        """The types ``names`` are sent as: the table's, ``LowCardinality`` unwrapped.

        Looked up once per table (clickhouse-connect would ``DESCRIBE`` before every
        insert). The engine builds the dictionaries of ``LowCardinality`` columns from plain
        strings itself, in native code; the client would build them in Python.
        """
        types = self._types.get(table)
        if types is None:
            sql = (
                "SELECT name, type FROM system.columns "
                "WHERE database = {d:String} AND table = {t:String}"
            )
            rows = self._client.query(sql, parameters={"d": self._db, "t": table}).result_rows
            types = {name: _unwrap_low_cardinality(kind) for name, kind in rows}
            self._types[table] = types
        return [types[name] for name in names]


def _unwrap_low_cardinality(kind: str) -> str:
    """``LowCardinality(T)`` -> ``T``; any other type as it is."""
    prefix = "LowCardinality("
    return kind[len(prefix) : -1] if kind.startswith(prefix) and kind.endswith(")") else kind


class _Locked:
    """A client whose queries take ``lock`` (used by the enricher)."""

    def __init__(self, client: Any, lock: threading.Lock) -> None:
        self._client, self._lock = client, lock

    def query(self, sql: str, parameters: dict[str, Any]) -> Any:
        with self._lock:
            return self._client.query(sql, parameters=parameters)
