"""Where the topic source starts: given offsets, or the first record at or after a time."""

from __future__ import annotations

import asyncio
from collections import Counter

from sessionflow.core.settings import KafkaSettings
from sessionflow.processors.domain import Record
from sessionflow.processors.replay.rebuild import fold_source
from sessionflow.processors.replay.sources import StartAt, TopicSource
from tests.processors.conftest import SimulationFactory, topic_records
from tests.processors.expected import expected_dead_letters
from tests.replay.kit import ends_of, pure_fold


def _read(source: TopicSource) -> tuple[list[Record], dict[int, int]]:
    async def run() -> tuple[list[Record], dict[int, int]]:
        got: list[Record] = []
        async with source:
            async for batch in source.batches():
                got.extend(batch)
        return got, source.positions()

    got, positions = asyncio.run(run())
    for partition in {r.partition for r in got}:
        offsets = [r.offset for r in got if r.partition == partition]
        assert offsets == sorted(set(offsets))  # each once, in offset order
    return got, positions


def test_fold_source_folds_a_whole_source_in_memory(
    topics: KafkaSettings, simulated: SimulationFactory
) -> None:
    sim = simulated(15, 13, 1)
    states, dead = asyncio.run(fold_source(TopicSource(topics, StartAt(), batch_size=29)))
    assert states == pure_fold(topic_records(topics))
    assert dead == Counter(reason for reason, _ in expected_dead_letters(sim).elements())


def _key(r: Record) -> tuple[int, int, bytes | None, bytes]:
    return r.partition, r.offset, r.key, r.value


def test_from_offset_and_from_time_start_where_asked(
    topics: KafkaSettings, simulated: SimulationFactory
) -> None:
    simulated(20, 12, 1)
    records = topic_records(topics)
    ends = ends_of(records)

    starts = {0: ends[0] // 2, 3: ends[3] - 1}
    got, positions = _read(TopicSource(topics, StartAt(starts), batch_size=17))
    expected = [r for r in records if r.offset >= starts.get(r.partition, 0)]
    assert sorted(map(_key, got)) == sorted(map(_key, expected))
    assert {p: o for p, o in positions.items() if o} == ends  # empty partitions: 0

    at = sorted(r.timestamp for r in records)[len(records) // 2]
    got, positions = _read(TopicSource(topics, StartAt(time_ms=at)))
    first = {
        p: min((r.offset for r in records if r.partition == p and r.timestamp >= at), default=e)
        for p, e in ends.items()
    }
    expected = [r for r in records if r.offset >= first[r.partition]]
    assert 0 < len(expected) < len(records)
    assert sorted(map(_key, got)) == sorted(map(_key, expected))
    assert {p: o for p, o in positions.items() if o} == ends  # empty partitions: 0
