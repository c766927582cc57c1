"""catch_up: a version folded from its committed offsets up to given offsets, exactly."""

from __future__ import annotations

import asyncio

from sessionflow.core.settings import KafkaSettings
from sessionflow.processors.replay.rebuild import catch_up
from sessionflow.processors.settings import ProcessorSettings
from tests.processors.conftest import SimulationFactory, topic_records
from tests.replay.kit import changelog_partitions, committed, ends_of, pure_fold, version_states


def test_catch_up_folds_exactly_up_to_the_offsets_given_and_continues_from_them(
    topics: KafkaSettings, simulated: SimulationFactory, app_id: str
) -> None:
    simulated(30, 11, 2)
    records = topic_records(topics)
    ends = ends_of(records)
    half = {p: end // 2 for p, end in ends.items()}
    settings = ProcessorSettings(app_id=app_id, batch_size=37)

    first = asyncio.run(catch_up(topics, settings, "v2", half))
    prefix = [r for r in records if r.offset < half[r.partition]]
    assert first == len(prefix)
    assert version_states(topics, app_id, "v2") == pure_fold(prefix)
    assert committed(topics, f"{app_id}-v2") == {p: o for p, o in half.items() if o}

    second = asyncio.run(catch_up(topics, settings, "v2", ends))
    assert second == len(records) - len(prefix)
    assert version_states(topics, app_id, "v2") == pure_fold(records)
    assert committed(topics, f"{app_id}-v2") == ends
    source_partition = {r.key.decode(): {r.partition} for r in records if r.key}
    assert all(
        parts == source_partition[sid]
        for sid, parts in changelog_partitions(topics, app_id, "v2").items()
    )
    assert asyncio.run(catch_up(topics, settings, "v2", ends)) == 0
    assert committed(topics, f"{app_id}-v2") == ends
