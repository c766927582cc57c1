"""`sessionflow kafka up|down|status` as a user runs it: real jars, real JVM, real broker."""

from __future__ import annotations

import asyncio
import os
import shutil
import socket
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest
from aiokafka.admin import NewTopic

from sessionflow.core.errors import InfrastructureError
from sessionflow.core.kafka_clients import new_admin, new_producer
from sessionflow.core.local_kafka.launcher import (
    LocalKafka,
    LocalKafkaError,
    fetch_metadata,
    random_cluster_id,
)
from sessionflow.core.local_kafka.resolver import kafka_libs
from sessionflow.core.local_kafka.settings import LocalKafkaSettings
from sessionflow.core.settings import KafkaSettings, PathSettings
from sessionflow.testing.kafka import free_ports


@pytest.fixture
def cli_env(tmp_path: Path) -> dict[str, str]:
    env = dict(os.environ)
    port, controller_port = free_ports(2)
    env.update(
        SESSIONFLOW_DATA_DIR=str(tmp_path / "data"),
        SESSIONFLOW_CACHE_DIR=str(PathSettings().cache_dir),
        SESSIONFLOW_KAFKA_PORT=str(port),
        SESSIONFLOW_KAFKA_CONTROLLER_PORT=str(controller_port),
    )
    return env


def run_cli(env: dict[str, str], *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, "-m", "sessionflow.cli", *args]
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=180)


def broker_pid(status_line: str) -> int:
    return int(status_line.split("(pid ")[1].split(",")[0].split(")")[0])


def hotspot_files(pid: int) -> list[Path]:
    """What HotSpot itself writes by pid in /tmp, wherever java.io.tmpdir points: its perf
    data (``hsperfdata_<user>/<pid>``) and attach files (``.java_pid<pid>``, ``.attach_pid``)."""
    tmp = Path("/tmp")
    return [
        *tmp.glob(f"hsperfdata_*/{pid}"),
        *tmp.glob(f".java_pid{pid}"),
        *tmp.glob(f".attach_pid{pid}"),
    ]


def extracted_native_libraries(pid: int) -> list[Path]:
    """Native libraries the JVM unpacked into its temp dir and mapped, read from the kernel."""
    maps = Path(f"/proc/{pid}/maps").read_text().splitlines()
    paths = {line.split(maxsplit=5)[5].removesuffix(" (deleted)") for line in maps if "jni" in line}
    return sorted(Path(path) for path in paths if "/libzstd-jni" in path)


async def send_zstd_record(bootstrap: str) -> None:
    """One zstd batch: the broker decompresses it to validate, loading zstd-jni (temp dir)."""
    kafka = KafkaSettings(bootstrap_servers=bootstrap)
    admin = new_admin(kafka)
    await admin.start()
    try:
        await admin.create_topics([NewTopic("jvm-temp-probe", 1, 1)])
    finally:
        await admin.close()
    async with new_producer(kafka, compression_type="zstd") as producer:
        await producer.send_and_wait("jvm-temp-probe", b"x" * 1000, key=b"k")


def broker_processes(marker: str) -> list[str]:
    found = subprocess.run(["pgrep", "-f", marker], capture_output=True, text=True)
    return found.stdout.split()


def test_up_twice_then_down_leaves_nothing_behind(cli_env: dict[str, str]) -> None:
    data_dir = cli_env["SESSIONFLOW_DATA_DIR"]
    home = Path(data_dir) / f"kafka-{cli_env['SESSIONFLOW_KAFKA_PORT']}"

    first = run_cli(cli_env, "kafka", "up")
    second = run_cli(cli_env, "kafka", "up")
    bootstrap = f"127.0.0.1:{cli_env['SESSIONFLOW_KAFKA_PORT']}"
    reachable = fetch_metadata(bootstrap)
    status_up = run_cli(cli_env, "kafka", "status")
    pid = broker_pid(status_up.stdout)
    cmdline = Path(f"/proc/{pid}/cmdline").read_bytes().split(b"\0")
    asyncio.run(send_zstd_record(bootstrap))
    unpacked = extracted_native_libraries(pid)
    down = run_cli(cli_env, "kafka", "down")
    status_down = run_cli(cli_env, "kafka", "status")

    assert first.returncode == 0, first.stderr
    assert "started" in first.stdout
    assert second.returncode == 0, second.stderr
    assert "already running" in second.stdout
    assert reachable
    assert status_up.returncode == 0
    assert down.returncode == 0
    assert "stopped" in down.stdout
    assert status_down.returncode == 1
    assert broker_processes(data_dir) == []
    assert b"-XX:-UsePerfData" in cmdline
    assert hotspot_files(pid) == []
    # The JVM's temp dir, as observed: where it unpacked zstd-jni. It lies in the broker's
    # home, not in /tmp, and stopping the broker leaves it empty.
    assert len(unpacked) == 1, unpacked
    jvm_temp_dir = unpacked[0].parent
    assert jvm_temp_dir.is_relative_to(home), jvm_temp_dir
    assert list(jvm_temp_dir.iterdir()) == []
    assert not fetch_metadata(bootstrap, timeout_s=1.0)


def test_port_taken_is_one_clear_line(cli_env: dict[str, str]) -> None:
    with socket.socket() as blocker:
        blocker.bind(("127.0.0.1", int(cli_env["SESSIONFLOW_KAFKA_PORT"])))
        blocker.listen()
        result = run_cli(cli_env, "kafka", "up")

    assert result.returncode == 1
    assert result.stderr.strip().count("\n") == 0
    assert "already in use" in result.stderr
    assert "Traceback" not in result.stderr


def test_missing_java_is_one_clear_line(cli_env: dict[str, str], tmp_path: Path) -> None:
    cli_env["PATH"] = str(tmp_path)  # no java, no mvn on it
    result = run_cli(cli_env, "kafka", "up")

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: `java` not found on PATH: install a Java 17+ runtime to run the local Kafka"
    )


def test_missing_maven_on_a_cold_cache_is_one_clear_line(
    cli_env: dict[str, str], tmp_path: Path
) -> None:
    java = shutil.which("java")
    assert java is not None
    only_java = tmp_path / "bin"
    only_java.mkdir()
    (only_java / "java").symlink_to(java)
    cli_env.update(PATH=str(only_java), SESSIONFLOW_CACHE_DIR=str(tmp_path / "cold-cache"))

    result = run_cli(cli_env, "kafka", "up")

    assert result.returncode == 1
    assert result.stderr.strip() == (
        "error: `mvn` not found on PATH: "
        "install Apache Maven (apt-get install maven) to fetch Kafka"
    )


def test_missing_maven_is_a_typed_error(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setenv("PATH", str(tmp_path))
    with pytest.raises(InfrastructureError, match=r"`mvn` not found on PATH"):
        kafka_libs(tmp_path / "empty-cache", "4.4.0")


def test_broker_that_dies_at_start_up_is_reported(tmp_path: Path) -> None:
    paths = PathSettings(cache_dir=PathSettings().cache_dir, data_dir=tmp_path)
    ports = free_ports(2)
    broker = LocalKafka(
        LocalKafkaSettings(port=ports[0], controller_port=ports[1], heap_mb=128),
        paths,
    )
    (broker.home / "data").mkdir(parents=True)
    (broker.home / "data" / "meta.properties").write_text("version=1\nnode.id=99\n")  # corrupt
    try:
        with pytest.raises(LocalKafkaError, match="exited during start-up"):
            broker.up()
    finally:
        broker.down()
    assert broker_processes(str(broker.home)) == []


@pytest.fixture(autouse=True)
def _no_broker_left(cli_env: dict[str, str]) -> Iterator[None]:
    yield
    run_cli(cli_env, "kafka", "down")


def test_cluster_ids_never_look_like_options() -> None:
    ids = {random_cluster_id() for _ in range(5000)}  # a '-' start is 1 in 64 per draw

    assert len(ids) == 5000
    assert not any(cluster_id.startswith("-") for cluster_id in ids)
    assert all(len(cluster_id) == 22 for cluster_id in ids)
