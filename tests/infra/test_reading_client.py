"""A reading command and a sink's embedded directory: wait for a starting sink, then say why."""

from __future__ import annotations

import fcntl
from pathlib import Path

import pytest

from sessionflow.cli import clickhouse_access
from sessionflow.core.errors import InfrastructureError
from sessionflow.testing.kafka import free_ports


def test_a_held_directory_without_an_endpoint_is_waited_for_then_named(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    directory = tmp_path / "clickhouse"
    directory.mkdir()
    (port,) = free_ports(1)  # nothing answers there
    monkeypatch.delenv("CLICKHOUSE_DSN", raising=False)
    monkeypatch.setenv("SESSIONFLOW_DATA_DIR", str(tmp_path))
    monkeypatch.setenv("SESSIONFLOW_SINK_HTTP_PORT", str(port))
    monkeypatch.setattr(clickhouse_access, "_SINK_START_S", 0.5)
    with (directory / "status").open("wb") as status:  # what a (starting) sink holds
        fcntl.flock(status, fcntl.LOCK_EX | fcntl.LOCK_NB)
        with pytest.raises(InfrastructureError) as raised:
            clickhouse_access.reading_client()
    message = str(raised.value)
    assert str(directory) in message
    assert f":{port}" in message
    assert "\n" not in message
