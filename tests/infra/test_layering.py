"""The package's floors hold: `lint-imports` keeps the contracts in pyproject.toml.

grimp (import-linter's graph) must see the subpackages reached through the committed
symlinks (``sessionflow/schemas -> ../schemas`` ...), or a contract would pass vacuously;
both are checked here, and so is a planted violation through a symlinked subpackage.
"""

from __future__ import annotations

import os
import subprocess
import sys
import tomllib
from pathlib import Path
from typing import Any

import grimp

ROOT = Path(__file__).resolve().parents[2]
LINT_IMPORTS = Path(sys.executable).parent / "lint-imports"
SYMLINKED = ("schemas", "producers", "processors", "sinks")


def _contracts() -> list[dict[str, Any]]:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text())
    contracts: list[dict[str, Any]] = config["tool"]["importlinter"]["contracts"]
    return contracts


def _lint_imports(cwd: Path, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(LINT_IMPORTS), "--no-cache", "--no-logo"],
        cwd=cwd,
        env=env,
        capture_output=True,
        text=True,
        timeout=120,
    )


def _modules_on_disk(package_dir: Path) -> set[str]:
    """Every module under ``package_dir``, symlinks followed (what Python can import)."""
    found = set()
    for folder, dirs, files in os.walk(package_dir, followlinks=True):
        dirs[:] = [d for d in dirs if d != "__pycache__"]
        parts = Path(folder).relative_to(package_dir.parent).parts
        for name in files:
            if name.endswith(".py"):
                stem = name[: -len(".py")]
                found.add(".".join(parts if stem == "__init__" else (*parts, stem)))
    return found


def test_the_symlinked_subpackages_are_symlinks() -> None:
    for name in SYMLINKED:
        link = ROOT / "sessionflow" / name
        assert link.is_symlink(), name
        assert link.resolve() == ROOT / name


def test_the_import_graph_sees_every_module() -> None:
    graph = grimp.build_graph("sessionflow", cache_dir=None)

    assert set(graph.modules) == _modules_on_disk(ROOT / "sessionflow")
    assert "sessionflow.producers.sdk" in graph.modules


def test_every_contract_is_kept() -> None:
    result = _lint_imports(ROOT)
    contracts = _contracts()

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"Contracts: {len(contracts)} kept, 0 broken." in result.stdout
    for contract in contracts:
        assert f"{contract['name']} KEPT" in result.stdout


def _fake_project(root: Path) -> None:
    """A copy of sessionflow's shape with two violations, reached through symlinks."""
    files = {
        "fake/__init__.py": "",
        "fake/core/__init__.py": "",
        "fake/core/settings.py": "from fake.producers import sdk\n",  # ground floor reaches up
        "fake/cli/__init__.py": "",
        "fake/testing/__init__.py": "",
        "schemas/__init__.py": "",
        "producers/__init__.py": "",
        "producers/sdk.py": "import fake.sinks.writer\n",  # component imports a component
        "processors/__init__.py": "",
        "sinks/__init__.py": "",
        "sinks/writer.py": "",
    }
    for path, text in files.items():
        (root / path).parent.mkdir(parents=True, exist_ok=True)
        (root / path).write_text(text)
    for name in SYMLINKED:
        (root / "fake" / name).symlink_to(Path("..") / name)
    config = (ROOT / "pyproject.toml").read_text()
    table = config[config.index("[tool.importlinter]") :]
    (root / "pyproject.toml").write_text(table.replace("sessionflow", "fake"))


def test_a_violation_through_a_symlinked_subpackage_breaks_its_contract(tmp_path: Path) -> None:
    _fake_project(tmp_path)
    env = {**os.environ, "PYTHONPATH": str(tmp_path)}

    result = _lint_imports(tmp_path, env)

    assert result.returncode == 1, result.stdout + result.stderr
    assert "core imports nothing above it BROKEN" in result.stdout
    assert "producers, processors and sinks never import each other BROKEN" in result.stdout
    assert "fake.core.settings -> fake.producers.sdk" in result.stdout
    assert f"Contracts: {len(_contracts()) - 2} kept, 2 broken." in result.stdout
