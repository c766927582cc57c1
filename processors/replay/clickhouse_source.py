"""The audit table as a rebuild source: ``<db>.events`` in partition and offset order.

The sink stores every record of the events topic once, with its key, original Avro bytes
(``avro``), origin (``topic``, ``partition``, ``offset``) and Kafka timestamp, so folding the
table's rows in offset order per partition is folding the topic. Rows are streamed in blocks,
one partition after the other; the rows of a partition are fixed when the source starts
(rows the sink adds meanwhile are not read).
"""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator, Iterator, Mapping
from dataclasses import dataclass
from types import TracebackType
from typing import Any

from sessionflow.core.errors import InfrastructureError
from sessionflow.processors.domain.deadletters import Record

_COLUMNS = "key, avro, partition, offset, toUnixTimestamp64Milli(kafka_timestamp)"
_BYTES = {"key": "bytes", "avro": "bytes"}


@dataclass(frozen=True)
class AuditFilter:
    """Which rows: ``session_id`` only (None: all), up to ``until_ms`` (a partition ends at
    its first row with a later timestamp; None: no limit)."""

    session_id: str | None = None
    until_ms: int | None = None


class ClickHouseSource:
    """Rows of ``database.events`` for ``topic`` from ``start`` (per partition, default 0).

    ``client`` is an open clickhouse-connect client (the caller owns it). By default the
    partitions are read one after the other; ``interleave``: in one query ordered by offset,
    so every partition's rows come early and evenly (each still in offset order), which
    keeps the processes of a shared rebuild busy side by side.
    """

    def __init__(
        self,
        client: Any,
        database: str,
        topic: str,
        start: Mapping[int, int] | None = None,
        *,
        where: AuditFilter | None = None,
        batch_size: int = 10_000,
        interleave: bool = False,
    ) -> None:
        self._client = client
        self._table = f"`{database}`.events"
        self._topic = topic
        self._start = dict(start or {})
        self._where = where or AuditFilter()
        self._batch_size = batch_size
        self._interleave = interleave
        self._ends: dict[int, int] = {}
        self._positions: dict[int, int] = {}
        self._cut: set[int] = set()
        """Partitions that ended at a row after ``until_ms``."""
        self.total: int | None = None

    async def __aenter__(self) -> ClickHouseSource:
        """Fix the rows to read; :class:`InfrastructureError` if the table cannot be read."""
        try:
            self._plan()
        except Exception as exc:  # the driver raises many types; name the table
            raise InfrastructureError(f"cannot read {self._table}: {exc}") from exc
        return self

    def _plan(self) -> None:
        rows = self._query(
            f"SELECT partition, max(offset) + 1 FROM {self._table} "
            f"WHERE {self._condition()} GROUP BY partition",
        )
        self._ends = {int(p): int(end) for p, end in rows}
        self._positions = {p: self._start.get(p, 0) for p in {*self._ends, *self._start}}
        self.total = 0
        for partition in self._ends:
            (count,) = self._query(
                f"SELECT count() FROM {self._table} WHERE {self._condition()} "
                "AND partition = {partition:UInt32} AND offset >= {first:UInt64}",
                partition=partition, first=self._positions[partition],
            )[0]  # fmt: skip
            self.total += int(count)

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None
    ) -> None:
        return None

    def positions(self) -> dict[int, int]:
        """Per partition: the offset after the rows yielded."""
        return dict(self._positions)

    async def batches(self) -> AsyncIterator[list[Record]]:
        """Batches of at most ``batch_size`` records, partition after partition (or mixed,
        with ``interleave``)."""
        if self._interleave:
            async for mixed in self._interleaved():
                yield mixed
            return
        for partition in sorted(self._ends):
            batch: list[Record] = []
            for record in self._rows(partition):
                batch.append(record)
                if len(batch) >= self._batch_size:
                    self._positions[partition] = batch[-1].offset + 1
                    yield batch
                    batch = []
                    await asyncio.sleep(0)  # let the producer's sender run between blocks
            if batch:
                self._positions[partition] = batch[-1].offset + 1
                yield batch
            if partition not in self._cut:
                self._positions[partition] = max(self._positions[partition], self._ends[partition])

    async def _interleaved(self) -> AsyncIterator[list[Record]]:
        batch: list[Record] = []
        for record in self._rows_by_offset():
            batch.append(record)
            self._positions[record.partition] = record.offset + 1
            if len(batch) >= self._batch_size:
                yield batch
                batch = []
                await asyncio.sleep(0)  # let the producer's sender run between blocks
        if batch:
            yield batch
        for partition in self._ends:
            if partition not in self._cut:
                self._positions[partition] = max(self._positions[partition], self._ends[partition])

    def _rows_by_offset(self) -> Iterator[Record]:
        """Every partition's rows still to read, in one stream ordered by (offset, partition)."""
        todo = [p for p in sorted(self._ends) if self._positions[p] < self._ends[p]]
        if not todo:
            return
        ranges, params = [], self._parameters()
        for p in todo:
            ranges.append(
                f"(partition = {{p{p}:UInt32}} AND offset >= {{f{p}:UInt64}} "
                f"AND offset < {{e{p}:UInt64}})"
            )
            params.update({f"p{p}": p, f"f{p}": self._positions[p], f"e{p}": self._ends[p]})
        sql = (
            f"SELECT {_COLUMNS} FROM {self._table} WHERE {self._condition()} "
            f"AND ({' OR '.join(ranges)}) ORDER BY offset, partition"
        )
        last = {p: self._positions[p] - 1 for p in todo}
        limit = self._where.until_ms
        with self._client.query_row_block_stream(
            sql, parameters=params, column_formats=_BYTES
        ) as stream:
            for block in stream:
                for key, avro, part, offset, timestamp in block:
                    partition = int(part)
                    if partition in self._cut or offset <= last[partition]:
                        continue  # after the partition's cut, or stored twice
                    last[partition] = offset
                    if limit is not None and timestamp > limit:
                        self._cut.add(partition)
                        self._positions[partition] = int(offset)
                        continue
                    yield Record(self._topic, partition, int(offset), key, avro, int(timestamp))

    def _rows(self, partition: int) -> Iterator[Record]:
        start = self._positions.get(partition, 0)
        sql = (
            f"SELECT {_COLUMNS} FROM {self._table} WHERE {self._condition()} "
            "AND partition = {partition:UInt32} AND offset >= {first:UInt64} "
            "AND offset < {end:UInt64} ORDER BY offset"
        )
        params = {"partition": partition, "first": start, "end": self._ends[partition]}
        limit, last = self._where.until_ms, start - 1
        with self._client.query_row_block_stream(
            sql, parameters={**self._parameters(), **params}, column_formats=_BYTES
        ) as stream:
            for block in stream:
                for key, avro, part, offset, timestamp in block:
                    if offset <= last:  # stored twice: the first copy was folded
                        continue
                    last = offset
                    if limit is not None and timestamp > limit:
                        self._cut.add(partition)
                        self._positions[partition] = int(offset)
                        return
                    yield Record(self._topic, int(part), int(offset), key, avro, int(timestamp))

    def _condition(self) -> str:
        sql = "topic = {topic:String}"
        if self._where.session_id is not None:
            sql += " AND session_id = {session:String}"
        return sql

    def _parameters(self) -> dict[str, Any]:
        return {"topic": self._topic, "session": self._where.session_id or ""}

    def _query(self, sql: str, **extra: Any) -> list[tuple[Any, ...]]:
        result = self._client.query(sql, parameters={**self._parameters(), **extra})
        return list(result.result_rows)
