"""Event time on the wire: every record's Kafka timestamp is its event's ``occurred_at``.

Retention, time-based replay (``offsets_for_times``) and windows then work in event time.
The broker checks ``CreateTime`` timestamps against its own clock and rejects a whole batch
holding one it will not take. Kafka 4.x defaults: ``message.timestamp.after.max.ms`` = 1 hour
(no more ahead), ``message.timestamp.before.max.ms`` = unlimited (any age). The topics
``sessionflow topics create`` makes set both explicitly
(:func:`sessionflow.producers.topics.topic_configs`): up to :data:`TOPIC_MAX_AHEAD_MS` ahead,
any age behind. The SDK refuses, before anything is sent, what such a topic would reject:
an ``occurred_at`` before 1970 (no Kafka timestamp) or more than :data:`MAX_AHEAD_MS` ahead of
the local clock (the topic allows :data:`CLOCK_SKEW_MS` more, for clock differences).

Old events are accepted, but the broker's retention counts from the record timestamp: events
older than the topic's ``retention.ms`` are deleted at its next retention check.
"""

from __future__ import annotations

import time
from collections.abc import Iterable
from datetime import datetime
from typing import Final

from sessionflow.producers.delivery import EncodedRecord
from sessionflow.producers.errors import EventValidationFailedError
from sessionflow.schemas.validation import millis_to_datetime

MAX_AHEAD_MS: Final = 60 * 60 * 1000
"""Furthest an ``occurred_at`` may be ahead of the sender's clock (Kafka 4.x's default)."""
CLOCK_SKEW_MS: Final = 5 * 60 * 1000
"""Slack the topics allow on top of :data:`MAX_AHEAD_MS` for sender/broker clock skew."""
TOPIC_MAX_AHEAD_MS: Final = MAX_AHEAD_MS + CLOCK_SKEW_MS
"""``message.timestamp.after.max.ms`` of the topics sessionflow creates."""


def now_millis() -> int:
    """The local clock in epoch milliseconds."""
    return time.time_ns() // 1_000_000


def time_problem(timestamp_ms: object, now_ms: int) -> str | None:
    """Why a record with ``timestamp_ms`` would be refused at ``now_ms``, or None."""
    if type(timestamp_ms) is not int:
        return f"record timestamp must be int epoch milliseconds, got {type(timestamp_ms).__name__}"
    if timestamp_ms < 0:
        return f"occurred_at {_iso(timestamp_ms)} is before 1970, not a Kafka record timestamp"
    ahead = timestamp_ms - now_ms
    if ahead > MAX_AHEAD_MS:
        return (
            f"occurred_at {_iso(timestamp_ms)} is {_duration(ahead)} ahead of this clock; "
            f"the topic accepts at most {_duration(MAX_AHEAD_MS)} ahead"
        )
    return None


def _duration(millis: int) -> str:
    minutes = millis / 60_000
    if minutes < 120:
        return f"{minutes:.0f} min"
    hours = minutes / 60
    return f"{hours:.1f} h" if hours < 48 else f"{hours / 24:.1f} days"


def check_event_time(timestamp_ms: int, where: str, now_ms: int | None = None) -> None:
    """Raise :class:`EventValidationFailedError` (``<where>: <problem>``) if refused."""
    problem = time_problem(timestamp_ms, now_millis() if now_ms is None else now_ms)
    if problem is not None:
        raise EventValidationFailedError(f"{where}: {problem}")


def check_records(records: Iterable[EncodedRecord], now_ms: int | None = None) -> None:
    """Check every record's timestamp before any is sent; the first problem is raised."""
    now = now_millis() if now_ms is None else now_ms
    for index, record in enumerate(records, start=1):
        if time_problem(record.timestamp_ms, now) is not None:
            key = (
                record.key.decode(errors="replace") if isinstance(record.key, bytes) else record.key
            )
            check_event_time(record.timestamp_ms, f"record {index} (session {key})", now)


def _iso(timestamp_ms: int) -> str:
    try:
        moment: datetime = millis_to_datetime(timestamp_ms)
    except OverflowError:
        return f"{timestamp_ms} ms"
    return moment.isoformat(timespec="milliseconds").replace("+00:00", "Z")
