"""Reading what a worker serves and writes: state views, dead letters by origin."""

from __future__ import annotations

from collections import Counter
from typing import Any

from sessionflow.processors.domain import Record
from sessionflow.processors.runtime.deadletter_writer import H_OFFSET, H_PARTITION, H_REASON
from tests.processors.conftest import CODEC


def comparable(view: dict[str, Any]) -> dict[str, Any]:
    """A state view without the figures that depend on when it is read."""
    stats = {k: v for k, v in view["stats"].items() if k != "active_ms"}
    return {**view, "stats": stats}


def summary_of_view(view: dict[str, Any]) -> dict[str, Any]:
    """The figures of a served view that the independent summary predicts."""
    stats = view["stats"]
    by_status = stats["tool_calls_by_status"]
    return {
        "status": view["status"],
        "events": stats["events"],
        "messages_by_role": Counter(stats["messages_by_role"]),
        "tool_calls_by_status": Counter({k: v for k, v in by_status.items() if v}),
        "tools_used": Counter(stats["tools_used"]),
        "errors_by_code": Counter(stats["errors_by_code"]),
        "streams": stats["streams"],
        "stream_chunks": stats["stream_chunks"],
        "total_tokens": stats["total_tokens"],
        "outcome": view["outcome"],
        "user_id": view["user_id"],
    }


def origin_of(dead: Record) -> tuple[int, int]:
    """(partition, offset) a dead letter names as its origin."""
    headers = dict(dead.headers)
    return int(headers[H_PARTITION]), int(headers[H_OFFSET])


def reason_of(dead: Record) -> str:
    """The reason a dead letter gives."""
    return dict(dead.headers)[H_REASON].decode()


def event_id_of(value: bytes) -> str | None:
    """The event_id of encoded bytes, None when they do not decode."""
    try:
        return str(CODEC.decode(value)["event_id"])
    except Exception:
        return None


def differences(served: dict[str, Any], expected: dict[str, Any], limit: int = 5) -> list[str]:
    """Readable differences between two {session: view} maps (first ``limit`` sessions)."""
    out = []
    for sid in sorted(set(served) | set(expected)):
        a, b = served.get(sid), expected.get(sid)
        if a == b:
            continue
        if a is None or b is None:
            out.append(f"{sid}: served={a is not None} expected={b is not None}")
        else:
            keys = sorted(k for k in set(a) | set(b) if a.get(k) != b.get(k))
            out.append(f"{sid}: " + "; ".join(f"{k}: {a.get(k)!r} != {b.get(k)!r}" for k in keys))
        if len(out) >= limit:
            break
    return out
