"""Each claim of README.md, checked against the thing it describes (not against README itself).

The rest are checked elsewhere: the SDK example (test_readme_example), the settings table
(test_project_docs), docker-compose (test_compose), the floors (test_layering), the demo
(test_demo), the producer's guarantees (tests/producers).
"""

from __future__ import annotations

import ast
import os
import re
import subprocess
import sys
import zipfile
from pathlib import Path

import click
import pytest
from click.testing import CliRunner

from sessionflow.cli.main import cli
from sessionflow.cli.settings_catalog import env_names, markdown_table
from sessionflow.core.errors import ConfigurationError
from sessionflow.core.kafka_clients import new_producer
from sessionflow.core.local_kafka.resolver import kafka_libs
from sessionflow.core.local_kafka.settings import LocalKafkaSettings
from sessionflow.core.settings import ClickHouseSettings, KafkaSettings, PathSettings
from sessionflow.producers.settings import TopicSettings
from sessionflow.schemas import EventType
from sessionflow.testing import docker_available, kafka_broker

ROOT = Path(__file__).resolve().parents[2]
README = (ROOT / "README.md").read_text()
PROSE = README.split("<!-- settings-table:start -->")[0] + README.split("settings-table:end -->")[1]


def _make_dry_run(*targets: str) -> str:
    result = subprocess.run(
        ["make", "-n", "-B", *targets], cwd=ROOT, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr
    return result.stdout


def _table(heading: str) -> list[list[str]]:
    section = PROSE.split(heading, 1)[1]
    lines = [line for line in section.splitlines() if line.strip().startswith("|")]
    rows = []
    for line in lines[2:]:
        cells = re.split(r"(?<!\\)\|", line.strip())[1:-1]
        rows.append([cell.strip().replace("\\|", "|") for cell in cells])
        if not section.split(line, 1)[1].lstrip(" ").startswith(("\n|", "\n  |")):
            break
    return rows


# --------------------------------------------------------------------------- what it needs


def test_the_tools_it_needs_are_the_ones_ci_checks_for() -> None:
    claim = re.search(
        r"Both need Python ≥ ([\d.]+), Java ≥ (\d+), Maven and make; no Docker\.", README
    )
    assert claim, "the requirements sentence changed: update this test"
    ci_tools = re.search(r"for tool in ([\w ]+); do", (ROOT / ".ci" / "run").read_text())
    assert ci_tools
    python, java = claim[1], int(claim[2])

    assert set(ci_tools[1].split()) == {"python3", "java", "mvn", "make"}
    project = (ROOT / "pyproject.toml").read_text()
    assert f'requires-python = ">={python}"' in project
    assert f"sys.version_info >= ({python.replace('.', ', ')})" in (ROOT / "Makefile").read_text()
    assert "docker" not in _make_dry_run("setup", "demo", "test").lower()
    assert _java_release_of_kafka() == java


def _java_release_of_kafka() -> int:
    """The Java release Kafka's broker classes are compiled for (class file major - 44)."""
    libs = kafka_libs(PathSettings().cache_dir, LocalKafkaSettings().version)
    (server_jar,) = libs.glob("kafka-server-[0-9]*.jar")
    with zipfile.ZipFile(server_jar) as jar:
        name = next(n for n in jar.namelist() if n.endswith(".class"))
        header = jar.read(name)[:8]
    return int.from_bytes(header[6:8], "big") - 44


def test_the_first_run_fills_the_venv_and_the_jar_cache(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    setup = _make_dry_run("setup")
    assert ".venv/bin/python -m pip install" in setup
    assert "sessionflow kafka fetch" in setup
    assert "~/.cache/sessionflow" in README

    for name in ("XDG_CACHE_HOME", "SESSIONFLOW_CACHE_DIR"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HOME", str(tmp_path))
    assert PathSettings().cache_dir == tmp_path / ".cache" / "sessionflow"


def test_make_down_stops_the_local_broker() -> None:
    assert "sessionflow kafka down" in _make_dry_run("down")


def test_the_venv_has_the_sessionflow_command() -> None:
    command = Path(sys.executable).parent / "sessionflow"
    result = subprocess.run([str(command), "--help"], capture_output=True, text=True, timeout=60)

    assert result.returncode == 0, result.stderr
    for name in ("kafka", "topics", "schemas", "produce", "simulate", "demo", "settings"):
        assert re.search(rf"^  {name} ", result.stdout, re.MULTILINE), name


# --------------------------------------------------------------------------- what it is


def test_figures_of_the_overview() -> None:
    types = re.search(r"publish the (\d+) session event types", README)
    partitions = re.search(r"key = session_id, (\d+) partitions", README)
    assert types
    assert partitions

    assert int(types[1]) == len(EventType)
    assert int(partitions[1]) == TopicSettings().partitions


def _command_spans() -> list[str]:
    """Every `sessionflow ...` in README's prose, alternatives (`a | b`) expanded."""
    spans = []
    for span in re.findall(r"`(sessionflow [^`]+)`", PROSE):
        first, *others = span.replace("\\|", "|").split(" | ")
        spans.append(first)
        spans += [first.rsplit(" ", 1)[0] + " " + other for other in others]
    return spans


@pytest.mark.parametrize("span", _command_spans())
def test_every_command_named_exists_with_its_options(span: str) -> None:
    command: click.Command = cli
    path = []
    words = span.split()[1:]
    while words and isinstance(command, click.Group) and not words[0].startswith("-"):
        assert words[0] in command.commands, f"{span}: no command {words[0]!r}"
        command = command.commands[words[0]]
        path.append(words.pop(0))
    context = click.Context(command)
    options = {opt for param in command.get_params(context) for opt in param.opts}

    assert not isinstance(command, click.Group) or not path, f"{span} names a group only"
    assert [w for w in words if w.startswith("-") and w not in options] == [], span
    assert CliRunner().invoke(cli, [*path, "--help"]).exit_code == 0


def test_every_producer_is_idempotent_with_acks_all() -> None:
    """The client factory refuses to build a producer without them (the SDK has no other)."""
    for weaker in ({"acks": 1}, {"enable_idempotence": False}):
        with pytest.raises(ConfigurationError, match="fixed by the client factory"):
            new_producer(KafkaSettings(), **weaker)
    assert re.search(r"idempotent with\s+`acks=all`", README)


def test_the_python_imports_shown_work() -> None:
    lines = re.findall(r"`(from sessionflow[^`]+ import [^`]+)`", PROSE)
    assert lines
    for line in lines:
        exec(line, {})


def test_the_demo_simulates_the_number_of_sessions_stated() -> None:
    stated = re.search(r"simulates (\d+) sessions", README)
    assert stated
    demo = cli.commands["demo"]  # type: ignore[attr-defined]

    assert next(p.default for p in demo.params if p.name == "sessions") == int(stated[1])


# --------------------------------------------------------------------------- layout


def test_the_layout_table_lists_every_folder_and_what_is_in_it() -> None:
    rows = _table("## Layout")
    listed = {row[0].strip("`").rstrip("/"): row[1] for row in rows}
    tracked = subprocess.run(
        ["git", "ls-files"], cwd=ROOT, capture_output=True, text=True, check=True
    ).stdout.split()
    folders = {p.split("/")[0] for p in tracked if "/" in p and not p.startswith(".")}

    assert set(listed) == folders
    for folder, text in listed.items():
        named = re.findall(r"`([\w.]+/?)`", text)
        for name in (n for n in named if n.endswith(("/", ".py"))):
            assert (ROOT / folder / name).exists(), f"{folder}/{name}"
        modules = [p.name for p in (ROOT / folder).iterdir() if p.name != "__pycache__"]
        if "not built yet" in text:
            assert modules == ["__init__.py"], folder
        for module in re.findall(r"`(sessionflow\.\w+)`", text):
            assert (ROOT / "sessionflow" / module.split(".")[1]).resolve() == ROOT / folder


def test_environment_variables_named_are_real_settings() -> None:
    named = set(re.findall(r"\b(?:KAFKA|CLICKHOUSE|SESSIONFLOW)_[A-Z_]+\b", PROSE))
    prefixes = {n for n in named if n.endswith("_")}

    assert named - prefixes <= env_names()
    assert all(any(env.startswith(p) for env in env_names()) for p in prefixes)


# --------------------------------------------------------------------------- your own infra


def test_tests_use_the_broker_named_by_the_environment(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("KAFKA_BOOTSTRAP_SERVERS", "127.0.0.1:1")
    with kafka_broker() as kafka:
        assert kafka.bootstrap_servers == "127.0.0.1:1"


def test_without_a_named_broker_the_tests_start_one_on_loopback(
    kafka_settings: KafkaSettings,
) -> None:
    if os.environ.get("KAFKA_BOOTSTRAP_SERVERS") or docker_available():
        pytest.skip("this run uses a named broker or a container")
    host, port = kafka_settings.bootstrap_servers.rsplit(":", 1)

    assert host == "127.0.0.1"
    assert 20_000 <= int(port) < 32_768  # free_ports' range, never an ephemeral port


def _python(code: str, env: dict[str, str]) -> subprocess.Popen[str]:
    return subprocess.Popen(
        [sys.executable, "-c", code],
        env={**os.environ, **env},
        stdin=subprocess.PIPE,
        stdout=subprocess.PIPE,
        stderr=subprocess.PIPE,
        text=True,
    )


def test_tests_use_the_clickhouse_named_by_the_environment(tmp_path: Path) -> None:
    code = (
        "from sessionflow.testing import clickhouse_client\n"
        "with clickhouse_client() as c:\n"
        "    c.command('CREATE DATABASE named_by_env')\n"
    )
    child = _python(code, {"CLICKHOUSE_DSN": f"chdb://{tmp_path}"})
    _, err = child.communicate(timeout=120)

    assert child.returncode == 0, err
    assert (tmp_path / "metadata" / "named_by_env.sql").exists()


def test_the_embedded_engine_locks_its_directory_to_one_process(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("HOME", str(tmp_path))
    for name in ("XDG_DATA_HOME", "SESSIONFLOW_DATA_DIR", "CLICKHOUSE_DSN"):
        monkeypatch.delenv(name, raising=False)
    default = ClickHouseSettings().resolved_dsn(PathSettings())
    assert default == f"chdb://{tmp_path}/.local/share/sessionflow/clickhouse"
    assert "~/.local/share/sessionflow/clickhouse" in README

    hold = (
        "import sys, clickhouse_connect\n"
        f"c = clickhouse_connect.get_client(dsn={default!r})\n"
        "print('open', flush=True)\n"
        "sys.stdin.readline()\n"
    )
    second = (
        "import clickhouse_connect\n"
        f"clickhouse_connect.get_client(dsn={default!r}).query('SELECT 1')\n"
    )
    holder = _python(hold, {})
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "open\n"
        other = _python(second, {})
        _, err = other.communicate(timeout=120)
    finally:
        holder.communicate("\n", timeout=60)

    assert other.returncode != 0
    assert "Cannot lock file" in err


# --------------------------------------------------------------------------- development


def test_the_settings_command_prints_the_readme_table() -> None:
    result = CliRunner().invoke(cli, ["settings"])

    assert result.exit_code == 0
    assert markdown_table() in result.output
    assert markdown_table() in README


def test_make_test_is_lint_format_strict_types_and_pytest() -> None:
    steps = _make_dry_run("test")

    for step in ("ruff check .", "ruff format --check .", "mypy", "pytest"):
        assert step in steps, step
    assert re.search(
        r"^\[tool\.mypy\]\nstrict = true$", (ROOT / "pyproject.toml").read_text(), re.M
    )


def _docstring(path: Path) -> str:
    return ast.get_docstring(ast.parse(path.read_text())) or ""


def test_measured_figures_come_from_the_bench_that_measured_them() -> None:
    rows = _table("Measured on a 2-core VM")
    assert rows

    for path_cell, figure, bench in rows:
        docstring = _docstring(ROOT / bench.strip("`"))
        assert "2-core" in docstring, bench
        for number in re.findall(r"\d[\d,.]*\d|\d", figure):
            assert number in docstring, f"{path_cell}: {number} is not in {bench}"


def test_the_testing_helpers_named_are_shipped_and_used_by_the_suite() -> None:
    import sessionflow.testing

    named = re.findall(r"`(\w+)\(\)`", PROSE.split("`sessionflow.testing` ships")[1])
    conftest = (ROOT / "tests" / "conftest.py").read_text()

    assert named
    for name in named:
        assert name in sessionflow.testing.__all__, name
        assert f"{name}(" in conftest, name
