"""Figures a command checks and prints: what the ground truth expects beside what was found."""

from __future__ import annotations

from dataclasses import dataclass

from rich.table import Table


@dataclass(frozen=True)
class Figure:
    """One figure of the check: what the ground truth expects and what was read back."""

    name: str
    expected: int
    found: int

    @property
    def ok(self) -> bool:
        """The figure matches."""
        return self.expected == self.found


def check_table(rows: list[Figure], title: str) -> Table:
    """The figures as a table with an ok mark per row."""
    table = Table(title=title)
    for column in ("figure", "expected", "found", "ok"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for row in rows:
        table.add_row(row.name, str(row.expected), str(row.found), "✓" if row.ok else "✗")
    return table


def mismatches(rows: list[Figure]) -> str | None:
    """What differs, as one line, or None when every figure matches (the demo's gate)."""
    wrong = [f"{r.name}: expected {r.expected}, found {r.found}" for r in rows if not r.ok]
    return "; ".join(wrong) or None
