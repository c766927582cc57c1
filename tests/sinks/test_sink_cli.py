"""``sessionflow sink`` as a user runs it: embedded ClickHouse in its data dir, analysts
querying through its read-only HTTP endpoint (clickhouse-connect and curl) while it inserts."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
from pathlib import Path

import clickhouse_connect

from sessionflow.core.settings import KafkaSettings
from sessionflow.producers.simulator import simulate
from sessionflow.testing import kafka_env, unique_name
from sessionflow.testing.kafka import free_ports
from tests.processors.conftest import CODEC, recent_plan, send
from tests.processors.harness import wait_for


def _count(port: int) -> int:
    try:
        client = clickhouse_connect.get_client(host="127.0.0.1", port=port)
        return int(client.query("SELECT count() FROM events").result_rows[0][0])
    except Exception:  # not serving yet, or the table not created yet
        return -1


def test_sink_serves_queries_while_it_inserts(topics: KafkaSettings, tmp_path: Path) -> None:
    port = free_ports(1)[0]
    env = {
        **os.environ, **kafka_env(topics), "SESSIONFLOW_DATA_DIR": str(tmp_path),
        "SESSIONFLOW_SINK_GROUP_ID": unique_name("test-sink"), "SESSIONFLOW_SINK_STATE": "false",
        "SESSIONFLOW_SINK_BATCH_SIZE": "30", "SESSIONFLOW_SINK_BATCH_TIMEOUT_MS": "20",
    }  # fmt: skip
    env.pop("CLICKHOUSE_DSN", None)
    log = tmp_path / "sink.log"
    with log.open("wb") as out:
        sink = subprocess.Popen(
            [sys.executable, "-m", "sessionflow.cli", "sink", "--http-port", str(port)],
            env=env, stdout=out, stderr=out,
        )  # fmt: skip
    try:
        wait_for(lambda: _count(port) == 0, 90, "the endpoint to serve", log.read_text)
        first = simulate(recent_plan(15, 41, 0), CODEC.encode)
        send(topics, first)
        seen = set()
        wait_for(
            lambda: seen.add(_count(port)) or len(first.records) in seen,
            90, "every record to be queryable", lambda: f"{sorted(seen)} {log.read_text()}",
        )  # fmt: skip
        assert len(seen - {0, len(first.records)}) >= 1  # answers came while it inserted
        curl = subprocess.run(
            ["curl", "-sS", f"http://127.0.0.1:{port}/", "--data-binary",
             "SELECT event_type, count() FROM events GROUP BY 1 ORDER BY 1 FORMAT CSV"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        per_type: dict[str, int] = {}
        for record in first.records:
            if record.event is not None:
                kind = record.event.event_type.value
                per_type[kind] = per_type.get(kind, 0) + 1
        expected = "".join(f'"{k}",{n}\n' for k, n in sorted(per_type.items()))
        assert curl.stdout == expected
        write = subprocess.run(
            ["curl", "-sS", "-o", "/dev/null", "-w", "%{http_code}", f"http://127.0.0.1:{port}/",
             "--data-binary", "DROP TABLE events"],
            capture_output=True, text=True, timeout=60,
        )  # fmt: skip
        assert write.stdout == "403"
        assert _count(port) == len(first.records)
    finally:
        sink.send_signal(signal.SIGTERM)
        code = sink.wait(60)
    assert code == 0, log.read_text()
    assert "stopped after" in log.read_text()
