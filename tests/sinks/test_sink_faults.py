"""The sink under faults: SIGKILLed again and again, ClickHouse refusing writes for a while.

Expected: every record of the topic in ``events`` exactly once (count = records, one row per
offset), with no FINAL and no deduplication at query time.
"""

from __future__ import annotations

import asyncio
import json
import os
import random
import signal
import subprocess
import sys
from pathlib import Path
from typing import Any

from sessionflow.core.kafka_clients import new_admin
from sessionflow.core.settings import KafkaSettings
from sessionflow.core.topic_reader import read_topic
from sessionflow.producers.simulator import simulate
from sessionflow.testing import kafka_env, unique_name
from tests.processors.conftest import CODEC, recent_plan, send
from tests.processors.harness import wait_for
from tests.sinks.sinkkit import ends, rows, running_sink, stored_up_to

_COUNT = """
import json, sys, clickhouse_connect
client = clickhouse_connect.get_client(dsn=sys.argv[1])
sql = "SELECT count(), uniqExact(partition, offset), min(offset) FROM {db}.events"
print(json.dumps(client.query(sql.replace("{db}", sys.argv[2])).result_rows[0]))
"""


def _committed(kafka: KafkaSettings, group: str) -> int:
    async def run() -> int:
        admin = new_admin(kafka)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(group)
        finally:
            await admin.close()
        return sum(meta.offset for tp, meta in offsets.items() if tp.topic == kafka.topic)

    try:
        return asyncio.run(run())
    except Exception:  # the group's coordinator not ready yet
        return 0


def _progress(kafka: KafkaSettings, group: str, goal: int, sink: subprocess.Popen[bytes]) -> Any:
    return lambda: _committed(kafka, group) >= goal or sink.poll() is not None


def _start_sink(env: dict[str, str], log: Path) -> subprocess.Popen[bytes]:
    with log.open("ab") as out:
        return subprocess.Popen(
            [sys.executable, "-m", "sessionflow.cli", "sink", "--no-http"],
            env=env,
            stdout=out,
            stderr=out,
        )


def test_a_sink_killed_again_and_again_stores_every_record_once(
    topics: KafkaSettings, tmp_path: Path
) -> None:
    rng = random.Random(20261202)
    sim = simulate(recent_plan(40, 21, 1), CODEC.encode)
    send(topics, sim)
    total = len(sim.records)
    group = unique_name("test-sink")
    dsn = f"chdb://{tmp_path / 'clickhouse'}"
    env = {
        **os.environ, **kafka_env(topics), "CLICKHOUSE_DSN": dsn,
        "CLICKHOUSE_DATABASE": "faults", "SESSIONFLOW_SINK_GROUP_ID": group,
        "SESSIONFLOW_SINK_BATCH_SIZE": "25", "SESSIONFLOW_SINK_BATCH_TIMEOUT_MS": "20",
        "SESSIONFLOW_SINK_STATE": "false", "SESSIONFLOW_DATA_DIR": str(tmp_path),
    }  # fmt: skip
    log = tmp_path / "sink.log"
    kills = 0
    while _committed(topics, group) < total:
        before = _committed(topics, group)
        sink = _start_sink(env, log)
        try:
            goal = min(total, before + rng.randint(30, 150))
            wait_for(
                _progress(topics, group, goal, sink), 120, f"the sink to store past {goal}",
                lambda: log.read_text()[-2000:],
            )  # fmt: skip
            assert sink.poll() is None, log.read_text()[-2000:]
            done = _committed(topics, group) >= total
            sink.send_signal(signal.SIGTERM if done else signal.SIGKILL)
            sink.wait(60)
        finally:
            if sink.poll() is None:  # a failed wait: never leave a sink behind
                sink.kill()
                sink.wait(60)
        kills += 1
    assert kills >= 3
    out = subprocess.run(
        [sys.executable, "-c", _COUNT, dsn, "faults"], capture_output=True, text=True, timeout=120
    )
    assert out.returncode == 0, out.stderr[-2000:]
    count, distinct, first = json.loads(out.stdout)
    assert (count, distinct, first) == (total, total, 0)


def test_clickhouse_refusing_writes_delays_but_loses_and_duplicates_nothing(
    topics: KafkaSettings, ch_client: Any, ch_database: str
) -> None:
    first = simulate(recent_plan(10, 31, 0), CODEC.encode)
    second = simulate(recent_plan(10, 32, 0), CODEC.encode)
    send(topics, first)
    db = ch_database
    with running_sink(topics, ch_client, db, "", batch_size=20, batch_timeout_ms=20) as sink:
        wait_for(lambda: stored_up_to(sink, ends(topics, topics.topic)), 60, "the first part")
        with sink.lock:
            ch_client.command(f"DETACH TABLE {db}.events")
        send(topics, second)
        wait_for(lambda: sink.stats.failures >= 2, 60, "the sink to fail and retry")
        assert sink.stats.last_error is not None
        with sink.lock:
            ch_client.command(f"ATTACH TABLE {db}.events")
        wait_for(lambda: stored_up_to(sink, ends(topics, topics.topic)), 120, "the second part")
    records = asyncio.run(read_topic(topics, topics.topic))
    assert len(records) == len(first.records) + len(second.records)
    assert rows(ch_client, f"SELECT count(), uniqExact(partition, offset) FROM {db}.events") == [
        (len(records), len(records))
    ]
