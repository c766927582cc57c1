"""Helpers of the replay tests: what a version holds, read back without the replay code."""

from __future__ import annotations

import asyncio
import os
import subprocess
import sys
from pathlib import Path
from typing import Any

from aiokafka.errors import KafkaError

from sessionflow.core.kafka_clients import new_admin
from sessionflow.core.settings import KafkaSettings
from sessionflow.processors.domain import Record, SessionState, fold
from sessionflow.processors.domain.records import from_record
from sessionflow.schemas.state_codec import StateCodec, state_topic
from sessionflow.testing import kafka_env, unique_name
from sessionflow.testing.kafka import free_ports
from tests.processors.conftest import CODEC, topic_records
from tests.processors.harness import wait_for


def version_states(kafka: KafkaSettings, app_id: str, version: str) -> dict[str, SessionState]:
    """The states in ``version``'s changelog: the latest value per key, decoded."""
    latest: dict[bytes, bytes] = {}
    for record in topic_records(kafka, state_topic(f"{app_id}-{version}")):
        assert record.key is not None
        latest[record.key] = record.value
    codec = StateCodec()
    return {k.decode(): from_record(codec.decode(v)) for k, v in latest.items()}


def changelog_partitions(kafka: KafkaSettings, app_id: str, version: str) -> dict[str, set[int]]:
    """Per session: the changelog partitions its records are in."""
    found: dict[str, set[int]] = {}
    for record in topic_records(kafka, state_topic(f"{app_id}-{version}")):
        assert record.key is not None
        found.setdefault(record.key.decode(), set()).add(record.partition)
    return found


def committed(kafka: KafkaSettings, group: str) -> dict[int, int]:
    """``group``'s committed offsets on the events topic (waits for a group coordinator).

    Offset 0 is left out: committed 0 and nothing committed both mean "from the start", and
    simulated sessions leave a partition empty now and then (session ids carry the time).
    """

    async def run() -> dict[int, int]:
        admin = new_admin(kafka)
        await admin.start()
        try:
            offsets: Any = await admin.list_consumer_group_offsets(group)
        finally:
            await admin.close()
        return {
            tp.partition: m.offset
            for tp, m in offsets.items()
            if tp.topic == kafka.topic and m.offset > 0
        }

    found: dict[int, int] = {}

    def answered() -> bool:
        try:
            found.update(asyncio.run(run()))
        except KafkaError as exc:
            if not exc.retriable:
                raise
            return False  # a fresh broker elects the offsets topic's leader first
        return True

    wait_for(answered, 60, f"the offsets of {group}")
    return found


def pure_fold(records: list[Record]) -> dict[str, SessionState]:
    """The independent expectation: one pure fold of ``records`` from nothing."""
    return fold({}, records, CODEC).states


def ends_of(records: list[Record]) -> dict[int, int]:
    """Per partition: the offset after its last record."""
    found: dict[int, int] = {}
    for r in records:
        found[r.partition] = max(found.get(r.partition, 0), r.offset + 1)
    return found


def prefix_until(records: list[Record], cut_ms: int) -> tuple[list[Record], dict[int, int]]:
    """Per partition, the records before its first one after ``cut_ms``; and where each ends."""
    kept: list[Record] = []
    ends = ends_of(records)
    for partition in sorted(ends):
        for r in (r for r in records if r.partition == partition):
            if r.timestamp > cut_ms:
                ends[partition] = r.offset
                break
            kept.append(r)
    return kept, ends


def replay_env(kafka: KafkaSettings, app_id: str, data_dir: Path, **extra: str) -> dict[str, str]:
    """The environment of a ``sessionflow replay`` child for app ``app_id`` on ``kafka``."""
    env = {**os.environ, **kafka_env(kafka)}
    env.update(SESSIONFLOW_DATA_DIR=str(data_dir), SESSIONFLOW_PROCESSOR_APP_ID=app_id, **extra)
    env.pop("CLICKHOUSE_DSN", None)
    return env


def start_replay(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    """``sessionflow replay ARGS`` as a child process (stdout and stderr piped)."""
    return subprocess.Popen(
        [sys.executable, "-m", "sessionflow.cli", "replay", *args],
        env=env, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True,
    )  # fmt: skip


def run_replay(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    """``sessionflow replay ARGS`` run to its end (at most 5 minutes)."""
    return subprocess.run(
        [sys.executable, "-m", "sessionflow.cli", "replay", *args],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip


def stop_mid_run(
    kafka: KafkaSettings, process: subprocess.Popen[str], group: str, total: int, signum: int
) -> tuple[dict[int, int], str]:
    """Send ``signum`` once ``group`` committed a tenth of ``total``; the offsets then and
    the child's stderr."""

    def progressed() -> bool:
        return process.poll() is not None or sum(committed(kafka, group).values()) >= total // 10

    wait_for(progressed, 120, f"{group} to commit a tenth of {total} events")
    process.send_signal(signum)
    _, err = process.communicate(timeout=90)
    return committed(kafka, group), err


def prefix_at(records: list[Record], offsets: dict[int, int]) -> list[Record]:
    """The records below ``offsets`` (per partition; a partition not named: none)."""
    return [r for r in records if r.offset < offsets.get(r.partition, 0)]


def with_audit_copy(env: dict[str, str], tmp_path: Path) -> dict[str, str]:
    """``env`` reading a fresh embedded ClickHouse that holds the topic's records (no sink)."""
    chdb, database = tmp_path / "chdb", unique_name("test", separator="_")
    copied = subprocess.run(
        [sys.executable, "-m", "tests.replay.audit_copy", str(chdb), database],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert copied.returncode == 0, copied.stderr
    return {
        **env, "CLICKHOUSE_DSN": f"chdb://{chdb}", "CLICKHOUSE_DATABASE": database,
        # no sink here: a port nothing answers on, not another run's sink endpoint
        "SESSIONFLOW_SINK_HTTP_PORT": str(free_ports(1)[0]),
    }  # fmt: skip
