"""The guides for services, analysts and ops: every command they show is run here.

Each guide's ``sh`` blocks run line by line against a pipeline of the test's own (``up
--detach`` on the test's broker, simulated sessions with anomalies in it), after the example
values are replaced by this run's (ports, a session id, a dead letter's position). Every
command must exit 0. A block preceded by ``<!-- not run: why -->`` is skipped and must say
why; its commands are still checked to exist with their options. The Python and JSON Lines
examples run too.
"""

from __future__ import annotations

import json
import re
import shlex
import subprocess
import sys
import time
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import click
import pytest

from sessionflow.cli.main import cli
from sessionflow.core.settings import KafkaSettings
from sessionflow.testing import unique_name
from tests.infra.pipelinekit import pipeline_environment

ROOT = Path(__file__).resolve().parents[2]
GUIDES = ("services.md", "analysts.md", "operations.md")
_BLOCK = re.compile(r"(<!-- not run: [^>]+-->\n)?```(\w+)\n(.*?)```", re.DOTALL)


def blocks(guide: str) -> list[tuple[str, str, bool]]:
    """(language, text, runs) of every fenced block of ``guide``."""
    text = (ROOT / "docs" / guide).read_text()
    return [(lang, body, not skip) for skip, lang, body in _BLOCK.findall(text)]


def commands(body: str) -> list[str]:
    """The command lines of an ``sh`` block, trailing comments removed."""
    lines = []
    for line in body.splitlines():
        line = re.sub(r"\s+#\s.*$", "", line).strip()
        if line and not line.startswith("#"):
            lines.append(line)
    return lines


def resolves(argv: list[str]) -> bool:
    """``argv`` (after ``sessionflow``) names a command and only options it has."""
    command: click.Command = cli
    words = list(argv)
    while words and isinstance(command, click.Group) and not words[0].startswith("-"):
        if words[0] not in command.commands:
            return False
        command = command.commands[words.pop(0)]
    options = {o for p in command.get_params(click.Context(command)) for o in p.opts}
    return all(w in options for w in words if w.startswith("--"))


@pytest.mark.parametrize("guide", GUIDES)
def test_every_command_shown_exists_with_its_options(guide: str) -> None:
    shown = [c for lang, body, _ in blocks(guide) if lang == "sh" for c in commands(body)]
    assert shown
    for line in shown:
        argv = shlex.split(line)
        if argv[0] == "sessionflow":
            assert resolves(argv[1:]), line
        else:
            assert argv[0] in {"curl", "export"}, line


@pytest.fixture(scope="module")
def pipeline(
    kafka_settings: KafkaSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """A running pipeline of this module's own, with simulated sessions in it."""
    topic = unique_name("docs-events")
    kafka = kafka_settings.model_copy(update={"topic": topic, "dlq_topic": f"{topic}.dlq"})
    work = tmp_path_factory.mktemp("guides")
    env = pipeline_environment(kafka, work, COLUMNS="160", WORK=str(work))
    run(env, "sessionflow up --detach")
    run(env, "sessionflow simulate --sessions 30 --anomalies --start now")
    wait_for(lambda: settled(env), "the pipeline to fold and store every record", 180)
    try:
        yield env
    finally:
        subprocess.run([*_cli(), "down"], env=env, capture_output=True, timeout=180)


def settled(env: dict[str, str]) -> bool:
    """Every group at lag 0, and the sink holding the processors' sessions."""
    done = subprocess.run([*_cli(), "status", "--format", "json"], env=env,
                          capture_output=True, text=True, timeout=60)  # fmt: skip
    status = json.loads(done.stdout)
    lags = status.get("lag", {})
    if not lags or any(sum(group.values()) for group in lags.values()):
        return False
    found = subprocess.run([*_cli(), "sessions", "--format", "json", "--limit", "1"], env=env,
                           capture_output=True, text=True, timeout=60)  # fmt: skip
    return found.returncode == 0 and json.loads(found.stdout) != []


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)  # polling interval of a condition wait


def _cli() -> list[str]:
    return [sys.executable, "-m", "sessionflow.cli"]


def run(env: dict[str, str], line: str) -> subprocess.CompletedProcess[str]:
    """Run one documented command line; it must exit 0."""
    argv = shlex.split(line)
    if argv[0] == "sessionflow":
        argv = [*_cli(), *argv[1:]]
    done = subprocess.run(argv, env=env, cwd=env["WORK"], capture_output=True, text=True,
                          timeout=300)  # fmt: skip
    assert done.returncode == 0, f"{line}\n{done.stdout[-3000:]}\n{done.stderr[-3000:]}"
    return done


def _values(env: dict[str, str]) -> dict[str, str]:
    """This run's values for the guides' example ones."""
    sessions = json.loads(run(env, "sessionflow sessions --format json --limit 1000").stdout)
    sessions.sort(key=lambda row: -int(row["events"] or 0))  # the busiest: it has sequence 12
    letters = json.loads(run(env, "sessionflow dlq list --format json").stdout)
    first = letters["letters"][0] if isinstance(letters, dict) else letters[0]
    return {
        "127.0.0.1:8124": f"127.0.0.1:{env['SESSIONFLOW_SINK_HTTP_PORT']}",
        "127.0.0.1:6066": f"127.0.0.1:{env['SESSIONFLOW_PROCESSOR_WEB_PORT']}",
        "port=8124": f"port={env['SESSIONFLOW_SINK_HTTP_PORT']}",
        "SESSION_ID": sessions[0]["session_id"],
        "0:42": f"{first['partition']}:{first['offset']}",
        # the simulated sessions start now and run on in event time: a day later covers them
        "2026-12-02T09:30:00": (datetime.now(UTC) + timedelta(days=1)).strftime(
            "%Y-%m-%dT%H:%M:%S"
        ),
    }


def _substitute(text: str, values: dict[str, str]) -> str:
    for example, real in values.items():
        text = text.replace(example, real)
    return text


@pytest.mark.parametrize("guide", GUIDES)
def test_every_command_of_the_guide_runs(guide: str, pipeline: dict[str, str]) -> None:
    values = _values(pipeline)
    last: list[str] = []
    ran = 0
    for lang, body, runs in blocks(guide):
        body = _substitute(body, values)
        if lang == "jsonl":
            (Path(pipeline["WORK"]) / "events.jsonl").write_text(body)
        elif lang == "python" and runs:
            exec(compile(body, f"{guide}:python", "exec"), {})  # the example, as shown
            ran += 1
        elif lang == "sh" and runs:
            for line in commands(body):
                if line.startswith(("sessionflow down", "sessionflow up")):
                    last.append(line)  # the pipeline's own start and stop come last
                    continue
                run(pipeline, line)
                ran += 1
    for line in last:
        run(pipeline, line)
    assert ran > 0
