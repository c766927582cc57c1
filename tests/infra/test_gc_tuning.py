"""The collector thresholds the batch entry points (replay, verify, sink) run with."""

from __future__ import annotations

import gc

import pytest

from sessionflow.core.gc_tuning import THROUGHPUT_THRESHOLDS, throughput_gc


def test_thresholds_hold_inside_and_are_restored_after() -> None:
    before = gc.get_threshold()
    with throughput_gc():
        assert gc.get_threshold() == THROUGHPUT_THRESHOLDS
        assert gc.isenabled()  # cycles are still collected, less often
    assert gc.get_threshold() == before


def _fail_inside(thresholds: tuple[int, int, int]) -> None:
    with throughput_gc(thresholds):
        assert gc.get_threshold() == thresholds
        raise RuntimeError("boom")


def test_thresholds_are_restored_when_the_block_raises() -> None:
    before = gc.get_threshold()
    with pytest.raises(RuntimeError, match="boom"):
        _fail_inside((5_000, 5, 5))
    assert gc.get_threshold() == before
