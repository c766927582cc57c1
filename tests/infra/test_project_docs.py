"""The README and CI say what the project really does."""

from __future__ import annotations

from pathlib import Path

from sessionflow.cli.settings_catalog import env_names, markdown_table

ROOT = Path(__file__).resolve().parents[2]


def test_readme_opens_with_the_two_commands() -> None:
    head = (ROOT / "README.md").read_text().splitlines()[:6]

    assert any(line.startswith("make demo") for line in head)
    assert any(line.startswith("make test") for line in head)


def test_ci_runs_exactly_the_readme_test_command() -> None:
    script = (ROOT / ".ci" / "run").read_text()

    assert "exec make test\n" in script


def test_readme_settings_table_is_current() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- settings-table:start -->\n")[1].split("\n<!-- settings-table:end")[0]

    assert block == markdown_table(), "run `make readme` to regenerate the settings table"


def test_every_setting_has_a_documented_meaning() -> None:
    table = markdown_table()

    assert all(f"`{name}`" in table for name in env_names())
    assert "|  |" not in table
