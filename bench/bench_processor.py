"""Processor throughput: sessionflow's worker next to faust's floor, a naive faust design, a
bare batch fold and Quix Streams, on one pre-loaded topic; and produce -> state visible latency.

Run: ``.venv/bin/python bench/bench_processor.py [--events N] [--repeat R] [--modes a,b]
[--latency N] [--profile FILE]``
(``make bench`` installs the ``bench`` extra first: Quix Streams, py-spy). Not a test.
Uses ``KAFKA_BOOTSTRAP_SERVERS`` if set, else starts a local broker for the run.

Method. ~N simulated events (realistic sessions, 5 anomalies of each kind, latest event now)
are sent once to a 6-partition topic. Every consumer is its own process with its own group,
started from nothing, and runs R times, the modes interleaved (in reverse order every other
time, and after one uncounted warm-up run of the first mode: the broker's JVM speeds up over
its first minutes, which favoured whichever mode ran later); figures are medians. "ev/s" is
the steady rate: events processed after the first progress seen, over the time from then to
"every pre-loaded record processed" (sessionflow: its ``/health`` positions, i.e. states
acknowledged by the changelog, polled every 250 ms because a request costs the worker CPU;
the others report it themselves). "start->done" is from spawning the process, "start->commit"
until the group's committed offsets reach the end (faust commits every 2.8 s, Quix every 5 s).
"ev/cpu-s" divides by the consumer processes' CPU seconds in the steady window; "busy" is the
share of the machine's 2 cores in use then. The modes:

- ``ours``: ``sessionflow process``, default settings (rocksdict store, batches of 10,000 or
  200 ms, statistics, dead letters, timers, the example plugin installed and loaded);
- ``ours x2``: two such worker processes in one group, partitions shared;
- ``faust noop``: a faust agent iterating events and doing nothing, same app options and
  worker tuning (the framework's floor); ``faust noop take``: the same with ``take_events``;
  ``faust noop our-loop``: ``faust noop`` on the message loop the processor runs on
  (:mod:`sessionflow.processors.runtime.faust_consumer`), i.e. the floor of that loop;
- ``faust naive``: per event, decode + the pure fold + one table write (Avro state);
- ``bare fold``: aiokafka ``getmany`` + decode + the pure fold + one changelog record per
  changed session per batch (acks=all, awaited) + commit, no framework, no DLQ or plugins;
- ``quix``: Quix Streams, per message decode + the pure fold + ``state.set_bytes`` of the Avro
  state (its changelog; Quix has no per-batch hook, so it encodes the state per event).

The plugin's and timers' events that ``ours`` emits land on the same topic after the
pre-loaded records; no run waits for them. Latency: one worker on a fresh topic; the SDK's
typed methods send simulated sessions' events live at 1,000 ev/s; an event is visible once
``/health`` shows its partition's position past its offset (polled every 20 ms; the
session's state is then served).

The machine is a 2-core VM; the broker (a JVM) runs on the same 2 cores as the consumers.
Figures measured here, all modes (``--events 100000 --repeat 3 --latency 5000``, 98,979
events; the worker on uvloop, see below)::

  mode                    ev/s  ev/cpu-s  busy  start->done  start->commit  runs (ev/s)
  ours                  13,594    15,222   51%        13.4s          15.8s  12,214 16,082 13,594
  faust noop            15,486    15,424   52%         8.9s           9.3s  14,734 16,492 15,486
  faust noop take       15,948    16,239   51%         8.5s           9.4s  15,948 17,667 13,375
  faust naive            2,847     2,832   60%        37.4s          39.5s  2,575 2,847 2,923
  bare fold             39,176    40,724   53%         3.3s           3.3s  38,410 40,200 39,176
  quix                   9,193     9,205   53%        13.0s          18.0s  6,495 9,193 10,642
  ours x2               13,749    13,858   53%        13.5s          14.5s  14,522 13,749 12,573
  faust noop our-loop   25,688    30,899   44%         6.1s           6.7s  28,164 21,939 25,688

  ours / faust noop: 0.88x (goal >= 0.85: met); ours / faust naive: 4.77x (goal >= 2: met);
  ours / faust noop take 0.85x; ours / faust noop our-loop 0.53x; ours / bare fold 0.35x;
  ours / quix 1.48x; ours x2 / ours 1.01x (see below: too few events for two workers)
  produce -> state visible over HTTP, 5,000 events at 1,000 ev/s: p50 172 ms, p99 341 ms,
    max 391 ms (20 ms polling)

The worker was not on uvloop until it was measured (``faust noop`` was): it registered its
Prometheus collector with ``auto_describe``, whose first collect made faust create its
consumer, and with it the transport's and the consumer thread's event loops, on the stdlib
loop before the worker set the uvloop policy. The entry point now sets it first
(:func:`~sessionflow.processors.worker.use_fast_event_loop`) and the worker logs a warning
when its loop is not uvloop. ``--repeat 5 --modes "ours,faust noop" --latency 0``, before ->
after (a slower VM day for "after")::

  events    before: ours / faust noop     after: ours / faust noop      after: runs
   98,979   15,291 / 17,419  0.88x        12,483 / 13,100  0.95x        11,166 13,071 12,865
                                                                        12,483 11,075 /
                                                                        13,232 12,314 13,100
                                                                        13,029 13,412
  295,940   11,766 / 16,587  0.71x         9,819 / 10,280  0.96x        9,966 10,531 9,819
                                                                        8,587 8,967 /
                                                                        10,436 9,991 9,129
                                                                        10,280 11,432

so the fall of ours' rate with the run's size in the tables below (measured before the fix)
was the stdlib loop's cost, not the store's: the changelog writes stay 0.07 per event
(~840 B each) at both sizes.

With 100k events a run of ``ours x2`` is mostly the second worker's join (a rebalance and a
table recovery); with more events (``--events 300000 --repeat 3 --modes "ours,ours x2"``,
295,940 events)::

  ours                  12,695    13,300   52%        29.8s          30.0s  12,695 10,564 14,020
  ours x2               22,405    14,068   79%        19.4s          21.4s  18,346 22,492 22,405
  ours x2 / ours: 1.76x (goal >= 1.5: met)

(before the uvloop fix, one worker was slower and the ratio larger: 9,339 and 22,186 ev/s,
2.38x).

Before the uvloop fix, the worker's rate fell as the run grew and faust's floor did not
(``--modes "ours,faust noop[,faust noop our-loop]" --repeat 3``, no warm-up run yet)::

  events    ours (runs)                      faust noop (runs)                 ours / noop
   98,979   11,622 (9,126 11,934 11,622)     11,187 (10,845 12,162 11,187)     1.04x
  197,182    9,687 (8,053 9,687 10,444)      10,203 (10,203 10,012 12,459)     0.95x
  295,940    9,236 (9,236 8,858 9,512)       11,479 (11,479 11,403 12,855)     0.80x

so the 0.85x goal is met at 99k and 197k events and missed at 296k (``faust noop our-loop``
there: 21,597, ours 0.43x of it). Single runs of ours at 296k vary from 8,858 to 10,479 ev/s
(0.77-0.91x that floor); with ``SESSIONFLOW_PROCESSOR_STORE=memory`` ours did 10,700 ev/s
there (median of 2), so the local store (rocksdict, 12k sessions at 296k, 4k at 99k) may be
part of the fall; faust's ``table_key_index_size`` raised to 200,000 changed nothing (9,519,
median of 2). The uvloop fix settled it (0.96x at 296k).

What moved ``ours`` from 4,743 ev/s (0.42x faust noop, last round's figures in the same bench)
to the figures above, each step measured with this bench: the message loop of
:mod:`~sessionflow.processors.runtime.faust_consumer` (faust's loop starts four tasks and an
``asyncio.wait`` per message: in one run ``faust noop`` 11,714 and ``faust noop our-loop``
20,825 ev/s; ours 7,505 -> 8,885 ev/s, 100k events, median of 2), the collector's
throughput thresholds after ``gc.freeze`` (CPU per event -17%: the fold scanned the cached
states again and again), :class:`Record` as a named tuple (1.25 -> 0.37 us to build) and
message headers converted only when there are any. A py-spy
profile of ``ours`` now (``--profile``): the fold and decode ~14% of samples, faust's fetcher
and message loop ~7%, the consumer thread's hand-over ~5%, writing the states (Avro,
rocksdict, changelog) ~5%, ``take_events``' per-event acks ~3%, statistics ~2%, plugins ~1%.
Earlier tuning kept: uvloop (in effect only since the fix above), faust's spinner off (it
sets the root logger to DEBUG), a monitor without per-message bookkeeping, ``gc.freeze``;
``batch_timeout_ms`` 1000 instead of 200 gave +5% ev/s but ~1 s latency at low rates.

The warm-up run and the alternating order came before the uvloop fix (its "before" column
above): both modes get faster over a bench's first runs, the broker warming up. Within one
296k run ours kept one rate from start to end (progress sampled every 250 ms), which pointed
away from a cost growing with the states and towards a per-event cost: the loop.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import os
import re
import signal
import statistics
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from types import SimpleNamespace
from typing import Any

import benchkit

from sessionflow.core.kafka_clients import new_admin, new_consumer, new_producer
from sessionflow.core.settings import KafkaSettings
from sessionflow.processors.domain import Record, fold
from sessionflow.processors.domain.model import SessionState
from sessionflow.processors.domain.records import from_record, to_record
from sessionflow.processors.runtime.store import CachedStateStore
from sessionflow.producers import ProducerSettings, SessionEventProducer
from sessionflow.producers.methods import event_method_names
from sessionflow.producers.settings import TopicSettings
from sessionflow.producers.simulator import SimulationPlan, simulate
from sessionflow.producers.topics import create_topics
from sessionflow.schemas.codec import EventCodec
from sessionflow.schemas.state_codec import StateCodec
from sessionflow.testing import kafka_env, unique_name
from sessionflow.testing.kafka import free_ports, kafka_broker

ROOT = Path(__file__).resolve().parents[1]
PARTITIONS = 6
MODES = (
    "ours", "faust noop", "faust noop take", "faust naive", "bare fold", "quix", "ours x2",
    "faust noop our-loop",
)  # fmt: skip
CLK = os.sysconf("SC_CLK_TCK")
Targets = dict[int, int]
Mark = tuple[float, int, bool]  # (epoch s, records processed so far, all processed)

# ----------------------------------------------------------------------------- children


class Progress:
    """Tells the parent (one JSON line on stdout) when the first and the last record is done."""

    def __init__(self, targets: Targets) -> None:
        self.left = {p: end for p, end in targets.items() if end > 0}
        self.count = 0

    def seen(self, partition: int, offset: int) -> None:
        """One record processed."""
        self.batch({partition: offset}, 1)

    def batch(self, last: dict[int, int], count: int) -> None:
        """``count`` records processed, up to offset ``last[p]`` of each partition ``p``."""
        first = self.count == 0
        self.count += count
        if first:
            _say(first=time.time(), events=self.count)
        for partition, offset in last.items():
            end = self.left.get(partition)
            if end is not None and offset + 1 >= end:
                del self.left[partition]
                if not self.left:
                    _say(done=time.time(), events=self.count)


def _say(**fields: Any) -> None:
    sys.stdout.write(json.dumps(fields) + "\n")
    sys.stdout.flush()


def child_faust(mode: str, group: str, targets: Targets, data_dir: Path) -> None:
    """A faust app with the processor's app options and worker tuning (see the module)."""
    import faust

    from sessionflow.processors.runtime.faust_app import WorkerIdentity, _app_options, _record
    from sessionflow.processors.runtime.faust_consumer import BatchFriendlyTransport
    from sessionflow.processors.settings import ProcessorSettings
    from sessionflow.processors.worker import run_worker

    kafka, settings = KafkaSettings(), ProcessorSettings(app_id=group)
    identity = WorkerIdentity(data_dir, free_ports(1)[0])
    app = faust.App(group, **_app_options(kafka, settings, identity, PARTITIONS))
    if mode.endswith(" our-loop"):  # the message loop the processor runs on (faust_consumer)
        app.transport = BatchFriendlyTransport(app.conf.broker_consumer, app)
        mode = mode.removesuffix(" our-loop")
    topic = app.topic(
        kafka.topic, key_type=bytes, value_type=bytes, key_serializer="raw", value_serializer="raw"
    )
    progress = Progress(targets)
    if mode == "faust noop":

        async def agent(stream: Any) -> None:
            async for event in stream.events():
                progress.seen(event.message.partition, event.message.offset)

    elif mode == "faust noop take":

        async def agent(stream: Any) -> None:
            async for events in stream.take_events(settings.batch_size, within=0.2):
                last = {e.message.partition: e.message.offset for e in events}
                progress.batch(last, len(events))

    else:  # naive: one table write per event
        table = app.Table("sessions", default=None, key_type=bytes, value_type=bytes)
        store, codec = CachedStateStore(table, StateCodec()), EventCodec()

        async def agent(stream: Any) -> None:
            async for event in stream.events():
                await store.put(fold(store, [_record(event)], codec).states)
                progress.seen(event.message.partition, event.message.offset)

    app.agent(topic, name="bench")(agent)
    run_worker(SimpleNamespace(app=app))  # type: ignore[arg-type]


async def child_bare(group: str, targets: Targets) -> None:
    """getmany + decode + fold + one changelog record per changed session + commit."""
    kafka, codec = KafkaSettings(), EventCodec()
    changelog = f"{group}-changelog"
    await create_topics(kafka.model_copy(update={"dlq_topic": changelog}), _topic_settings())
    states: dict[bytes, bytes] = {}
    store = CachedStateStore(states, StateCodec())
    consumer = new_consumer(kafka, kafka.topic, group_id=group, auto_offset_reset="earliest")
    producer = new_producer(kafka, linger_ms=5)
    await consumer.start()
    await producer.start()
    progress = Progress(targets)
    try:
        while progress.left:
            fetched = await consumer.getmany(timeout_ms=200, max_records=10_000)
            records = [
                Record(tp.topic, tp.partition, m.offset, m.key, m.value or b"", m.timestamp,
                       tuple(m.headers or ()))
                for tp, messages in fetched.items() for m in messages
            ]  # fmt: skip
            if not records:
                continue
            result = fold(store, records, codec)
            partition_of = {r.key: r.partition for r in records}
            sent = []
            for session_id, state in result.states.items():
                key, value = session_id.encode(), store.encode(state)
                states[key] = value
                store.remember(session_id, state)
                sent.append(await producer.send(changelog, value, key, partition=partition_of[key]))
            await asyncio.gather(*sent)
            await consumer.commit({tp: ms[-1].offset + 1 for tp, ms in fetched.items()})
            progress.batch(
                {tp.partition: ms[-1].offset for tp, ms in fetched.items()}, len(records)
            )
    finally:
        await consumer.stop()
        await producer.stop()


def child_quix(group: str, targets: Targets, data_dir: Path) -> None:
    """Quix Streams: per message decode + fold; the Avro state in its changelogged store."""
    from quixstreams import Application, message_context

    kafka, codec, state_codec = KafkaSettings(), EventCodec(), StateCodec()
    app = Application(
        broker_address=kafka.bootstrap_servers, consumer_group=group, loglevel="WARNING",
        auto_offset_reset="earliest", state_dir=str(data_dir), use_changelog_topics=True,
    )  # fmt: skip
    topic = app.topic(kafka.topic, key_deserializer="bytes", value_deserializer="bytes")
    progress = Progress(targets)
    cache: dict[str, SessionState] = {}  # decoded states, as ours caches them
    current: list[Any] = [None]  # the Quix state of the message being folded

    class States:
        def get(self, session_id: str, /) -> SessionState | None:
            state = cache.get(session_id)
            if state is None and (raw := current[0].get_bytes("s")) is not None:
                state = cache[session_id] = from_record(state_codec.decode(raw))
            return state

    states = States()

    def fold_one(value: bytes, key: bytes, timestamp: int, headers: Any, state: Any) -> None:
        context = message_context()
        current[0] = state
        record = Record(topic.name, context.partition, context.offset, key, value, timestamp, ())
        for session_id, new in fold(states, [record], codec).states.items():
            state.set_bytes("s", state_codec.encode(to_record(new)))
            cache[session_id] = new
        progress.seen(context.partition, context.offset)

    app.dataframe(topic).update(fold_one, stateful=True, metadata=True)
    app.run()


def run_child(args: argparse.Namespace) -> None:
    """Entry point of a child process (``--child MODE``)."""
    targets = {int(p): end for p, end in json.loads(args.targets).items()}
    data_dir = Path(args.dir)
    if args.child != "quix":  # the asyncio children: on uvloop, as ``sessionflow process`` is
        from sessionflow.processors.worker import use_fast_event_loop

        use_fast_event_loop()  # before any app or loop exists
    if args.child.startswith("faust"):
        child_faust(args.child, args.group, targets, data_dir)
    elif args.child == "bare fold":
        asyncio.run(child_bare(args.group, targets))
    elif args.child == "quix":
        child_quix(args.group, targets, data_dir)


# ----------------------------------------------------------------------------- the parent


@dataclass
class Bench:
    """The broker, the pre-loaded topic and where the runs keep their files."""

    kafka: KafkaSettings
    targets: Targets
    work_dir: Path
    plugin_dir: Path

    @property
    def total(self) -> int:
        return sum(self.targets.values())


@dataclass
class Run:
    """One consumer run: times (epoch s), events in the steady window, its CPU seconds."""

    start: float
    first: float
    done: float
    committed: float
    events: int
    cpu: float
    busy: float = 0.0  # share of the machine's 2 cores busy in the steady window

    @property
    def rate(self) -> float:
        return self.events / (self.done - self.first)

    @property
    def per_cpu(self) -> float:
        return self.events / self.cpu if self.cpu else 0.0


@dataclass
class Child:
    """A consumer process and what it reported."""

    process: subprocess.Popen[bytes]
    lines: list[dict[str, Any]] = field(default_factory=list)
    port: int = 0

    def read(self) -> None:
        assert self.process.stdout is not None
        for line in self.process.stdout:  # faust's worker may print before a mark, unended
            if b"{" in line:
                self.lines.append(json.loads(line[line.index(b"{") :]))


def _spawn(argv: list[str], log: Path, env: dict[str, str], port: int = 0) -> Child:
    handle = log.open("ab")
    process = subprocess.Popen(argv, env=env, stdout=subprocess.PIPE, stderr=handle, cwd=ROOT)
    handle.close()
    child = Child(process, port=port)
    threading.Thread(target=child.read, daemon=True).start()
    return child


def _env(bench: Bench, **extra: str) -> dict[str, str]:
    return {**os.environ, **kafka_env(bench.kafka), **extra}


def start_ours(bench: Bench, run_dir: Path, workers: int) -> tuple[list[Child], str]:
    """``workers`` ``sessionflow process`` workers of a new app (own group, DLQ, store)."""
    app_id = unique_name("bench-ours")
    dlq = f"{app_id}.dlq"
    asyncio.run(create_topics(bench.kafka.model_copy(update={"dlq_topic": dlq}), _topic_settings()))
    env = _env(
        bench, KAFKA_DLQ_TOPIC=dlq, SESSIONFLOW_DATA_DIR=str(run_dir),
        SESSIONFLOW_PROCESSOR_APP_ID=app_id, PYTHONPATH=str(bench.plugin_dir),
    )  # fmt: skip
    children = []
    for index, port in enumerate(free_ports(workers)):
        argv = [sys.executable, "-m", "sessionflow.cli", "process",
                "--worker-index", str(index), "--web-port", str(port)]  # fmt: skip
        children.append(_spawn(argv, run_dir / f"worker-{index}.log", env, port))
    return children, f"{app_id}-v1"


def ours_progress(children: list[Child], targets: Targets) -> int | None:
    """Events folded so far by the workers (None before the first), from /health."""
    positions: dict[int, int] = {}
    for child in children:
        try:
            with urllib.request.urlopen(f"http://127.0.0.1:{child.port}/health", timeout=2) as r:
                body = json.loads(r.read())
        except OSError:
            continue
        for p, offset in body["positions"].items():
            positions[int(p)] = max(positions.get(int(p), 0), offset)
    done = sum(min(positions.get(p, 0), end) for p, end in targets.items())
    return done or None


def measure(bench: Bench, mode: str, index: int, profile: Path | None = None) -> Run:
    """One run of ``mode``: spawn, watch until every pre-loaded record is processed, stop.

    With ``profile``, py-spy samples the (first) consumer process into that file meanwhile.
    """
    run_dir = bench.work_dir / f"{mode.replace(' ', '-')}-{index}"
    run_dir.mkdir(parents=True)
    settle()
    start = time.time()
    if mode.startswith("ours"):
        children, group = start_ours(bench, run_dir, 2 if mode == "ours x2" else 1)

        seen: list[Mark] = []

        def progress() -> list[Mark]:
            count = ours_progress(children, bench.targets)
            if count is not None and (not seen or count == bench.total):
                seen.append((time.time(), count, count == bench.total))
            return seen

    else:
        group = unique_name("bench-" + mode.replace(" ", "-"))
        argv = [sys.executable, __file__, "--child", mode, "--group", group,
                "--targets", json.dumps(bench.targets), "--dir", str(run_dir)]  # fmt: skip
        children = [_spawn(argv, run_dir / "child.log", _env(bench))]

        def progress() -> list[Mark]:
            return [
                (line.get("first", line.get("done")), line["events"], "done" in line)
                for line in children[0].lines
            ]

    spy = _py_spy(children[0].process.pid, profile) if profile else None
    try:
        run = _watch(children, progress, start, run_dir, 0.25 if mode.startswith("ours") else 0.05)
        if spy is not None:
            spy.send_signal(signal.SIGINT)
            spy.wait(60)
        run.committed = _committed(bench, group, start)
        return run
    finally:
        for child in children:
            _stop(child.process)


def _py_spy(pid: int, output: Path) -> subprocess.Popen[bytes]:
    spy = Path(sys.executable).parent / "py-spy"
    argv = [str(spy), "record", "--pid", str(pid), "--rate", "200", "--nonblocking",
            "--format", "raw", "--output", str(output)]  # fmt: skip
    return subprocess.Popen(argv, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


def top_costs(raw: Path, count: int = 25) -> None:
    """Print the functions taking most samples: inclusive (on the stack) and self (on top)."""
    inclusive: dict[str, int] = {}
    own: dict[str, int] = {}
    total = 0
    for line in raw.read_text().splitlines():
        stack, _, samples = line.rpartition(" ")
        if not samples.isdigit():
            continue
        frames = [re.sub(r":\d+\)$", ")", f) for f in stack.split(";")]
        n = int(samples)
        total += n
        for frame in set(frames):
            inclusive[frame] = inclusive.get(frame, 0) + n
        own[frames[-1]] = own.get(frames[-1], 0) + n
    for title, table in (("inclusive", inclusive), ("self", own)):
        print(f"\nprofile of one worker, {title} share of {total:,} samples:")
        for frame, n in sorted(table.items(), key=lambda item: -item[1])[:count]:
            print(f"  {n / total:6.1%}  {frame[:110]}")


def _watch(
    children: list[Child],
    progress: Callable[[], list[Mark]],
    start: float,
    log: Path,
    interval: float,
) -> Run:
    """Wait for the first and the last progress mark; CPU and machine load between them."""
    first: tuple[float, int, float, tuple[int, int]] | None = None
    deadline = start + 900
    while time.time() < deadline:
        for child in children:
            if child.process.poll() is not None:
                tails = "\n".join(f.read_text()[-3000:] for f in sorted(log.glob("*.log")))
                raise RuntimeError(f"consumer exited {child.process.returncode}:\n{tails}")
        marks = progress()
        cpu, busy = _cpu(children), _machine()
        if marks and first is None:
            first = (marks[0][0], marks[0][1], cpu, busy)
        if marks and marks[-1][2] and first is not None:
            t0, n0, cpu0, busy0 = first
            used = (busy[0] - busy0[0]) / max(1, busy[1] - busy0[1])
            return Run(start, t0, marks[-1][0], 0.0, marks[-1][1] - n0, cpu - cpu0, used)
        time.sleep(interval)  # polling interval of the progress watch
    raise RuntimeError(f"no completion within 900 s; see {log}")


def _cpu(children: list[Child]) -> float:
    total = 0
    for child in children:
        with open(f"/proc/{child.process.pid}/stat") as stat:
            fields = stat.read().rsplit(")", 1)[1].split()
        total += int(fields[11]) + int(fields[12])
    return total / CLK


def _machine() -> tuple[int, int]:
    """(busy, total) jiffies of the whole machine."""
    with open("/proc/stat") as stat:
        values = [int(v) for v in stat.readline().split()[1:]]
    total = sum(values[:8])
    return total - values[3] - values[4], total


def settle(limit_s: float = 20.0) -> None:
    """Wait (bounded) until the machine is nearly idle, so a run starts from quiet."""
    deadline = time.time() + limit_s
    while time.time() < deadline:
        before = _machine()
        time.sleep(0.5)  # sampling window of the idle check
        after = _machine()
        if (after[0] - before[0]) / max(1, after[1] - before[1]) < 0.1:
            return


def _committed(bench: Bench, group: str, start: float, limit_s: float = 30.0) -> float:
    """Seconds from ``start`` until ``group`` committed every pre-loaded record (nan: never)."""
    deadline = time.time() + limit_s

    async def lag() -> int:
        admin = new_admin(bench.kafka)
        await admin.start()
        try:
            offsets = await admin.list_consumer_group_offsets(group)
        finally:
            await admin.close()
        done = {
            tp.partition: m.offset for tp, m in offsets.items() if tp.topic == bench.kafka.topic
        }
        return sum(max(0, end - done.get(p, 0)) for p, end in bench.targets.items())

    while time.time() < deadline:
        if asyncio.run(lag()) == 0:
            return time.time() - start
        time.sleep(0.1)  # polling interval of the commit watch
    return float("nan")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.send_signal(signal.SIGTERM)
        try:
            process.wait(30)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(10)


# ----------------------------------------------------------------------------- set-up


def _topic_settings() -> TopicSettings:
    return TopicSettings(partitions=PARTITIONS, dlq_partitions=PARTITIONS, retention_ms=-1,
                         dlq_retention_ms=-1)  # fmt: skip


def preload(kafka: KafkaSettings, events: int) -> Targets:
    """Simulate about ``events`` events (ending now) and send them once; the end offsets."""
    return benchkit.preload(kafka, events, _topic_settings())


def install_plugin(target: Path) -> Path:
    """The example plugin package, pip-installed into ``target`` (PYTHONPATH of the workers)."""
    subprocess.run(
        [sys.executable, "-m", "pip", "install", "--quiet", "--no-deps", "--no-build-isolation",
         "--target", str(target), str(ROOT / "examples" / "tool-timeout-plugin")],
        check=True, timeout=600,
    )  # fmt: skip
    return target


# ----------------------------------------------------------------------------- latency


def latency(bench: Bench, count: int, rate: int) -> list[float]:
    """Seconds from the SDK's enqueue to the state visible, for ``count`` events at ``rate``/s."""
    topic = unique_name("bench-latency")
    kafka = bench.kafka.model_copy(update={"topic": topic, "dlq_topic": f"{topic}.dlq"})
    asyncio.run(create_topics(kafka, _topic_settings()))
    live = Bench(kafka, dict.fromkeys(range(PARTITIONS), 0), bench.work_dir, bench.plugin_dir)
    run_dir = bench.work_dir / "latency"
    run_dir.mkdir()
    children, _ = start_ours(live, run_dir, 1)
    try:
        asyncio.run(_until_assigned(children[0]))
        return asyncio.run(_timed_sends(kafka, children[0].port, count, rate))
    finally:
        _stop(children[0].process)


async def _until_assigned(child: Child) -> None:
    import aiohttp

    async with aiohttp.ClientSession() as http:
        for _ in range(600):
            try:
                async with http.get(f"http://127.0.0.1:{child.port}/health") as response:
                    body = await response.json()
                    if len(body["partitions"]) == PARTITIONS and body["status"] == "ok":
                        return
            except aiohttp.ClientError:
                pass
            await asyncio.sleep(0.1)  # polling interval of the start-up wait
    raise RuntimeError("the latency worker did not take its partitions within 60 s")


async def _timed_sends(kafka: KafkaSettings, port: int, count: int, rate: int) -> list[float]:
    import aiohttp

    calls = _live_calls(count)
    sent: list[tuple[float, asyncio.Future[Any]]] = []
    observed: list[tuple[float, dict[int, int]]] = []
    finished = asyncio.Event()

    async def poll() -> None:
        async with aiohttp.ClientSession() as http:
            while not finished.is_set():
                async with http.get(f"http://127.0.0.1:{port}/health") as response:
                    body = await response.json()
                seen = time.perf_counter()
                observed.append((seen, {int(p): o for p, o in body["positions"].items()}))
                await asyncio.sleep(0.02)  # polling interval of the visibility watch

    async with SessionEventProducer(kafka, ProducerSettings(source="bench-live")) as producer:
        methods = {name: getattr(producer.enqueue, name) for name in event_method_names().values()}
        poller = asyncio.create_task(poll())
        begin = time.perf_counter()
        for i, (name, sid, fields) in enumerate(calls):
            await asyncio.sleep(max(0.0, begin + i / rate - time.perf_counter()))
            sent.append((time.perf_counter(), await methods[name](sid, **fields)))
        deliveries = [(t, await future) for t, future in sent]
        last = {d.partition: d.offset for _, d in deliveries}
        deadline = time.perf_counter() + 60
        while not observed or any(observed[-1][1].get(p, 0) <= o for p, o in last.items()):
            if time.perf_counter() > deadline:
                raise RuntimeError("events not visible 60 s after the last send")
            await asyncio.sleep(0.05)  # until the last event of each partition is visible
        finished.set()
        await poller
    return [_visible(observed, d.partition, d.offset) - t for t, d in deliveries]


def _visible(observed: list[tuple[float, dict[int, int]]], partition: int, offset: int) -> float:
    return next(t for t, positions in observed if positions.get(partition, 0) > offset)


def _live_calls(count: int) -> list[tuple[str, str, dict[str, Any]]]:
    """The first ``count`` events of simulated sessions as typed SDK calls (no anomalies)."""
    plan = SimulationPlan(
        sessions=max(5, count // 25), concurrency=50, seed=5, end=datetime.now(UTC)
    )
    names = event_method_names()
    envelopes = [r.event for r in simulate(plan, EventCodec().encode).records if r.event][:count]
    return [
        (names[e.event_type], e.session_id,
         {f: getattr(e.payload, f) for f in type(e.payload).model_fields})
        for e in envelopes
    ]  # fmt: skip


# ----------------------------------------------------------------------------- report


def _median(runs: list[Run], value: Callable[[Run], float]) -> float:
    return statistics.median(value(run) for run in runs)


def report(results: dict[str, list[Run]]) -> None:
    """The table of medians, then the ratios against the goals."""
    print(f"\n{'mode':<19} {'ev/s':>8} {'ev/cpu-s':>9} {'busy':>5} {'start->done':>12} "
          f"{'start->commit':>14}  runs (ev/s)")  # fmt: skip
    for mode, runs in results.items():
        print(
            f"{mode:<19} {_median(runs, lambda r: r.rate):>8,.0f} "
            f"{_median(runs, lambda r: r.per_cpu):>9,.0f} {_median(runs, lambda r: r.busy):>5.0%} "
            f"{_median(runs, lambda r: r.done - r.start):>11.1f}s "
            f"{_median(runs, lambda r: r.committed):>13.1f}s  "
            + " ".join(f"{r.rate:,.0f}" for r in runs)
        )
    rate = {mode: _median(runs, lambda r: r.rate) for mode, runs in results.items()}
    print()
    for ours, other, goal in (
        ("ours", "faust noop", 0.85), ("ours", "faust noop take", None),
        ("ours", "faust noop our-loop", None),
        ("ours", "faust naive", 2.0), ("ours x2", "ours", 1.5),
        ("ours", "bare fold", None), ("ours", "quix", None),
    ):  # fmt: skip
        if ours in rate and other in rate:
            ratio = rate[ours] / rate[other]
            verdict = (
                ""
                if goal is None
                else f"  (goal >= {goal}: {'met' if ratio >= goal else 'NOT met'})"
            )
            print(f"{ours} / {other}: {ratio:.2f}x{verdict}")


def main(args: argparse.Namespace) -> None:
    modes = [m.strip() for m in args.modes.split(",")] if args.modes else list(MODES)
    unknown = set(modes) - set(MODES)
    if unknown:
        raise SystemExit(f"error: unknown modes {sorted(unknown)}; known: {', '.join(MODES)}")
    with tempfile.TemporaryDirectory(prefix="bench-processor-") as tmp, kafka_broker() as kafka:
        topic = unique_name("bench-events")
        kafka = kafka.model_copy(update={"topic": topic, "dlq_topic": f"{topic}.dlq"})
        targets = preload(kafka, args.events)
        bench = Bench(kafka, targets, Path(tmp), install_plugin(Path(tmp) / "plugins"))
        print(f"{bench.total:,} events on {PARTITIONS} partitions of {topic} "
              f"({kafka.bootstrap_servers}); {os.cpu_count()} cores shared with the broker; "
              f"median of {args.repeat}")  # fmt: skip
        results: dict[str, list[Run]] = {mode: [] for mode in modes}
        if args.warmup:
            warm = measure(bench, modes[0], -1)
            print(f"  {modes[0]:<19} warm-up: {warm.rate:>8,.0f} ev/s (not counted)", flush=True)
        for index in range(args.repeat):
            for mode in modes if index % 2 == 0 else modes[::-1]:
                try:
                    run = measure(bench, mode, index)
                except RuntimeError as exc:  # shown, then the run is tried once more
                    print(f"  {mode:<19} run {index + 1} FAILED, retried: {exc}", flush=True)
                    run = measure(bench, mode, index + 100)
                results[mode].append(run)
                print(f"  {mode:<19} run {index + 1}: {run.rate:>8,.0f} ev/s "
                      f"({run.done - run.start:.1f} s from start)", flush=True)  # fmt: skip
        report(results)
        if args.profile:
            measure(bench, "ours", args.repeat, Path(args.profile).resolve())
            top_costs(Path(args.profile).resolve())
        if args.latency:
            waits = sorted(latency(bench, args.latency, 1000))
            q = statistics.quantiles(waits, n=100)
            print(f"\nproduce -> state visible over HTTP, {len(waits):,} events at 1,000 ev/s: "
                  f"p50 {q[49] * 1000:.0f} ms, p99 {q[98] * 1000:.0f} ms, "
                  f"max {waits[-1] * 1000:.0f} ms (20 ms polling)")  # fmt: skip


if __name__ == "__main__":
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--events", type=int, default=200_000)
    parser.add_argument("--repeat", type=int, default=3)
    parser.add_argument("--modes", default="", help=f"comma-separated, of: {', '.join(MODES)}")
    parser.add_argument("--latency", type=int, default=5000, help="events (0: no latency run)")
    parser.add_argument(
        "--warmup", type=int, choices=(0, 1), default=1,
        help="1: one uncounted run of the first mode first (the broker's JIT warms up)",
    )  # fmt: skip
    parser.add_argument(
        "--profile", metavar="FILE", help="one more run of ours under py-spy into FILE; top costs"
    )
    parser.add_argument("--child", help=argparse.SUPPRESS)
    parser.add_argument("--group", help=argparse.SUPPRESS)
    parser.add_argument("--targets", help=argparse.SUPPRESS)
    parser.add_argument("--dir", help=argparse.SUPPRESS)
    arguments = parser.parse_args()
    if arguments.child:
        run_child(arguments)
    else:
        main(arguments)
