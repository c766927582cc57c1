"""The pure parts of ``sessionflow dlq``, and what the fold does with a re-injected record."""

from __future__ import annotations

from collections import Counter
from datetime import UTC, datetime

import pytest

from sessionflow.processors.dlq import (
    FIXABLE,
    WHY_NOT,
    Position,
    Selection,
    StoredLetter,
    parse_position,
    parse_since,
    plan_replay,
    replay_headers,
)
from sessionflow.processors.domain import fold
from sessionflow.processors.domain.deadletters import DeadLetter, Reason, Record
from sessionflow.processors.plugins.runner import DEPTH_HEADER
from sessionflow.processors.runtime.deadletter_writer import (
    H_OFFSET,
    H_PARTITION,
    H_REASON,
    H_REPLAY_DLQ,
    H_REPLAY_HISTORY,
    H_REPLAY_ORIGIN,
    H_TOPIC,
    dead_letter_headers,
)
from sessionflow.producers.simulator import AnomalyKind, SimulationPlan, simulate
from sessionflow.schemas import EventCodec

CODEC = EventCodec()
NOW = datetime(2026, 6, 1, 12, 0, tzinfo=UTC)


def letter(offset: int, reason: str, ts: int = 0, *extra: tuple[str, bytes]) -> StoredLetter:
    headers = ((H_REASON, reason.encode()), *extra)
    return StoredLetter(Position(0, offset), ts, b"k", b"v", headers)


@pytest.mark.parametrize(
    ("text", "expected"), [("3:17", (3, 17)), ("17", (None, 17)), (" 0:0 ", (0, 0))]
)
def test_a_position_is_partition_offset_or_a_bare_offset(
    text: str, expected: tuple[int | None, int]
) -> None:
    assert parse_position(text) == expected


@pytest.mark.parametrize("text", ["", ":", "a:1", "1:", "-1", "1:-2", "1:2:3", "0x10"])
def test_a_bad_position_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="not PARTITION:OFFSET or OFFSET"):
        parse_position(text)


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        ("90s", datetime(2026, 6, 1, 11, 58, 30, tzinfo=UTC)),
        ("30m", datetime(2026, 6, 1, 11, 30, tzinfo=UTC)),
        ("1h", datetime(2026, 6, 1, 11, 0, tzinfo=UTC)),
        ("2d", datetime(2026, 5, 30, 12, 0, tzinfo=UTC)),
        ("1w", datetime(2026, 5, 25, 12, 0, tzinfo=UTC)),
        ("2026-05-01T08:00:00", datetime(2026, 5, 1, 8, 0, tzinfo=UTC)),
        ("2026-05-01T10:00:00+02:00", datetime(2026, 5, 1, 8, 0, tzinfo=UTC)),
    ],
)
def test_since_is_a_time_or_a_duration_back_from_now(text: str, expected: datetime) -> None:
    assert parse_since(text, NOW) == expected


@pytest.mark.parametrize("text", ["yesterday", "1y", "-1h", "h", "2026-13-01"])
def test_a_bad_since_is_refused(text: str) -> None:
    with pytest.raises(ValueError, match="neither an ISO 8601 time nor a duration"):
        parse_since(text, NOW)


def test_selection_filters_by_reason_and_time_and_keeps_the_newest() -> None:
    letters = [
        letter(0, "undecodable", 3_000),
        letter(1, "unknown_session", 1_000),
        letter(2, "undecodable", 2_000),
        letter(3, "sequence_gap", 4_000),
    ]
    since = datetime.fromtimestamp(2, UTC)

    assert [d.position.offset for d in Selection().apply(letters)] == [1, 2, 0, 3]
    assert [d.position.offset for d in Selection(frozenset({"undecodable"})).apply(letters)] == [
        2,
        0,
    ]
    assert [d.position.offset for d in Selection(since=since).apply(letters)] == [2, 0, 3]
    assert [d.position.offset for d in Selection(limit=2).apply(letters)] == [0, 3]


def test_plan_skips_what_was_re_injected_and_what_came_back_unless_asked() -> None:
    back = letter(5, "undecodable", 0, (H_REPLAY_DLQ, b"0:1"))
    letters = [letter(2, "undecodable"), back, letter(1, "undecodable")]

    plan = plan_replay(letters, {"0:1"})
    retry = plan_replay(letters, {"0:1"}, retry_returned=True)

    assert [d.position.offset for d in plan.todo] == [2]
    assert [d.position.offset for d in plan.done_before] == [1]
    assert [d.position.offset for d in plan.returned] == [5]
    assert [d.position.offset for d in retry.todo] == [2, 5]


def test_replay_headers_name_the_letter_and_extend_its_history() -> None:
    origin = ((H_TOPIC, b"events"), (H_PARTITION, b"4"), (H_OFFSET, b"99"))
    fresh = letter(7, "undecodable", 0, *origin)
    back = letter(
        12, "illegal_transition", 0, *origin,
        (H_REPLAY_DLQ, b"0:7"), (H_REPLAY_HISTORY, b"undecodable@0:7"),
        (H_REPLAY_ORIGIN, b"events/1@3"),
    )  # fmt: skip

    assert dict(replay_headers(fresh)) == {
        H_REPLAY_DLQ: b"0:7",
        H_REPLAY_HISTORY: b"undecodable@0:7",
        H_REPLAY_ORIGIN: b"events/4@99",
    }
    assert dict(replay_headers(back)) == {
        H_REPLAY_DLQ: b"0:12",
        H_REPLAY_HISTORY: b"undecodable@0:7,illegal_transition@0:12",
        H_REPLAY_ORIGIN: b"events/1@3",
    }


def test_the_writer_keeps_a_re_injected_records_replay_headers_and_nothing_else() -> None:
    replay = ((H_REPLAY_DLQ, b"0:7"), (H_REPLAY_HISTORY, b"undecodable@0:7"))
    record = Record("events", 1, 40, b"k", b"v", 5, ((DEPTH_HEADER, b"1"), *replay))
    dead = DeadLetter(record, Reason.UNDECODABLE, "bad marker", error_class="BadMarkerError")

    bare = DeadLetter(
        Record("events", 1, 40, b"k", b"v", 5), Reason.UNDECODABLE, "bad marker",
        error_class="BadMarkerError",
    )  # fmt: skip

    headers = dead_letter_headers(dead, 0, "group-v1")
    plain = dead_letter_headers(bare, 0, "group-v1")

    assert headers == [*plain, *replay]
    assert DEPTH_HEADER not in dict(headers)


def _bytes(key: str | bytes) -> bytes:
    return key if isinstance(key, bytes) else key.encode()


def _records(values: list[tuple[bytes | None, bytes]], first: int = 0) -> list[Record]:
    return [Record("events", 0, first + n, key, value, 0) for n, (key, value) in enumerate(values)]


def test_what_the_fold_does_with_each_reason_re_injected_without_a_fix() -> None:
    """The claims of FIXABLE/WHY_NOT, against the real fold: every dead-lettered record of a
    simulated run, appended again (a re-injection), and every applied one (what a plugin
    failure's letter holds)."""
    anomalies = dict.fromkeys(AnomalyKind, 3)
    sim = simulate(SimulationPlan(sessions=10, seed=5, anomalies=anomalies), CODEC.encode)
    wire = [r.encoded(CODEC.encode) for r in sim.records]
    records = _records([(_bytes(r.key), r.value) for r in wire])
    first = fold({}, records, CODEC)
    again = [(d.record.key, d.record.value) for d in first.dead_letters]
    applied = [(r.key, r.value) for r, _ in first.applied[:20]]

    second = fold(first.states, _records(again + applied, len(records)), CODEC)

    by_origin = {d.record.offset - len(records): d.reason.value for d in second.dead_letters}
    outcome = Counter(
        (d.reason.value, by_origin.get(n, "applied")) for n, d in enumerate(first.dead_letters)
    )
    plugin_like = Counter(by_origin.get(len(again) + n, "applied") for n in range(len(applied)))
    assert outcome == {
        ("undecodable", "undecodable"): 3,
        ("unknown_session", "unknown_session"): 3,  # its session still does not exist
        ("illegal_transition", "duplicate_event_id"): 3,
        ("sequence_gap", "duplicate_event_id"): 3,
        ("sequence_repeat", "sequence_repeat"): 3,
        ("duplicate_event_id", "duplicate_event_id"): 3,
    }
    assert plugin_like == {"duplicate_event_id": 20}
    assert set(WHY_NOT) | FIXABLE == {reason.value for reason in Reason}
    assert not set(WHY_NOT) & FIXABLE
