"""``replay --jobs N``: the partitions folded in N processes give what one process gives."""

from __future__ import annotations

import asyncio
import os
import re
import signal
from pathlib import Path
from typing import Any

import pytest

from sessionflow.core.errors import InfrastructureError
from sessionflow.core.settings import KafkaSettings
from sessionflow.processors.replay.clickhouse_source import AuditFilter, ClickHouseSource
from sessionflow.processors.replay.parallel import Share, deal, rebuild_fed, rebuild_in_processes
from sessionflow.processors.replay.rebuild import RebuildReport, Target
from sessionflow.processors.replay.sources import StartAt
from sessionflow.producers.simulator import simulate
from sessionflow.testing.kafka import free_ports
from tests.processors.conftest import CODEC, SimulationFactory, recent_plan, topic_records
from tests.processors.harness import wait_for
from tests.replay.kit import (
    changelog_partitions,
    committed,
    ends_of,
    prefix_at,
    prefix_until,
    pure_fold,
    replay_env,
    run_replay,
    start_replay,
    stop_mid_run,
    version_states,
    with_audit_copy,
)
from tests.sinks.sinkkit import fill


def test_deal_gives_every_partition_to_exactly_one_job() -> None:
    partitions = [0, 1, 2, 3, 4, 5]
    for jobs in (1, 2, 4, 6, 9):
        shares = deal(partitions, jobs)
        assert len(shares) == min(jobs, len(partitions))
        assert sorted(p for share in shares for p in share) == partitions
        assert all(shares)


def test_a_rebuild_in_three_processes_equals_the_pure_fold(
    topics: KafkaSettings, simulated: SimulationFactory, app_id: str, tmp_path: Path
) -> None:
    simulated(60, 21, 2)
    records = topic_records(topics)
    env = replay_env(topics, app_id, tmp_path)
    done = run_replay(env, "--source", "topic", "--version", "v2", "--jobs", "3")
    assert done.returncode == 0, done.stderr
    assert f"version v2: {len(records):,} events folded" in done.stdout
    assert version_states(topics, app_id, "v2") == pure_fold(records)
    assert committed(topics, f"{app_id}-v2") == ends_of(records)
    by_session = {r.key.decode(): r.partition for r in records if r.key is not None}
    placed = changelog_partitions(topics, app_id, "v2")
    assert placed == {sid: {by_session[sid]} for sid in placed}


def test_ctrl_c_stops_every_job_after_a_committed_batch_and_a_resume_finishes(
    topics: KafkaSettings, simulated: SimulationFactory, app_id: str, tmp_path: Path
) -> None:
    simulated(80, 22, 2)
    env = replay_env(topics, app_id, tmp_path, SESSIONFLOW_PROCESSOR_BATCH_SIZE="10")
    _interrupt_and_resume(topics, app_id, env, "topic")


def test_jobs_of_a_killed_replay_stop_and_a_resume_equals_the_pure_fold(
    topics: KafkaSettings, simulated: SimulationFactory, app_id: str, tmp_path: Path
) -> None:
    simulated(80, 23, 2)
    records = topic_records(topics)
    env = replay_env(topics, app_id, tmp_path, SESSIONFLOW_PROCESSOR_BATCH_SIZE="10")
    child = start_replay(env, "--source", "topic", "--version", "v3", "--jobs", "2")
    jobs: list[int] = []

    def started() -> bool:
        jobs[:] = _children(child.pid)
        return len(jobs) >= 2 or child.poll() is not None

    wait_for(started, 60, "the replay to start its two jobs")
    stop_mid_run(topics, child, f"{app_id}-v3", len(records), signal.SIGKILL)
    assert child.returncode == -signal.SIGKILL
    wait_for(lambda: not any(_alive(pid) for pid in jobs), 90, "the orphaned jobs to stop")

    resumed = run_replay(env, "--source", "topic", "--version", "v3", "--resume", "--jobs", "2")
    assert resumed.returncode == 0, resumed.stderr
    folded = re.search(r"version v3: ([\d,]+) events folded", resumed.stdout)
    assert folded is not None, resumed.stdout
    assert 0 < int(folded[1].replace(",", "")) < len(records)  # killed mid-run: work was left
    assert version_states(topics, app_id, "v3") == pure_fold(records)
    assert committed(topics, f"{app_id}-v3") == ends_of(records)


def test_jobs_do_not_go_with_one_session(
    topics: KafkaSettings, app_id: str, tmp_path: Path
) -> None:
    env = replay_env(topics, app_id, tmp_path, CLICKHOUSE_DSN=f"chdb://{tmp_path / 'ch'}")
    refused = run_replay(env, "--source", "clickhouse", "--session", "s-1", "--jobs", "2")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "error: --jobs does not go with --session (see `python -m sessionflow.cli replay --help`)"
    ]


def test_clickhouse_rows_fed_to_two_jobs_rebuild_the_fold_of_the_topic(
    topics: KafkaSettings, ch_client: Any, ch_database: str, app_id: str, tmp_path: Path
) -> None:
    fill(topics, ch_client, ch_database, tmp_path, simulate(recent_plan(40, 25, 2), CODEC.encode))
    records = topic_records(topics)

    def fed(version: str, until_ms: int | None = None) -> RebuildReport:
        target = Target(app_id, version)
        shares = [
            Share(topics, target, share, batch_size=50, fed=True)
            for share in deal(list(range(6)), 2)
        ]
        source = ClickHouseSource(
            ch_client, ch_database, topics.topic, where=AuditFilter(until_ms=until_ms),
            batch_size=50, interleave=True,
        )  # fmt: skip
        return asyncio.run(rebuild_fed(source, shares))

    report = fed("v2")
    assert (report.events, report.interrupted) == (len(records), False)
    assert version_states(topics, app_id, "v2") == pure_fold(records)
    assert committed(topics, f"{app_id}-v2") == ends_of(records)

    cut_ms = sorted(r.timestamp for r in records)[len(records) // 3]
    prefix, ends = prefix_until(records, cut_ms)
    fed("v3", cut_ms)
    assert 0 < len(prefix) < len(records)
    assert version_states(topics, app_id, "v3") == pure_fold(prefix)
    assert committed(topics, f"{app_id}-v3") == ends


def test_replay_from_clickhouse_with_jobs_on_the_command_line_and_resumed(
    topics: KafkaSettings, simulated: SimulationFactory, app_id: str, tmp_path: Path
) -> None:
    simulated(60, 26, 2)
    env = replay_env(topics, app_id, tmp_path, SESSIONFLOW_PROCESSOR_BATCH_SIZE="10")
    _interrupt_and_resume(topics, app_id, with_audit_copy(env, tmp_path), "clickhouse")


def _interrupt_and_resume(
    topics: KafkaSettings, app_id: str, env: dict[str, str], source: str
) -> None:
    """Ctrl-C a ``--jobs 2`` replay of ``source`` mid-run, check it, resume with ``--jobs 3``."""
    records = topic_records(topics)
    child = start_replay(env, "--source", source, "--version", "v2", "--jobs", "2")
    at_stop, _ = stop_mid_run(topics, child, f"{app_id}-v2", len(records), signal.SIGINT)
    assert child.returncode == 130
    assert 0 < sum(at_stop.values()) < len(records)
    assert version_states(topics, app_id, "v2") == pure_fold(prefix_at(records, at_stop))

    resumed = run_replay(env, "--source", source, "--version", "v2", "--resume", "--jobs", "3")
    assert resumed.returncode == 0, resumed.stderr
    folded = len(records) - sum(at_stop.values())
    assert f"version v2: {folded:,} events folded" in resumed.stdout
    assert version_states(topics, app_id, "v2") == pure_fold(records)
    assert committed(topics, f"{app_id}-v2") == ends_of(records)


def _children(pid: int) -> list[int]:
    """The rebuild jobs ``pid`` spawned (not multiprocessing's resource tracker)."""
    found: list[int] = []
    for task in Path(f"/proc/{pid}/task").glob("*/children"):
        for child in task.read_text().split():
            cmdline = Path(f"/proc/{child}/cmdline")
            if cmdline.exists() and b"spawn_main" in cmdline.read_bytes():
                found.append(int(child))
    return found


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().rsplit(")", 1)[1].split()[0] != "Z"


def test_a_failing_job_stops_the_others_and_is_named(
    topics: KafkaSettings, simulated: SimulationFactory, app_id: str
) -> None:
    simulated(40, 24, 2)
    target = Target(app_id, "v2")
    nowhere = f"127.0.0.1:{free_ports(1)[0]}"
    unreachable = topics.model_copy(update={"bootstrap_servers": nowhere})
    shares = [
        Share(topics, target, (0, 2, 4), StartAt(), batch_size=10),
        Share(unreachable, target, (1, 3, 5), StartAt(), batch_size=10),
    ]
    with pytest.raises(InfrastructureError) as failed:
        asyncio.run(rebuild_in_processes(shares))
    message = str(failed.value)
    assert message.startswith("rebuild job of partitions 1,3,5 failed: ")
    assert f"cannot connect to {nowhere}" in message
    assert message.endswith("--resume continues the version")
    assert set(committed(topics, f"{app_id}-v2")) <= {0, 2, 4}
