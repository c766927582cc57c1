"""The demo's gate: every figure it prints is a figure it checks.

The read-back is decoded from the simulation's real wire bytes; the expected values come from
the simulator's ground truth. A read-back that differs in any one figure fails the gate
(before, only two of the four printed figures were checked).
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from sessionflow.cli.demo_cmd import Tally, figures, mismatches, tally
from sessionflow.cli.simulate_cmd import encoded_records
from sessionflow.producers.simulator import DEFAULT_START, AnomalyKind, SimulationPlan, simulate
from sessionflow.schemas import EventCodec

CODEC = EventCodec()
SIM = simulate(SimulationPlan(8, 3, 11, DEFAULT_START, dict.fromkeys(AnomalyKind, 2)), CODEC.encode)
FAITHFUL = tally((record.value for record in encoded_records(SIM, CODEC)), CODEC)


def test_a_faithful_read_back_passes_every_figure() -> None:
    rows = figures(SIM, FAITHFUL)

    assert [row.name for row in rows] == [
        "records on the topic",
        "undecodable records",
        "events delivered twice",
        "decoded events",
    ]
    assert [row.expected for row in rows] == [
        len(SIM.records),
        2,
        2,
        len(SIM.records) - 2,
    ]
    assert mismatches(rows) is None


def _one_more_of(event_type: str) -> Tally:
    by_type = Counter(FAITHFUL.by_type)
    by_type[event_type] += 1
    return dataclasses.replace(FAITHFUL, by_type=by_type)


@pytest.mark.parametrize(
    ("read_back", "wrong_figure"),
    [
        (dataclasses.replace(FAITHFUL, records=FAITHFUL.records + 1), "records on the topic"),
        (dataclasses.replace(FAITHFUL, undecodable=FAITHFUL.undecodable - 1),
         "undecodable records"),
        (dataclasses.replace(FAITHFUL, repeated_ids=FAITHFUL.repeated_ids - 1),
         "events delivered twice"),
        (_one_more_of("message.created"), "decoded events"),
    ],
)  # fmt: skip
def test_any_one_differing_figure_fails_the_gate(read_back: Tally, wrong_figure: str) -> None:
    verdict = mismatches(figures(SIM, read_back))

    assert verdict is not None
    assert verdict.startswith(f"{wrong_figure}: expected ")
    assert ";" not in verdict  # only that figure differs
