"""Every bad input is one line and a non-zero exit, before any side effect.

Each case runs the real CLI (``python -m sessionflow.cli``) as a subprocess, so a traceback
would show, with its own empty data and cache dirs and a reachable broker whose topic exists:
a command that failed to stop early would really start, create or send something. Per case:
the exit code, exactly one non-empty stderr line starting ``error:`` that names the
setting/option/line and the problem, no ``Traceback``, no secret echoed, nothing written to the
data or cache dir, no process started on them. For the whole table: no topic created and the
topic's end offsets unchanged. The cases run in parallel threads (each is ~1 s of start-up);
option values click rejects while parsing (nothing of ours has run yet) are checked in-process
through the same ``main()``, which is much cheaper.
"""

from __future__ import annotations

import asyncio
import contextlib
import io
import json
import os
import subprocess
import sys
import tempfile
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from unittest import mock

import pytest

from sessionflow.cli.main import main
from sessionflow.core.kafka_clients import new_admin
from sessionflow.core.settings import KafkaSettings
from sessionflow.core.topic_reader import offset_bounds
from sessionflow.producers.settings import TopicSettings
from sessionflow.producers.topics import create_topics
from sessionflow.testing import kafka_env, unique_name
from sessionflow.testing.kafka import free_ports

UNREACHABLE = f"127.0.0.1:{free_ports(1)[0]}"  # a loopback port nothing listens on
MISSING_TOPIC = unique_name("no-such-topic")
SECRET = "hunter2-do-not-print"


@dataclass(frozen=True)
class Case:
    """One bad input: the command line, the environment it changes, what the error names."""

    id: str
    args: list[str]
    names: list[str]  # every one must appear in the one stderr line
    env: dict[str, str] = field(default_factory=dict)
    code: int = 1  # 2 for click usage errors
    stdin: bytes = b""
    in_process: bool = False  # rejected by click's option parsing: no subprocess needed


def option_case(case_id: str, args: list[str], names: list[str]) -> Case:
    """A value click's option parsing rejects: usage error (exit 2), checked in-process."""
    return Case(case_id, args, names, code=2, in_process=True)


def _event(message_id: str, content: str = "hi", role: str = "user") -> str:
    return json.dumps(
        {
            "event_type": "message.created",
            "session_id": "sess_20260101_090000_badinp",
            "payload": {"message_id": message_id, "role": role, "content": content},
        }
    )


FILES: dict[str, bytes] = {
    "good.jsonl": (_event("m1") + "\n").encode(),
    "binary.dat": b"\x89PNG\r\n\x1a\n\x00\x00\xff\xfe\x00garbage",
    "deep.jsonl": ("[" * 100_000 + "]" * 100_000 + "\n").encode(),
    "empty.jsonl": b"",
    "blank.jsonl": b"\n  \n\n",
    "one-invalid.jsonl": (_event("m1") + "\n" + _event("m2", role="robot") + "\n").encode(),
    "3mb-line.jsonl": (_event("m1") + "\n" + _event("m2", "x" * 3_000_000) + "\n").encode(),
    "2.5mb-line.jsonl": (_event("m1") + "\n" + _event("m2", "x" * 2_500_000) + "\n").encode(),
}
MAX_REQUEST_4MB = {"SESSIONFLOW_PRODUCER_MAX_REQUEST_SIZE": "4000000"}

CASES = [
    # settings, read through load_settings: the variable, the rule, the value
    Case("heap-negative", ["kafka", "up"],
         ["SESSIONFLOW_KAFKA_HEAP_MB", "from 128 to 1024", "got -5"],
         env={"SESSIONFLOW_KAFKA_HEAP_MB": "-5"}),
    Case("heap-not-a-number", ["kafka", "up"],
         ["SESSIONFLOW_KAFKA_HEAP_MB", "integer", "got 'abc'"],
         env={"SESSIONFLOW_KAFKA_HEAP_MB": "abc"}),
    Case("port-out-of-range", ["kafka", "up"],
         ["SESSIONFLOW_KAFKA_PORT", "65535", "got 99999"],
         env={"SESSIONFLOW_KAFKA_PORT": "99999"}),
    Case("kafka-version-path", ["kafka", "fetch"],
         ["SESSIONFLOW_KAFKA_VERSION", "Maven version"],
         env={"SESSIONFLOW_KAFKA_VERSION": "/../../evil"}),
    Case("kafka-version-path-up", ["kafka", "up"],
         ["SESSIONFLOW_KAFKA_VERSION", "Maven version"],
         env={"SESSIONFLOW_KAFKA_VERSION": "../4.4.0"}),
    Case("security-protocol", ["topics", "create"],
         ["KAFKA_SECURITY_PROTOCOL", "PLAINTEXT, SSL, SASL_PLAINTEXT, SASL_SSL", "got 'bogus'"],
         env={"KAFKA_SECURITY_PROTOCOL": "bogus", "KAFKA_SASL_PASSWORD": SECRET}),
    Case("compression", ["produce", "good.jsonl"],
         ["SESSIONFLOW_PRODUCER_COMPRESSION", "zstd", "got 'brotli'"],
         env={"SESSIONFLOW_PRODUCER_COMPRESSION": "brotli"}),
    Case("topic-partitions", ["topics", "create"],
         ["SESSIONFLOW_TOPICS_PARTITIONS", ">= 1", "got 0"],
         env={"SESSIONFLOW_TOPICS_PARTITIONS": "0"}),
    Case("min-insync-above-replication", ["topics", "create"],
         ["SESSIONFLOW_TOPICS_MIN_INSYNC_REPLICAS", "replication factor"],
         env={"SESSIONFLOW_TOPICS_MIN_INSYNC_REPLICAS": "3"}),
    Case("processor-batch-size", ["process"],
         ["SESSIONFLOW_PROCESSOR_BATCH_SIZE", ">= 1", "got 0"],
         env={"SESSIONFLOW_PROCESSOR_BATCH_SIZE": "0"}),
    Case("processor-web-port", ["process"],
         ["SESSIONFLOW_PROCESSOR_WEB_PORT", "65535", "got 70000"],
         env={"SESSIONFLOW_PROCESSOR_WEB_PORT": "70000"}),
    Case("processor-plugin-missing", ["process"],
         ["plugins ['no-such-plugin'] are enabled but not installed"],
         env={"SESSIONFLOW_PROCESSOR_PLUGINS": "no-such-plugin"}),
    Case("processor-topic-missing", ["process"],
         ["topic no-such-topic does not exist", "sessionflow topics create"],
         env={"KAFKA_TOPIC": "no-such-topic"}),
    Case("bootstrap-empty", ["produce", "good.jsonl"],
         ["KAFKA_BOOTSTRAP_SERVERS", "host:port"], env={"KAFKA_BOOTSTRAP_SERVERS": ""}),
    Case("bootstrap-no-port", ["simulate", "--sessions", "2"],
         ["KAFKA_BOOTSTRAP_SERVERS", "'localhost' is not host:port"],
         env={"KAFKA_BOOTSTRAP_SERVERS": "localhost"}),
    Case("bootstrap-bad-port", ["topics", "describe"],
         ["KAFKA_BOOTSTRAP_SERVERS", "port must be"],
         env={"KAFKA_BOOTSTRAP_SERVERS": "127.0.0.1:http"}),
    # an unreachable broker: what happened (not "within 15.0s" when it failed at once), no
    # aiokafka log line
    Case("unreachable-produce", ["produce", "good.jsonl"],
         [f"cannot connect to {UNREACHABLE}: Connection refused"],
         env={"KAFKA_BOOTSTRAP_SERVERS": UNREACHABLE}),
    Case("unreachable-simulate", ["simulate", "--sessions", "2"],
         [f"cannot connect to {UNREACHABLE}: Connection refused"],
         env={"KAFKA_BOOTSTRAP_SERVERS": UNREACHABLE}),
    Case("unreachable-describe", ["topics", "describe"],
         [f"cannot connect to {UNREACHABLE}: Connection refused"],
         env={"KAFKA_BOOTSTRAP_SERVERS": UNREACHABLE}),
    Case("unreachable-process", ["process"],
         [f"cannot connect to {UNREACHABLE}: Connection refused"],
         env={"KAFKA_BOOTSTRAP_SERVERS": UNREACHABLE}),
    Case("unreachable-demo", ["demo", "--sessions", "2"],
         [f"cannot connect to {UNREACHABLE}: Connection refused"],
         env={"KAFKA_BOOTSTRAP_SERVERS": UNREACHABLE}),
    # produce: files and lines
    Case("produce-missing-file", ["produce", "missing.jsonl"],
         ["'FILE'", "missing.jsonl", "does not exist"], code=2),
    Case("produce-directory", ["produce", "."], ["'FILE'", "is a directory"], code=2),
    Case("produce-binary", ["produce", "binary.dat"],
         ["binary.dat", "not UTF-8 text", "line 1"]),
    Case("produce-deep-json", ["produce", "deep.jsonl"],
         ["deep.jsonl", "line 1", "nested too deeply", "nothing sent"]),
    Case("produce-empty", ["produce", "empty.jsonl"], ["empty.jsonl", "no events"]),
    Case("produce-blank-lines", ["produce", "blank.jsonl"], ["blank.jsonl", "no events"]),
    Case("produce-invalid-line", ["produce", "one-invalid.jsonl"],
         ["one-invalid.jsonl", "line 2", "payload.role", "'robot'", "nothing sent"]),
    Case("produce-3mb-line", ["produce", "3mb-line.jsonl"],
         ["line 2", "over the 1048576-byte limit", "SESSIONFLOW_PRODUCER_MAX_REQUEST_SIZE"]),
    Case("produce-over-topic-limit", ["produce", "2.5mb-line.jsonl"],
         ["line 2", "over the 2097152-byte limit", "max.message.bytes of topic"],
         env=MAX_REQUEST_4MB),
    Case("produce-stdin-not-json", ["produce", "-"],
         ["stdin", "line 1", "not valid JSON"], stdin=b"not json\n"),
    Case("produce-unknown-option", ["produce", "--bogus", "good.jsonl"],
         ["--bogus"], code=2),
    Case("topics-describe-unknown", ["topics", "describe", MISSING_TOPIC],
         [MISSING_TOPIC, "UnknownTopicOrPartition"]),
    # option values click rejects
    option_case("ground-truth-dir-missing", ["simulate", "--ground-truth", "/nonexistent/x.json"],
                ["'--ground-truth'", "/nonexistent", "does not exist"]),
    option_case("rate-negative", ["simulate", "--rate", "-10"], ["'--rate'", "-10"]),
    option_case("sessions-zero", ["simulate", "--sessions", "0"], ["'--sessions'", "0"]),
    option_case("concurrency-zero", ["simulate", "--concurrency", "0"],
                ["'--concurrency'", "0"]),
    option_case("anomaly-count-negative", ["simulate", "--anomalies", "--anomaly-count", "-1"],
                ["'--anomaly-count'", "-1"]),
    option_case("start-not-a-time", ["simulate", "--start", "yesterday"],
                ["'--start'", "'yesterday'", "ISO 8601"]),
    option_case("seed-not-a-number", ["simulate", "--seed", "abc"], ["'--seed'", "abc"]),
    option_case("demo-sessions-negative", ["demo", "--sessions", "-1"],
                ["'--sessions'", "-1"]),
    option_case("topics-partitions-zero", ["topics", "create", "--partitions", "0"],
                ["'--partitions'", "0"]),
    option_case("schemas-dir-missing", ["schemas", "check", "--avsc-dir", "/nonexistent/avsc"],
                ["'--avsc-dir'", "/nonexistent/avsc", "does not exist"]),
    # replay: options, then the target version (checked before anything is created)
    option_case("replay-source-unknown", ["replay", "--source", "s3"], ["'--source'", "'s3'"]),
    option_case("replay-from-offset", ["replay", "--source", "topic", "--from-offset", "0-12"],
                ["'--from-offset'", "'0-12'", "PARTITION:OFFSET"]),
    option_case("replay-to-time", ["replay", "--source", "topic", "--to-time", "yesterday"],
                ["'--to-time'", "'yesterday'", "ISO time"]),
    option_case("replay-version", ["replay", "--source", "topic", "--version", "next"],
                ["'--version'", "'next'", "state version"]),
    option_case("replay-topic-option",
                ["replay", "--source", "clickhouse", "--to-time", "2026-01-01"],
                ["--to-time", "--source topic only"]),
    option_case("replay-two-starts", ["replay", "--source", "topic", "--from", "earliest",
                                      "--from-time", "2026-01-01"],
                ["--from and --from-time"]),
    option_case("replay-resume-no-version", ["replay", "--source", "topic", "--resume"],
                ["--resume needs --version"]),
    Case("replay-live-version", ["replay", "--source", "topic", "--version", "v1"],
         ["--version v1", "live version"]),
    Case("replay-partition-unknown", ["replay", "--source", "topic", "--from-offset", "99:0"],
         ["--from-offset", "no partition 99"]),
    Case("replay-dsn", ["replay", "--source", "clickhouse"],
         ["CLICKHOUSE_DSN", "chdb://, http:// or https://"], env={"CLICKHOUSE_DSN": "nonsense"}),
    # dlq: positions, reasons and times are checked before the broker is asked anything
    option_case("dlq-show-bad-position", ["dlq", "show", "1:x"],
                ["'PARTITION:OFFSET'", "'1:x'", "not PARTITION:OFFSET or OFFSET"]),
    option_case("dlq-show-negative-offset", ["dlq", "show", "0:-3"],
                ["'PARTITION:OFFSET'", "'0:-3'"]),
    option_case("dlq-list-unknown-reason", ["dlq", "list", "--reason", "nope"],
                ["'--reason'", "'nope'", "unknown_session"]),
    option_case("dlq-list-bad-since", ["dlq", "list", "--since", "yesterday"],
                ["'--since'", "'yesterday'", "ISO 8601", "30m"]),
    option_case("dlq-list-limit-zero", ["dlq", "list", "--limit", "0"], ["'--limit'", "0"]),
    option_case("dlq-replay-bad-since", ["dlq", "replay", "--since", "1y"],
                ["'--since'", "'1y'"]),
    option_case("dlq-replay-unknown-reason", ["dlq", "replay", "--reason", "gap"],
                ["'--reason'", "'gap'"]),
    option_case("dlq-replay-unfixable-reason", ["dlq", "replay", "--reason", "plugin_failed"],
                ["'--reason'", "plugin_failed", "cannot be fixed by re-injection"]),
    Case("dlq-show-no-such-partition", ["dlq", "show", "5:0"],
         ["has no partition 5"]),
    Case("dlq-show-offset-out-of-range", ["dlq", "show", "7"],
         ["no dead letter at", "0:7", "holds no records"]),
    Case("dlq-replay-topic-missing", ["dlq", "replay"],
         ["topic no-such-dlq does not exist"], env={"KAFKA_DLQ_TOPIC": "no-such-dlq"}),
    Case("unreachable-dlq-replay", ["dlq", "replay"],
         [f"cannot connect to {UNREACHABLE}: Connection refused"],
         env={"KAFKA_BOOTSTRAP_SERVERS": UNREACHABLE}),
    # ClickHouse DSN and directories, checked before any broker or database is touched
    Case("dsn-nonsense", ["demo", "--sessions", "2"],
         ["CLICKHOUSE_DSN", "chdb://, http:// or https://"], env={"CLICKHOUSE_DSN": "nonsense"}),
    Case("dsn-broken-ipv6", ["demo", "--sessions", "2"],
         ["CLICKHOUSE_DSN", "'['"], env={"CLICKHOUSE_DSN": f"clickhouse://u:{SECRET}@[::1"}),
    Case("dsn-no-host", ["demo", "--sessions", "2"],
         ["CLICKHOUSE_DSN", "port"], env={"CLICKHOUSE_DSN": f"http://user:{SECRET}"}),
    Case("dsn-chdb-relative", ["demo", "--sessions", "2"],
         ["CLICKHOUSE_DSN", "absolute path"], env={"CLICKHOUSE_DSN": "chdb://relative/dir"}),
    Case("dsn-chdb-in-proc", ["demo", "--sessions", "2"],
         ["CLICKHOUSE_DSN", "/proc"], env={"CLICKHOUSE_DSN": "chdb:///proc/sessionflow-nope"}),
    Case("data-dir-is-a-file", ["demo", "--sessions", "2"],
         ["SESSIONFLOW_DATA_DIR", "not a directory"],
         env={"SESSIONFLOW_DATA_DIR": "good.jsonl"}),
    Case("data-dir-in-proc", ["kafka", "up"],
         ["SESSIONFLOW_DATA_DIR", "/proc/sessionflow-nope"],
         env={"SESSIONFLOW_DATA_DIR": "/proc/sessionflow-nope"}),
    Case("cache-dir-is-a-file", ["kafka", "fetch"],
         ["SESSIONFLOW_CACHE_DIR", "not a directory"],
         env={"SESSIONFLOW_CACHE_DIR": "good.jsonl"}),
]  # fmt: skip


@dataclass(frozen=True)
class Outcome:
    """What one case did."""

    code: int
    stdout: str
    stderr: str
    dirs_before: set[Path]
    dirs_after: set[Path]
    processes_on_dirs: list[str]


def _base_env(kafka: KafkaSettings) -> dict[str, str]:
    env = {
        k: v
        for k, v in os.environ.items()
        if not k.startswith(("KAFKA_", "CLICKHOUSE_", "SESSIONFLOW_"))
    }
    env.update(kafka_env(kafka), COLUMNS="200", PYTHONWARNINGS="ignore")
    return env


def _tree(*roots: Path) -> set[Path]:
    return {p for root in roots if root.is_dir() for p in root.rglob("*")}


def _processes_mentioning(text: str) -> list[str]:
    found = []
    for cmdline in Path("/proc").glob("[0-9]*/cmdline"):
        try:
            if text.encode() in cmdline.read_bytes():
                found.append(cmdline.parent.name)
        except OSError:  # the process ended while we looked
            continue
    return found


def _run(case: Case, base: dict[str, str], work: Path) -> Outcome:
    home = work / case.id
    data, cache = home / "data", home / "cache"
    data.mkdir(parents=True)
    cache.mkdir()
    env = {**base, "SESSIONFLOW_DATA_DIR": str(data), "SESSIONFLOW_CACHE_DIR": str(cache)}
    env.update(case.env)
    before = _tree(data, cache)
    if case.in_process:
        code, stdout, stderr = _main_in_process(case.args, env)
    else:
        result = subprocess.run(
            [sys.executable, "-m", "sessionflow.cli", *case.args],
            cwd=work / "files", env=env, input=case.stdin, capture_output=True, timeout=120,
        )  # fmt: skip
        code, stdout, stderr = result.returncode, result.stdout.decode(), result.stderr.decode()
    return Outcome(
        code, stdout, stderr, before, _tree(data, cache), _processes_mentioning(str(home))
    )


def _main_in_process(args: list[str], env: dict[str, str]) -> tuple[int, str, str]:
    """``main(args)`` with ``env`` as the environment; (exit code, stdout, stderr)."""
    out, err = io.StringIO(), io.StringIO()
    with (
        mock.patch.dict(os.environ, env, clear=True),
        contextlib.redirect_stdout(out),
        contextlib.redirect_stderr(err),
        pytest.raises(SystemExit) as exited,
    ):
        main(args)
    code = exited.value.code
    return (code if isinstance(code, int) else 1), out.getvalue(), err.getvalue()


async def _broker_state(kafka: KafkaSettings) -> tuple[set[str], dict[int, int], dict[int, int]]:
    admin = new_admin(kafka)
    await admin.start()
    try:
        topics = set(await admin.list_topics())
    finally:
        await admin.close()
    _, ends = await offset_bounds(kafka, kafka.topic)
    _, dlq_ends = await offset_bounds(kafka, kafka.dlq_topic)
    return topics, ends, dlq_ends


@dataclass(frozen=True)
class TableRun:
    """Every case's outcome, and the broker's state before and after the whole table."""

    outcomes: dict[str, Outcome]
    broker_before: tuple[set[str], dict[int, int], dict[int, int]]
    broker_after: tuple[set[str], dict[int, int], dict[int, int]]


@pytest.fixture(scope="module")
def table(kafka_settings: KafkaSettings) -> Iterator[TableRun]:
    topic = unique_name("bad-input")
    kafka = kafka_settings.model_copy(update={"topic": topic, "dlq_topic": f"{topic}.dlq"})
    asyncio.run(create_topics(kafka, TopicSettings(partitions=2)))
    with tempfile.TemporaryDirectory(prefix="sessionflow-bad-input-") as tmp:
        work = Path(tmp)
        (work / "files").mkdir()
        for name, content in FILES.items():
            (work / "files" / name).write_bytes(content)
        base = _base_env(kafka)
        before = asyncio.run(_broker_state(kafka))
        with ThreadPoolExecutor(max_workers=4) as pool:
            futures = {
                case.id: pool.submit(_run, case, base, work)
                for case in CASES
                if not case.in_process
            }
            outcomes = {name: future.result() for name, future in futures.items()}
        for case in CASES:  # one at a time: they patch this process's environment and stdio
            if case.in_process:
                outcomes[case.id] = _run(case, base, work)
        after = asyncio.run(_broker_state(kafka))
        yield TableRun(outcomes, before, after)


@pytest.mark.parametrize("case", CASES, ids=[case.id for case in CASES])
def test_bad_input_is_one_line_and_changes_nothing(table: TableRun, case: Case) -> None:
    outcome = table.outcomes[case.id]
    lines = [line for line in outcome.stderr.splitlines() if line.strip()]

    assert outcome.code == case.code, outcome.stderr
    assert len(lines) == 1, outcome.stderr
    assert lines[0].startswith("error: "), lines[0]
    for name in case.names:
        assert name in lines[0]
    assert "Traceback" not in outcome.stdout + outcome.stderr
    assert SECRET not in outcome.stdout + outcome.stderr
    assert outcome.dirs_after == outcome.dirs_before == set()
    assert outcome.processes_on_dirs == []


def test_the_table_created_no_topic_and_sent_nothing(table: TableRun) -> None:
    topics_before, ends_before, dlq_before = table.broker_before
    topics_after, ends_after, dlq_after = table.broker_after

    assert topics_after == topics_before
    assert ends_after == ends_before == {0: 0, 1: 0}
    assert dlq_after == dlq_before == {0: 0}


def test_a_valid_file_goes_through_with_the_same_environment(
    table: TableRun, kafka_settings: KafkaSettings, tmp_path: Path
) -> None:
    """Control: the environment of the table lets a good input through, so the refusals above
    come from the bad inputs, not from a broken setup."""
    topic = unique_name("bad-input-control")
    kafka = kafka_settings.model_copy(update={"topic": topic, "dlq_topic": f"{topic}.dlq"})
    asyncio.run(create_topics(kafka, TopicSettings(partitions=1)))
    source = tmp_path / "good.jsonl"
    source.write_bytes(FILES["good.jsonl"])
    env = {**_base_env(kafka), "SESSIONFLOW_DATA_DIR": str(tmp_path / "data")}

    result = subprocess.run(
        [sys.executable, "-m", "sessionflow.cli", "produce", str(source)],
        env=env, capture_output=True, text=True, timeout=120,
    )  # fmt: skip

    assert result.returncode == 0, result.stderr
    assert result.stderr == ""
    assert asyncio.run(offset_bounds(kafka, topic))[1] == {0: 1}


_BOOM = """
import sys
from sessionflow.cli.main import cli, main

@cli.command("boom")
def boom() -> None:
    raise KeyError("kaput")

main(sys.argv[1:])
"""


@pytest.mark.parametrize("verbose", [False, True])
def test_an_unexpected_error_is_one_line_and_v_adds_the_traceback(verbose: bool) -> None:
    args = ["-v", "boom"] if verbose else ["boom"]

    result = subprocess.run(
        [sys.executable, "-c", _BOOM, *args], capture_output=True, text=True, timeout=60
    )

    last = result.stderr.strip().splitlines()[-1]
    assert result.returncode == 1
    assert last == (
        "error: unexpected KeyError: 'kaput' (rerun as `sessionflow -v ...` for the traceback)"
    )
    assert ("Traceback" in result.stderr) is verbose
    if not verbose:
        assert result.stderr.strip() == last
