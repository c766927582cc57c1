"""`sessionflow demo`, the README's run command, end to end on the real broker and chdb."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sessionflow.core.settings import KafkaSettings
from sessionflow.testing import kafka_env, unique_name
from sessionflow.testing.kafka import free_ports


def test_demo_runs_end_to_end(kafka: KafkaSettings, topic_name: str, tmp_path: Path) -> None:
    env = dict(os.environ)
    env.update(kafka_env(kafka))
    env.update(
        SESSIONFLOW_DATA_DIR=str(tmp_path),
        SESSIONFLOW_PROCESSOR_APP_ID=unique_name("demo-proc"),
        SESSIONFLOW_PROCESSOR_WEB_PORT=str(free_ports(1)[0]),
        COLUMNS="120",
    )
    env.pop("CLICKHOUSE_DSN", None)  # the embedded default, in this test's own data dir

    result = subprocess.run(
        [sys.executable, "-m", "sessionflow.cli", "demo", "--sessions", "25"],
        env=env, capture_output=True, text=True, timeout=240,
    )  # fmt: skip

    assert result.returncode == 0, result.stdout + result.stderr
    assert f"{topic_name} (created)" in result.stdout
    assert "embedded chdb" in result.stdout
    assert "processor state and dead letters vs ground truth" in result.stdout
    # 4 read-back figures, 2 state figures, one per dead-letter reason the anomalies produce
    assert result.stdout.count("✓") == 4 + 2 + 6
    assert "✗" not in result.stdout
    assert (tmp_path / "clickhouse").is_dir()
