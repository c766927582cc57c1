"""``sessionflow up | status | down`` against the test's broker and the embedded ClickHouse.

The pipeline runs as real processes (processor worker, sink) under the real supervisor; the
figures ``status`` reports are checked against the simulator's ground truth; a component
killed with SIGKILL is restarted and reported; ``down`` and Ctrl-C leave nothing running.
"""

from __future__ import annotations

import json
import os
import re
import shutil
import signal
import subprocess
import sys
import time
import urllib.request
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from prometheus_client.parser import text_string_to_metric_families

from sessionflow.core.settings import KafkaSettings
from sessionflow.core.supervisor import pid_alive
from sessionflow.testing import unique_name
from tests.infra.pipelinekit import pipeline_environment
from tests.infra.test_compose import grafana_metric_names, grafana_tables

CLI = [sys.executable, "-m", "sessionflow.cli"]


@pytest.fixture
def pipeline_env(kafka: KafkaSettings, tmp_path: Path) -> dict[str, str]:
    """The environment of a pipeline of this test's own: topics, data dir, ports, group."""
    return quiet_pipeline(kafka, tmp_path)


def quiet_pipeline(kafka: KafkaSettings, work: Path) -> dict[str, str]:
    """A pipeline environment without plugins and timers (their events would change the
    counts the tests check)."""
    return pipeline_environment(
        kafka, work,
        SESSIONFLOW_PROCESSOR_PLUGINS="",
        SESSIONFLOW_PROCESSOR_APPROVAL_TIMEOUT_S="0",
        SESSIONFLOW_PROCESSOR_INACTIVITY_TIMEOUT_S="0",
    )  # fmt: skip


def cli(env: dict[str, str], *args: str, timeout: float = 240) -> subprocess.CompletedProcess[str]:
    return subprocess.run([*CLI, *args], env=env, capture_output=True, text=True, timeout=timeout)


def status(env: dict[str, str]) -> dict[str, Any]:
    done = cli(env, "status", "--format", "json", timeout=60)
    data: dict[str, Any] = json.loads(done.stdout)
    return data


def all_ready(env: dict[str, str]) -> bool:
    components = status(env)["components"]
    return bool(components) and all(c["ready"] for c in components)


def wait_for(condition: Callable[[], bool], what: str, timeout_s: float = 120.0) -> None:
    deadline = time.monotonic() + timeout_s
    while not condition():
        assert time.monotonic() < deadline, f"timed out waiting for {what}"
        time.sleep(0.5)  # polling interval of a condition wait


@pytest.fixture(scope="module")
def running(
    kafka_settings: KafkaSettings, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[dict[str, str]]:
    """A detached pipeline shared by this module's tests (the ground-truth test first, then
    the restart test), stopped (and checked stopped) after them."""
    topic = unique_name("up-events")
    kafka = kafka_settings.model_copy(update={"topic": topic, "dlq_topic": f"{topic}.dlq"})
    env = quiet_pipeline(kafka, tmp_path_factory.mktemp("up"))
    started = cli(env, "up", "--detach", "--timeout", "180")
    assert started.returncode == 0, started.stderr + started.stdout
    try:
        yield env
    finally:
        before = status(env)
        stopped = cli(env, "down")
        assert stopped.returncode == 0, stopped.stderr
        for component in before.get("components", []):
            assert not pid_alive(component.get("pid")), component


def test_up_status_down_counts_match_the_ground_truth(
    running: dict[str, str], tmp_path: Path
) -> None:
    first = status(running)
    assert first["running"]
    assert [c["name"] for c in first["components"]] == ["processor-0", "sink"]
    assert all(c["ready"] for c in first["components"])
    truth_file = tmp_path / "truth.json"
    sent = cli(running, "simulate", "--sessions", "40", "--anomalies", "--anomaly-count", "2",
               "--ground-truth", str(truth_file))  # fmt: skip
    assert sent.returncode == 0, sent.stderr
    truth = json.loads(truth_file.read_text())
    expected = {kind: n for kind, n in truth["injected"].items() if n}

    def settled() -> bool:
        now = status(running)
        lags = now["lag"]
        return (
            bool(lags)
            and all(sum(g.values()) == 0 for g in lags.values())
            and (now["dead_letters"] == expected)
        )

    wait_for(settled, "lag 0 in both groups and every dead letter on the DLQ")
    groups = set(status(running)["lag"])
    assert groups == {f"app-{running['KAFKA_TOPIC']}-v1", f"sink-{running['KAFKA_TOPIC']}"}
    urls = status(running)["urls"]
    assert set(urls) == {"processor-0 state_api", "processor-0 metrics", "sink clickhouse",
                         "sink dashboard", "sink metrics"}  # fmt: skip
    assert sql(running, "SELECT count() AS n FROM events") == [{"n": truth["records"]}]
    check_metrics(running, truth)
    check_dashboard(running, truth)
    check_grafana_references(running)


def sql(env: dict[str, str], query: str) -> list[dict[str, Any]]:
    done = cli(env, "query", query, "--format", "json")
    assert done.returncode == 0, done.stderr
    rows: list[dict[str, Any]] = json.loads(done.stdout)
    return rows


def scrape(url: str) -> dict[str, float]:
    """Every sample at ``url`` as ``name{label=value,...}`` -> value."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    samples = {}
    for family in text_string_to_metric_families(text):
        for sample in family.samples:
            labels = ",".join(f"{k}={v}" for k, v in sorted(sample.labels.items()))
            samples[f"{sample.name}{{{labels}}}"] = sample.value
    return samples


def check_metrics(env: dict[str, str], truth: dict[str, Any]) -> None:
    """Both components' /metrics against the ground truth and ClickHouse's own counts."""
    anomalous = [a["event_id"] for a in truth["anomalies"]
                 if a["event_id"] and a["kind"] != "duplicate_event_id"]  # fmt: skip
    ids = ",".join(f"'{event_id}'" for event_id in anomalous)
    by_type = {
        row["event_type"]: row["n"]
        for row in sql(
            env,
            "SELECT event_type, toInt64(count()) AS n FROM events_unique "
            f"WHERE event_id NOT IN ({ids}) GROUP BY event_type",
        )
    }
    assert sum(by_type.values()) == truth["valid_events"]
    (timed,) = sql(env, "SELECT toInt64(count()) AS n FROM events_unique WHERE event_type IN "
                        "('tool_call.completed', 'tool_call.failed') AND duration_ms IS NOT NULL "
                        f"AND event_id NOT IN ({ids})")  # fmt: skip
    worker = scrape(f"http://127.0.0.1:{env['SESSIONFLOW_PROCESSOR_WEB_PORT']}/metrics")
    processed = {key.split("=")[1].rstrip("}"): value for key, value in worker.items()
                 if key.startswith("sessionflow_events_processed_total{")}  # fmt: skip
    assert processed == by_type
    assert worker["session_created_total{}"] == by_type["session.created"]
    assert worker["message_count_total{}"] == by_type["message.created"]
    assert worker["tool_call_count_total{}"] == by_type["tool_call.pending"]
    assert worker["tool_execution_time_seconds_count{}"] == timed["n"]
    letters = {key.split("=")[1].rstrip("}"): value for key, value in worker.items()
               if key.startswith("sessionflow_dead_letters_total{")}  # fmt: skip
    assert letters == {kind: n for kind, n in truth["injected"].items() if n}
    assert sum(v for k, v in worker.items() if k.startswith("sessionflow_consumer_lag{")) == 0
    sink = scrape(f"http://127.0.0.1:{env['SESSIONFLOW_SINK_HTTP_PORT']}/metrics")
    topic = env["KAFKA_TOPIC"]
    assert sink[f"sessionflow_sink_records_total{{topic={topic}}}"] == truth["records"]
    assert (
        sink[f"sessionflow_sink_records_total{{topic={topic}.dlq}}"]
        == (truth["dead_letters_expected"])
    )
    assert (
        sink["sessionflow_sink_batch_seconds_count{}"] == sink["sessionflow_sink_inserts_total{}"]
    )


def test_a_killed_component_is_restarted_and_reported(running: dict[str, str]) -> None:
    sink = next(c for c in status(running)["components"] if c["name"] == "sink")
    os.kill(sink["pid"], signal.SIGKILL)

    def restarted() -> bool:
        now = next(c for c in status(running)["components"] if c["name"] == "sink")
        return now["restarts"] == 1 and now["ready"] and now["pid"] != sink["pid"]

    wait_for(restarted, "the sink to be restarted and answer again")
    now = next(c for c in status(running)["components"] if c["name"] == "sink")
    assert now["last_exit"] == -signal.SIGKILL
    log = Path(running["SESSIONFLOW_DATA_DIR"]) / "pipeline" / "logs" / "up.log"
    assert "sink exited with code -9" in log.read_text()


def test_ctrl_c_on_a_foreground_up_stops_everything(pipeline_env: dict[str, str]) -> None:
    up = subprocess.Popen([*CLI, "up"], env=pipeline_env, stdout=subprocess.PIPE,
                          stderr=subprocess.STDOUT, text=True)  # fmt: skip
    try:
        wait_for(lambda: all_ready(pipeline_env), "the foreground pipeline to answer", 180)
        pids = [c["pid"] for c in status(pipeline_env)["components"]]
        up.send_signal(signal.SIGINT)
        assert up.wait(120) == 0
    finally:
        if up.poll() is None:
            up.kill()
    assert all(not pid_alive(pid) for pid in pids)
    after = cli(pipeline_env, "status")
    assert after.returncode == 1
    assert "not running" in after.stdout


def test_up_refuses_a_port_in_use_before_starting_anything(pipeline_env: dict[str, str]) -> None:
    import socket

    with socket.socket() as taken:
        taken.bind(("127.0.0.1", int(pipeline_env["SESSIONFLOW_SINK_HTTP_PORT"])))
        taken.listen()
        done = cli(pipeline_env, "up", "--detach")
    assert done.returncode != 0
    lines = done.stderr.strip().splitlines()
    assert len(lines) == 1, done.stderr
    assert "SESSIONFLOW_SINK_HTTP_PORT" in lines[0]
    assert "Traceback" not in done.stderr
    assert not (Path(pipeline_env["SESSIONFLOW_DATA_DIR"]) / "pipeline" / "state.json").exists()


def chromium() -> str:
    """Debian's chromium (``.ci/run`` installs it); skipped where it is missing outside CI."""
    found = shutil.which("chromium")
    if found is None:
        if os.environ.get("CI"):
            pytest.fail("chromium is not installed (apt-get install chromium)")
        pytest.skip("chromium is not installed")
    return found


def rendered(url: str, tmp_dir: Path) -> dict[str, str]:
    """The page at ``url`` rendered by headless chromium: every ``data-k`` element's text."""
    flags = ["--headless", "--no-sandbox", "--disable-gpu", "--disable-quic", "--no-first-run",
             "--disable-background-networking", "--disable-component-update", "--disable-sync",
             f"--user-data-dir={tmp_dir}", "--virtual-time-budget=10000", "--dump-dom"]  # fmt: skip
    done = subprocess.run([chromium(), *flags, url], capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr[-2000:]
    return dict(re.findall(r'data-k="([^"]+)"[^>]*>([^<]*)<', done.stdout))


def number(text: str) -> float:
    return float(text.replace(",", ""))


def check_dashboard(env: dict[str, str], truth: dict[str, Any]) -> None:
    """The dashboard as chromium renders it against ClickHouse and the processors' state."""
    shown = rendered(f"http://127.0.0.1:{env['SESSIONFLOW_SINK_HTTP_PORT']}/dashboard",
                     Path(env["SESSIONFLOW_DATA_DIR"]) / "chromium")  # fmt: skip
    assert shown["loaded"].startswith("updated"), shown["loaded"]
    assert number(shown["totals.records"]) == truth["records"]
    assert number(shown["totals.dead_letters"]) == truth["dead_letters_expected"]
    letters = {k.split(".", 1)[1]: number(v) for k, v in shown.items()
               if k.startswith("dead_letters.")}  # fmt: skip
    assert letters == {kind: n for kind, n in truth["injected"].items() if n}
    by_type = {row["event_type"]: row["n"] for row in sql(
        env, "SELECT event_type, toInt64(count()) AS n FROM events "
             "WHERE decode_error IS NULL GROUP BY event_type")}  # fmt: skip
    events = {k.split(".", 1)[1]: number(v) for k, v in shown.items() if k.startswith("events.")}
    assert events == by_type
    calls = {row["tool_name"]: row["n"] for row in sql(
        env, "SELECT tool_name, toInt64(count()) AS n FROM events WHERE event_type IN "
             "('tool_call.completed', 'tool_call.failed') AND duration_ms IS NOT NULL "
             "GROUP BY tool_name")}  # fmt: skip
    shown_calls = {k.split(".")[1]: number(v) for k, v in shown.items()
                   if k.startswith("tool.") and k.endswith(".calls")}  # fmt: skip
    assert shown_calls == calls
    url = f"http://127.0.0.1:{env['SESSIONFLOW_PROCESSOR_WEB_PORT']}/stats"
    with urllib.request.urlopen(url, timeout=10) as response:
        state = json.loads(response.read())
    assert number(shown["totals.sessions"]) == state["sessions"]
    assert number(shown["totals.active_sessions"]) == state["active_sessions"]
    assert number(shown["totals.pending_approvals"]) == state["pending_approvals"]
    lags = [number(v) for k, v in shown.items() if k.startswith("lag.")]
    assert len(lags) == 4
    assert sum(lags) == 0


def metric_names(url: str) -> set[str]:
    """Every metric name served at ``url`` (families without samples too)."""
    with urllib.request.urlopen(url, timeout=10) as response:
        text = response.read().decode()
    names = set()
    for family in text_string_to_metric_families(text):
        suffixes = {"counter": ["_total"], "histogram": ["_bucket", "_sum", "_count"]}
        names |= {family.name + s for s in suffixes.get(family.type, [""])}
        names |= {sample.name for sample in family.samples}
    return names


def check_grafana_references(env: dict[str, str]) -> None:
    """Every metric the compose Grafana dashboard plots is served, every table it reads exists."""
    served = metric_names(f"http://127.0.0.1:{env['SESSIONFLOW_PROCESSOR_WEB_PORT']}/metrics")
    served |= metric_names(f"http://127.0.0.1:{env['SESSIONFLOW_SINK_HTTP_PORT']}/metrics")
    assert grafana_metric_names() - served == set()
    tables = {row["name"] for row in sql(
        env, "SELECT name FROM system.tables WHERE database = 'sessionflow'")}  # fmt: skip
    assert grafana_tables() - tables == set()
    assert len(grafana_tables()) >= 4
