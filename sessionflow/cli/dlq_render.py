"""How ``sessionflow dlq`` shows dead letters: a table, JSON, one letter in full."""

from __future__ import annotations

import json
from collections.abc import Sequence
from typing import Any

from rich.console import Console
from rich.markup import escape
from rich.table import Table

from sessionflow.processors.dlq import Decoded, StoredLetter

_HEX_PREFIX = 64


def letter_json(letter: StoredLetter, decoded: Decoded) -> dict[str, Any]:
    """One letter as JSON-ready data (the ``list --format json`` row)."""
    return {
        "position": str(letter.position),
        "partition": letter.position.partition,
        "offset": letter.position.offset,
        "time": letter.time().isoformat(timespec="milliseconds"),
        "reason": letter.reason,
        "detail": letter.detail,
        "origin": letter.origin,
        "first_origin": letter.first_origin,
        "group": letter.group,
        "error_class": letter.error_class or None,
        "event_type": decoded.event_type or None,
        "session_id": decoded.session_id or None,
        "event_id": decoded.event["event_id"] if decoded.event else None,
        "replayed_from": letter.replayed_from,
        "history": letter.history,
    }


def letters_table(rows: Sequence[tuple[StoredLetter, Decoded]], title: str) -> Table:
    """The ``list`` table: one row per letter."""
    table = Table(title=title)
    for name in ("at", "time (UTC)", "reason", "origin", "event", "session", "detail"):
        table.add_column(name, overflow="fold")
    for letter, decoded in rows:
        reason = letter.reason + (" (returned)" if letter.replayed_from else "")
        table.add_row(
            str(letter.position),
            letter.time().strftime("%Y-%m-%d %H:%M:%S.%f")[:-3],
            reason,
            letter.origin,
            decoded.event_type or "-",
            decoded.session_id or "-",
            escape(letter.detail[:120]),
        )
    return table


def print_letter(console: Console, letter: StoredLetter, decoded: Decoded) -> None:
    """``show``: every fact about one letter, then its event or why it has none."""
    key = letter.key.decode("utf-8", "replace") if letter.key is not None else "(none)"
    facts = [
        ("dead letter", f"{letter.position}"),
        ("reason", letter.reason),
        ("detail", letter.detail),
        ("origin", letter.origin),
        ("first read at", letter.first_origin),
        ("group", letter.group or "-"),
        ("error class", letter.error_class or "-"),
        ("time (UTC)", letter.time().isoformat(timespec="milliseconds")),
        ("key", key),
        ("history", ", ".join(letter.history) or "-"),
    ]
    for name, value in facts:
        console.print(f"[bold]{name + ':':<15}[/bold] {escape(value)}")
    console.print("[bold]headers:[/bold]")
    for name, raw in letter.headers:
        console.print(f"  {escape(name)} = {escape(raw.decode('utf-8', 'replace'))}")
    if decoded.event is not None:
        console.print("[bold]event:[/bold]")
        console.print_json(json.dumps(decoded.event, default=str, ensure_ascii=False))
    else:
        console.print(f"[bold]undecodable:[/bold] {len(letter.value)} bytes")
        console.print(f"  decode error: {escape(decoded.error or '')}")
        console.print(f"  first {_HEX_PREFIX} bytes: {letter.value[:_HEX_PREFIX].hex(' ')}")


def show_json(letter: StoredLetter, decoded: Decoded) -> dict[str, Any]:
    """``show --format json``: the list row plus headers, key and event (or bytes)."""
    data = letter_json(letter, decoded)
    data["key"] = letter.key.decode("utf-8", "replace") if letter.key is not None else None
    data["headers"] = {k: v.decode("utf-8", "replace") for k, v in letter.headers}
    data["event"] = decoded.event
    data["decode_error"] = decoded.error
    data["bytes"] = len(letter.value)
    data["hex_prefix"] = None if decoded.event else letter.value[:_HEX_PREFIX].hex()
    return data
