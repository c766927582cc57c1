"""`sessionflow demo`, the README's run command, end to end on the real broker and chdb."""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

from sessionflow.cli.demo_showcase import SHOWCASE_QUERIES
from sessionflow.core.settings import KafkaSettings
from sessionflow.testing import kafka_env, unique_name
from sessionflow.testing.kafka import free_ports


def test_demo_runs_end_to_end(kafka: KafkaSettings, topic_name: str, tmp_path: Path) -> None:
    env = dict(os.environ)
    env.update(kafka_env(kafka))
    processor_port, sink_port = free_ports(2)
    env.update(
        SESSIONFLOW_DATA_DIR=str(tmp_path),
        SESSIONFLOW_PROCESSOR_APP_ID=unique_name("demo-proc"),
        SESSIONFLOW_SINK_GROUP_ID=unique_name("demo-sink"),
        SESSIONFLOW_PROCESSOR_WEB_PORT=str(processor_port),
        SESSIONFLOW_SINK_HTTP_PORT=str(sink_port),
        COLUMNS="160",
    )
    env.pop("CLICKHOUSE_DSN", None)  # the embedded default, in this test's own data dir
    command = [sys.executable, "-m", "sessionflow.cli"]

    try:
        result = subprocess.run(
            [*command, "demo", "--sessions", "25", "--rate", "0"],
            env=env, capture_output=True, text=True, timeout=300,
        )  # fmt: skip
        status = subprocess.run([*command, "status"], env=env, capture_output=True, text=True)
    finally:
        down = subprocess.run([*command, "down"], env=env, capture_output=True, text=True)

    assert result.returncode == 0, result.stdout + result.stderr
    assert "processor state and dead letters vs ground truth" in result.stdout
    assert "ClickHouse vs Kafka and the processors" in result.stdout
    # 4 read-back figures, 2 state figures, one per dead-letter reason the anomalies
    # produce, 3 ClickHouse figures, 3 replay-and-verify figures
    assert result.stdout.count("✓") == 4 + 2 + 6 + 3 + 3
    assert "verify v2" in result.stdout
    assert "✗" not in result.stdout
    for title, _ in SHOWCASE_QUERIES:
        assert f"{title}:" in result.stdout
    assert f"sink dashboard: http://127.0.0.1:{sink_port}/dashboard" in result.stdout
    assert status.returncode == 0, status.stdout  # the demo leaves the pipeline up
    assert down.returncode == 0
    assert "the pipeline stopped" in down.stdout
    assert (tmp_path / "clickhouse").is_dir()


def test_the_showcase_queries_are_readme_queries() -> None:
    readme = (Path(__file__).resolve().parents[2] / "README.md").read_text()
    for _, sql in SHOWCASE_QUERIES:
        assert f"```sql\n{sql}\n```" in readme, sql
