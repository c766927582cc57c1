"""The sink's month arithmetic (one insert per ClickHouse partition) against ``datetime``."""

from __future__ import annotations

from datetime import UTC, datetime

from hypothesis import given
from hypothesis import strategies as st

from sessionflow.sinks.clickhouse.rows import month_bounds, month_of, split_by_month

# 1653 .. 2096: what DateTime64(3) and epoch milliseconds both hold comfortably
MILLIS = st.integers(min_value=-(10**13), max_value=4 * 10**12)


def _month_start(year: int, month: int) -> int:
    return int(datetime(year, month, 1, tzinfo=UTC).timestamp() * 1000)


@given(MILLIS)
def test_month_and_its_bounds_agree_with_datetime(millis: int) -> None:
    moment = datetime.fromtimestamp(millis / 1000, UTC)
    assert month_of(millis) == moment.year * 100 + moment.month
    following = (moment.year + 1, 1) if moment.month == 12 else (moment.year, moment.month + 1)
    assert month_bounds(millis) == (
        _month_start(moment.year, moment.month), _month_start(*following)
    )  # fmt: skip


@given(st.lists(MILLIS, max_size=200))
def test_runs_are_the_maximal_stretches_of_one_month(times: list[int]) -> None:
    rows = [{"t": t} for t in times]
    runs = split_by_month(rows, "t")
    assert [row for run in runs for row in run] == rows  # every row once, in order
    labels: list[str] = []
    expected: list[list[int]] = []
    for t in times:  # grouping by the datetime month of each row, consecutive ones together
        label = datetime.fromtimestamp(t / 1000, UTC).strftime("%Y%m")
        if labels and labels[-1] == label:
            expected[-1].append(t)
        else:
            labels.append(label)
            expected.append([t])
    assert [[row["t"] for row in run] for run in runs] == expected
