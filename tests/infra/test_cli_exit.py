"""Exit codes a command asks for reach the shell through ``main()``."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sessionflow.testing.kafka import free_ports


def _run(args: list[str], env: dict[str, str]) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [sys.executable, "-m", "sessionflow.cli", *args],
        env={**os.environ, **env}, capture_output=True, text=True, timeout=60,
    )  # fmt: skip


def test_kafka_status_exits_1_when_no_broker_runs(tmp_path: Path) -> None:
    (port,) = free_ports(1)
    env = {"SESSIONFLOW_DATA_DIR": str(tmp_path), "SESSIONFLOW_KAFKA_PORT": str(port)}

    result = _run(["kafka", "status"], env)

    assert result.returncode == 1
    assert result.stdout.startswith(f"kafka not running (127.0.0.1:{port}")
    assert result.stderr == ""
    assert list(tmp_path.iterdir()) == []  # asking changed nothing


def test_schemas_check_exits_1_when_a_version_cannot_be_read(tmp_path: Path) -> None:
    # v1 as published, and a "v2" that renames a required field without a default: the
    # current reader (this v2) cannot read v1 data
    published = Path(__file__).resolve().parents[2] / "schemas" / "avsc" / "v1"
    for version in ("v1", "v2"):
        target = tmp_path / version
        target.mkdir()
        for avsc in published.glob("*.avsc"):
            text = avsc.read_text()
            if version == "v2" and avsc.name.endswith("EventEnvelope.avsc"):
                text = text.replace('"name": "source"', '"name": "origin"')
            (target / avsc.name).write_text(text)

    result = _run(["schemas", "check", "--avsc-dir", str(tmp_path)], {})

    assert result.returncode == 1, result.stdout + result.stderr
    assert "INCOMPATIBLE" in result.stdout
    assert "Traceback" not in result.stderr
