"""The built wheel installs one top-level package, `sessionflow`, with its schema data inside.

The wheel is built from a copy of the working tree with ``--no-build-isolation`` (setuptools
and wheel come with the dev install), so the test needs no package index.
"""

from __future__ import annotations

import shutil
import subprocess
import sys
import tomllib
import zipfile
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]
PROJECT = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
REPO_FOLDERS = ("schemas", "producers", "processors", "sinks")
_NOT_SOURCES = shutil.ignore_patterns(
    ".*", "build", "dist", "*.egg-info", "__pycache__", "tests", "bench", "docs"
)


def _run(*args: str, cwd: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(args, cwd=cwd, capture_output=True, text=True, timeout=300)


@pytest.fixture(scope="module")
def wheel(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The wheel ``pip wheel`` builds from a copy of the working tree."""
    work = tmp_path_factory.mktemp("wheel")
    source = work / "src"
    shutil.copytree(ROOT, source, symlinks=True, ignore=_NOT_SOURCES)
    built = _run(
        sys.executable, "-m", "pip", "wheel", "--no-deps", "--no-build-isolation",
        "--wheel-dir", str(work / "out"), str(source),
        cwd=work,
    )  # fmt: skip
    assert built.returncode == 0, built.stdout[-2000:] + built.stderr[-2000:]
    (found,) = (work / "out").glob("*.whl")
    return found


def _names(wheel: Path) -> list[str]:
    with zipfile.ZipFile(wheel) as archive:
        return archive.namelist()


def test_the_only_top_level_package_is_sessionflow(wheel: Path) -> None:
    top = {name.split("/")[0] for name in _names(wheel)}
    dist_info = f"{PROJECT['name']}-{PROJECT['version']}.dist-info"

    assert top == {"sessionflow", dist_info}


def test_every_module_of_the_repository_folders_is_inside(wheel: Path) -> None:
    names = set(_names(wheel))
    for folder in REPO_FOLDERS:
        for path in (ROOT / folder).rglob("*.py"):
            assert f"sessionflow/{path.relative_to(ROOT).as_posix()}" in names, path


def test_schema_files_and_golden_vectors_are_inside_byte_for_byte(wheel: Path) -> None:
    data = [
        *(ROOT / "schemas" / "avsc").rglob("*.avsc"),
        *(ROOT / "schemas" / "golden").glob("*"),
    ]
    assert len(data) > 2 * 23  # two published versions of 23 named types at least
    data += [*(ROOT / "sinks").rglob("*.sql"), ROOT / "sinks" / "dashboard" / "page.html"]
    with zipfile.ZipFile(wheel) as archive:
        for path in data:
            inside = f"sessionflow/{path.relative_to(ROOT).as_posix()}"
            assert archive.read(inside) == path.read_bytes(), inside


def test_installed_wheel_reads_its_own_schemas_and_has_no_generic_top_level_names(
    wheel: Path, tmp_path: Path
) -> None:
    target = tmp_path / "site"
    installed = _run(
        sys.executable, "-m", "pip", "install", "--no-deps", "--no-index",
        "--target", str(target), str(wheel),
        cwd=tmp_path,
    )  # fmt: skip
    assert installed.returncode == 0, installed.stderr[-2000:]
    probe = (
        "import importlib.util, sys\n"
        f"sys.path.insert(0, {str(target)!r})\n"
        f"print([n for n in {REPO_FOLDERS!r} if importlib.util.find_spec(n)])\n"
        "import sessionflow.schemas as s\n"
        "print(s.__file__)\n"
        "print([v.version for v in s.load_published()])\n"
    )

    result = _run(sys.executable, "-c", probe, cwd=tmp_path)

    assert result.returncode == 0, result.stderr
    generic, module_file, versions = result.stdout.splitlines()
    assert generic == "[]"
    assert Path(module_file).is_relative_to(target)
    published = sorted(int(p.name[1:]) for p in (ROOT / "schemas" / "avsc").glob("v*"))
    assert versions == str(published)
