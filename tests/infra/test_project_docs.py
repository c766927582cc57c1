"""The README and CI say what the project really does."""

from __future__ import annotations

import importlib
import pkgutil
import re
from pathlib import Path

import pytest
from pydantic import ValidationError
from pydantic_settings import BaseSettings

import sessionflow
from sessionflow.cli.settings_catalog import (
    SettingRow,
    markdown_table,
    setting_rows,
    settings_classes,
)

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


def _settings_classes_in_the_package() -> set[type[BaseSettings]]:
    """Every BaseSettings subclass defined anywhere in sessionflow (found by importing it all)."""
    found: set[type[BaseSettings]] = set()
    for module_info in pkgutil.walk_packages(sessionflow.__path__, "sessionflow."):
        if module_info.name.endswith(".__main__"):
            continue  # running it is the CLI
        module = importlib.import_module(module_info.name)
        for value in vars(module).values():
            if (
                isinstance(value, type)
                and issubclass(value, BaseSettings)
                and value.__module__ == module.__name__
            ):
                found.add(value)
    return found


def test_every_settings_class_of_the_package_is_in_the_catalog() -> None:
    assert _settings_classes_in_the_package() == set(settings_classes())


def _owner(row: SettingRow) -> tuple[type[BaseSettings], str]:
    for cls in settings_classes():
        prefix = str(cls.model_config.get("env_prefix", ""))
        for name in cls.model_fields:
            if f"{prefix}{name}".upper() == row.env:
                return cls, name
    raise AssertionError(f"{row.env} belongs to no settings class")


@pytest.mark.parametrize("row", setting_rows(), ids=lambda row: row.env)
def test_each_documented_variable_is_read_by_its_settings_class(
    row: SettingRow, monkeypatch: pytest.MonkeyPatch
) -> None:
    """pydantic-settings itself must pick the variable up: a changed value or an error on it."""
    cls, field = _owner(row)
    baseline = getattr(cls(), field)
    for value in ("1", "7", "x"):
        monkeypatch.setenv(row.env, value)
        try:
            if getattr(cls(), field) != baseline:
                return
        except ValidationError as exc:  # rejected: read, unless the error is about another field
            named = [
                e
                for e in exc.errors()
                if e["loc"][:1] == (field,) or field in e["msg"] or row.env in e["msg"]
            ]
            if named:
                return
    pytest.fail(f"setting {row.env} changed nothing in {cls.__name__}.{field}")


def test_every_row_of_the_readme_table_has_a_default_and_a_meaning() -> None:
    readme = (ROOT / "README.md").read_text()
    block = readme.split("<!-- settings-table:start -->\n")[1].split("\n<!-- settings-table")[0]
    rows = [line.split(" | ") for line in block.splitlines()[2:]]

    assert [len(cells) for cells in rows] == [3] * len(setting_rows())
    for env, default, meaning in rows:
        assert re.fullmatch(r"\| `[A-Z0-9_]+`", env)
        assert default.strip()
        assert len(meaning.rstrip(" |")) > 10, env
