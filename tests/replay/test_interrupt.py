"""A replay stopped mid-run (Ctrl-C, or SIGKILL) and resumed ends exactly at the pure fold."""

from __future__ import annotations

import signal
from datetime import UTC, datetime
from pathlib import Path

from sessionflow.core.settings import KafkaSettings
from tests.processors.conftest import SimulationFactory, topic_records
from tests.replay.kit import (
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
)


def test_a_replay_killed_mid_run_and_resumed_equals_the_pure_fold(
    topics: KafkaSettings, simulated: SimulationFactory, app_id: str, tmp_path: Path
) -> None:
    simulated(80, 5, 2)
    records = topic_records(topics)
    env = replay_env(topics, app_id, tmp_path, SESSIONFLOW_PROCESSOR_BATCH_SIZE="10")
    child = start_replay(env, "--source", "topic", "--version", "v3")
    at_kill, _ = stop_mid_run(topics, child, f"{app_id}-v3", len(records), signal.SIGKILL)
    assert child.returncode == -signal.SIGKILL
    assert 0 < sum(at_kill.values()) < len(records)  # killed mid-run, not after the end

    resumed = run_replay(env, "--source", "topic", "--version", "v3", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert f"{len(records) - sum(at_kill.values()):,} events folded" in resumed.stdout
    assert version_states(topics, app_id, "v3") == pure_fold(records)
    assert committed(topics, f"{app_id}-v3") == ends_of(records)


def test_ctrl_c_stops_after_a_committed_batch_and_resume_finishes(
    topics: KafkaSettings, simulated: SimulationFactory, app_id: str, tmp_path: Path
) -> None:
    simulated(80, 6, 2)
    records = topic_records(topics)
    env = replay_env(topics, app_id, tmp_path, SESSIONFLOW_PROCESSOR_BATCH_SIZE="10")
    child = start_replay(env, "--source", "topic", "--version", "v2")
    at_stop, err = stop_mid_run(topics, child, f"{app_id}-v2", len(records), signal.SIGINT)
    assert child.returncode == 130
    assert err.strip().splitlines()[-1] == (
        "interrupted after a committed batch: run the same command with --version v2 "
        "--resume to continue"
    )
    assert 0 < sum(at_stop.values()) < len(records)
    assert version_states(topics, app_id, "v2") == pure_fold(prefix_at(records, at_stop))

    again = run_replay(env, "--source", "topic", "--version", "v2")
    assert again.returncode == 1
    assert again.stderr.strip().splitlines() == [
        f"error: --version v2 already exists (changelog topic {app_id}-v2-sessions-changelog); "
        "pass --resume to continue it or choose another version"
    ]
    resumed = run_replay(env, "--source", "topic", "--version", "v2", "--resume")
    assert resumed.returncode == 0, resumed.stderr
    assert version_states(topics, app_id, "v2") == pure_fold(records)
    assert committed(topics, f"{app_id}-v2") == ends_of(records)


def test_to_time_rebuilds_the_prefix_up_to_that_time(
    topics: KafkaSettings, simulated: SimulationFactory, app_id: str, tmp_path: Path
) -> None:
    simulated(40, 7, 2)
    records = topic_records(topics)
    cut_ms = sorted(r.timestamp for r in records)[len(records) // 2]
    expected, ends = prefix_until(records, cut_ms)
    at = datetime.fromtimestamp(cut_ms / 1000, UTC).isoformat()

    env = replay_env(topics, app_id, tmp_path)
    done = run_replay(env, "--source", "topic", "--version", "v2", "--to-time", at)
    assert done.returncode == 0, done.stderr
    assert 0 < len(expected) < len(records)
    assert version_states(topics, app_id, "v2") == pure_fold(expected)
    assert committed(topics, f"{app_id}-v2") == ends
