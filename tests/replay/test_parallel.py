"""``replay --jobs N``: the partitions folded in N processes give what one process gives."""

from __future__ import annotations

import os
import re
import signal
import subprocess
from pathlib import Path

from sessionflow.core.settings import KafkaSettings
from sessionflow.processors.domain import Record
from sessionflow.processors.replay.parallel import deal
from tests.processors.conftest import SimulationFactory, topic_records
from tests.processors.harness import wait_for
from tests.replay.kit import (
    changelog_partitions,
    committed,
    ends_of,
    pure_fold,
    replay_env,
    run_replay,
    start_replay,
    version_states,
)


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
    records = topic_records(topics)
    env = replay_env(topics, app_id, tmp_path, SESSIONFLOW_PROCESSOR_BATCH_SIZE="10")
    child = start_replay(env, "--source", "topic", "--version", "v2", "--jobs", "2")
    at_stop = _stop_mid_run(topics, child, f"{app_id}-v2", len(records), signal.SIGINT)
    assert child.returncode == 130
    assert 0 < sum(at_stop.values()) < len(records)
    assert version_states(topics, app_id, "v2") == pure_fold(_prefix(records, at_stop))

    resumed = run_replay(env, "--source", "topic", "--version", "v2", "--resume", "--jobs", "4")
    assert resumed.returncode == 0, resumed.stderr
    folded = len(records) - sum(at_stop.values())
    assert f"version v2: {folded:,} events folded" in resumed.stdout
    assert version_states(topics, app_id, "v2") == pure_fold(records)
    assert committed(topics, f"{app_id}-v2") == ends_of(records)


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
    _stop_mid_run(topics, child, f"{app_id}-v3", len(records), signal.SIGKILL)
    assert child.returncode == -signal.SIGKILL
    wait_for(lambda: not any(_alive(pid) for pid in jobs), 90, "the orphaned jobs to stop")

    resumed = run_replay(env, "--source", "topic", "--version", "v3", "--resume", "--jobs", "2")
    assert resumed.returncode == 0, resumed.stderr
    folded = re.search(r"version v3: ([\d,]+) events folded", resumed.stdout)
    assert folded is not None, resumed.stdout
    assert 0 < int(folded[1].replace(",", "")) < len(records)  # killed mid-run: work was left
    assert version_states(topics, app_id, "v3") == pure_fold(records)
    assert committed(topics, f"{app_id}-v3") == ends_of(records)


def test_jobs_apply_to_the_topic_source_only(
    topics: KafkaSettings, app_id: str, tmp_path: Path
) -> None:
    env = replay_env(topics, app_id, tmp_path, CLICKHOUSE_DSN=f"chdb://{tmp_path / 'ch'}")
    refused = run_replay(env, "--source", "clickhouse", "--jobs", "2")
    assert refused.returncode == 2
    assert refused.stderr.strip().splitlines() == [
        "error: --jobs applies to --source topic only "
        "(see `python -m sessionflow.cli replay --help`)"
    ]


def _stop_mid_run(
    kafka: KafkaSettings, process: subprocess.Popen[str], group: str, total: int, signum: int
) -> dict[int, int]:
    """Send ``signum`` once ``group`` committed a tenth of ``total``; the offsets after."""

    def progressed() -> bool:
        return process.poll() is not None or sum(committed(kafka, group).values()) >= total // 10

    wait_for(progressed, 120, f"{group} to commit a tenth of {total} events")
    process.send_signal(signum)
    process.communicate(timeout=90)
    return committed(kafka, group)


def _prefix(records: list[Record], offsets: dict[int, int]) -> list[Record]:
    return [r for r in records if r.offset < offsets.get(r.partition, 0)]


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
