"""The pure fold against the simulator's ground truth: states, dead letters, redelivery."""

from __future__ import annotations

import random
import zlib
from collections import Counter
from datetime import UTC, datetime

import pytest

from sessionflow.processors.domain import FoldResult, Reason, Record, SessionState, fold
from sessionflow.processors.domain.records import from_record, to_record
from sessionflow.producers.simulator import AnomalyKind, Simulation, SimulationPlan, simulate
from sessionflow.schemas import EventCodec
from sessionflow.schemas.state_codec import StateCodec
from tests.processors.expected import (
    expected_dead_letters,
    expected_sessions,
    summary_of_expected,
    summary_of_state,
)

CODEC = EventCodec()
START = datetime(2026, 3, 1, 8, 0, tzinfo=UTC)


def records_of(sim: Simulation, partitions: int = 1) -> list[Record]:
    """The simulation's records as a topic with ``partitions`` would hold them (by key)."""
    offsets = [0] * partitions
    out = []
    for outgoing in sim.records:
        encoded = outgoing.encoded(CODEC.encode)
        partition = zlib.crc32(outgoing.key.encode()) % partitions
        out.append(
            Record("events", partition, offsets[partition], outgoing.key.encode(),
                   encoded.value, encoded.timestamp_ms)
        )  # fmt: skip
        offsets[partition] += 1
    return out


def fold_in_batches(
    records: list[Record], sizes: list[int]
) -> tuple[dict[str, SessionState], FoldResult]:
    """Fold ``records`` in consecutive batches of ``sizes`` (cycled); (states, merged result)."""
    states: dict[str, SessionState] = {}
    merged = FoldResult()
    index, turn = 0, 0
    while index < len(records):
        size = sizes[turn % len(sizes)]
        result = fold(states, records[index : index + size], CODEC)
        states.update(result.states)
        merged.dead_letters += result.dead_letters
        merged.applied += result.applied
        merged.skipped += result.skipped
        index, turn = index + size, turn + 1
    return states, merged


@pytest.fixture(scope="module")
def sim() -> Simulation:
    plan = SimulationPlan(
        sessions=120, seed=11, start=START, anomalies=dict.fromkeys(AnomalyKind, 4)
    )
    return simulate(plan, CODEC.encode)


def test_states_equal_the_ground_truth_summary(sim: Simulation) -> None:
    states, result = fold_in_batches(records_of(sim), [len(sim.records)])
    expected = expected_sessions(sim)

    assert set(states) == set(expected)
    mismatched = [
        sid for sid in expected
        if summary_of_state(states[sid]) != summary_of_expected(expected[sid])
    ]  # fmt: skip
    assert mismatched == []
    assert len(result.applied) == sim.valid_event_count()


def test_dead_letters_equal_the_injected_anomalies(sim: Simulation) -> None:
    _, result = fold_in_batches(records_of(sim), [len(sim.records)])
    found = Counter(
        (d.reason.value, d.event_id if d.reason is not Reason.UNDECODABLE else None)
        for d in result.dead_letters
    )

    assert found == expected_dead_letters(sim)
    assert len(result.dead_letters) == sim.dead_letter_count()
    assert all(d.detail and d.record.value for d in result.dead_letters)


@pytest.mark.parametrize("seed", [1, 2, 3])
def test_batch_boundaries_and_partitions_change_nothing(sim: Simulation, seed: int) -> None:
    records = records_of(sim, partitions=6)
    whole, whole_result = fold_in_batches(records, [len(records)])
    rng = random.Random(seed)
    sizes = [rng.randint(1, 400) for _ in range(20)]

    states, result = fold_in_batches(records, sizes)

    assert states == whole
    assert Counter(d.origin for d in result.dead_letters) == Counter(
        d.origin for d in whole_result.dead_letters
    )


def test_a_redelivered_batch_is_skipped_and_changes_nothing(sim: Simulation) -> None:
    records = records_of(sim)
    cut = len(records) // 2
    states, _ = fold_in_batches(records[:cut], [500])
    rng = random.Random(5)
    redelivered = records[rng.randint(0, cut - 1) : cut]  # a crash lost the commit of these

    again = fold(states, redelivered, CODEC)
    known = [r for r in redelivered if CODEC_SESSION(r) in states]

    assert again.states == {}
    assert again.applied == []
    assert again.skipped == len(known)
    # only records of sessions that never got a state (unknown session, undecodable) are
    # decided again; the dead-letter writer drops those by their origin mark
    assert {d.reason for d in again.dead_letters} <= {Reason.UNKNOWN_SESSION, Reason.UNDECODABLE}


def CODEC_SESSION(record: Record) -> str:
    try:
        return str(CODEC.decode(record.value)["session_id"])
    except Exception:
        return ""


def test_state_records_round_trip_through_the_state_schema(sim: Simulation) -> None:
    states, _ = fold_in_batches(records_of(sim), [len(sim.records)])
    state_codec = StateCodec()

    decoded = {sid: from_record(state_codec.decode(state_codec.encode(to_record(s))))
               for sid, s in states.items()}  # fmt: skip

    assert decoded == states


def test_the_fold_never_changes_the_states_it_is_given(sim: Simulation) -> None:
    records = records_of(sim)
    states, _ = fold_in_batches(records[: len(records) // 2], [len(records)])
    snapshot = {sid: to_record(s) for sid, s in states.items()}

    fold(states, records[len(records) // 2 :], CODEC)

    assert {sid: to_record(s) for sid, s in states.items()} == snapshot


def test_the_generated_state_encoder_writes_fastavros_bytes(sim: Simulation) -> None:
    states, _ = fold_in_batches(records_of(sim), [len(sim.records)])
    state_codec = StateCodec()

    fast = {sid: state_codec.encode_object(s) for sid, s in states.items()}

    assert fast == {sid: state_codec.encode(to_record(s)) for sid, s in states.items()}
    assert any(s.scopes and s.tool_calls and s.message_usage for s in states.values())
