"""Rewrite the settings table in README.md from the settings classes (``make readme``)."""

from __future__ import annotations

import sys
from pathlib import Path

from sessionflow.cli.settings_catalog import markdown_table

START, END = "<!-- settings-table:start -->", "<!-- settings-table:end -->"


def main() -> int:
    readme = Path(__file__).resolve().parent.parent / "README.md"
    text = readme.read_text()
    head, _, rest = text.partition(START)
    _, _, tail = rest.partition(END)
    if not rest or (not tail and END not in rest):
        print(f"README.md lacks the {START} ... {END} markers", file=sys.stderr)
        return 1
    readme.write_text(f"{head}{START}\n{markdown_table()}\n{END}{tail}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
