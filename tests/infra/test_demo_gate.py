"""The demo's gate: every figure it prints is a figure it checks.

The read-back is decoded from the simulation's real wire bytes; the expected values come from
the simulator's ground truth. A read-back that differs in any one figure fails the gate
(before, only two of the four printed figures were checked).
"""

from __future__ import annotations

import dataclasses
from collections import Counter

import pytest

from sessionflow.cli.demo_cmd import Tally, figures, mismatches, processing_figures, tally
from sessionflow.cli.demo_processing import expected_reasons, expected_states
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


# ----------------------------------------------------------------------------- processing


def _truth() -> tuple[dict[str, tuple[str, int, int]], dict[str, tuple[str, int]]]:
    expected = expected_states(SIM)
    return expected, {sid: (status, events) for sid, (status, events, _) in expected.items()}


def test_a_faithful_processor_passes_and_each_kind_of_difference_fails() -> None:
    expected, served = _truth()
    reasons = expected_reasons(SIM)
    some = next(iter(served))
    wrong_status = {**served, some: ("ENDED" if served[some][0] != "ENDED" else "ACTIVE", 1)}
    missing = {sid: v for sid, v in served.items() if sid != some}
    fewer = Counter(reasons)
    fewer[next(iter(reasons))] -= 1

    assert mismatches(processing_figures(expected, served, None, reasons, reasons)) is None
    assert mismatches(processing_figures(expected, wrong_status, None, reasons, reasons))
    assert mismatches(processing_figures(expected, missing, None, reasons, reasons))
    assert mismatches(processing_figures(expected, served, None, reasons, fewer))
    assert sorted(reasons) == sorted(k.value for k in AnomalyKind)


def test_an_idle_active_session_may_be_suspended_by_the_inactivity_watcher() -> None:
    expected, served = _truth()
    active = next(sid for sid, (status, _, _) in expected.items() if status == "ACTIVE")
    _, events, last_ms = expected[active]
    suspended = {**served, active: ("SUSPENDED", events + 1)}
    none: Counter[str] = Counter()

    assert mismatches(processing_figures(expected, suspended, last_ms + 1, none, none)) is None
    assert mismatches(processing_figures(expected, suspended, last_ms, none, none))
    assert mismatches(processing_figures(expected, suspended, None, none, none))
