"""``sessionflow demo`` (``make demo``): the product's showcase, end to end.

Starts the whole pipeline as ``sessionflow up --detach`` would (or uses the one running):
the configured Kafka or the local broker, topics, a processor worker, the sink with its query
endpoint, metrics and dashboard. Then: simulated sessions with every anomaly at a realistic
rate → read back against the simulator's ground truth → wait until the processors committed
everything (no sleeps) → their state over the state API and the dead letters against the
ground truth → wait until the sink stored everything → ClickHouse's counts against Kafka's
and the processors' → five analyst queries with their results → the URLs to open. Every
figure printed is a figure checked (the run fails if any differs). The pipeline stays up for
exploring; ``sessionflow down`` (``make down``) stops it.

Order: every setting is read and checked first (a port in use, a bad DSN, an unreachable
configured broker fail here), and only then is anything started.
"""

from __future__ import annotations

import asyncio
import time
from collections import Counter
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

import click
from rich.console import Console

from sessionflow.cli.checks import checked_dirs, load_kafka
from sessionflow.cli.demo_processing import (
    as_expected,
    dead_letter_reasons,
    dlq_ends,
    expected_reasons,
    expected_states,
    served_states,
    wait_caught_up,
)
from sessionflow.cli.demo_replay import replay_and_verify
from sessionflow.cli.demo_showcase import showcase, urls_text
from sessionflow.cli.figures import Figure, check_table, mismatches
from sessionflow.cli.pipeline_status import running_state
from sessionflow.cli.progress import send_with_progress
from sessionflow.cli.simulate_cmd import encoded_records
from sessionflow.cli.up_cmd import (
    check_ports_free,
    live_group,
    load_pipeline,
    probe_clickhouse,
    start_detached,
)
from sessionflow.core.clickhouse import check_dsn
from sessionflow.core.config import load_settings
from sessionflow.core.local_kafka import LocalKafkaSettings
from sessionflow.core.reachability import ensure_reachable
from sessionflow.core.settings import ClickHouseSettings, KafkaSettings, PathSettings
from sessionflow.core.topic_reader import offset_bounds, read_range
from sessionflow.processors.settings import ProcessorSettings
from sessionflow.producers.settings import ProducerSettings, TopicSettings
from sessionflow.producers.simulator import AnomalyKind, Simulation, SimulationPlan, simulate
from sessionflow.schemas import DecodeError, EventCodec


@dataclass(frozen=True)
class DemoContext:
    """Settings built once by the demo's entry point and passed to every step."""

    kafka: KafkaSettings
    local_kafka: LocalKafkaSettings
    clickhouse: ClickHouseSettings
    paths: PathSettings
    producer: ProducerSettings
    topics: TopicSettings
    processor: ProcessorSettings
    console: Console


@dataclass(frozen=True)
class Tally:
    """What a consumer finds on the topic: decoded events, undecodable records, repeats.

    Events plugins and timers emitted meanwhile (``source`` ``plugin:...``; the pipeline
    runs while the demo sends) are counted apart, in ``emitted``, not in the other figures.
    """

    records: int
    by_type: Counter[str]
    undecodable: int
    repeated_ids: int
    emitted: int = 0


def load_context() -> DemoContext:
    """Every setting the demo uses, read and checked; nothing is started or created."""
    kafka = load_kafka()
    ctx = DemoContext(
        kafka=kafka,
        local_kafka=load_settings(LocalKafkaSettings),
        clickhouse=load_settings(ClickHouseSettings),
        paths=checked_dirs(load_settings(PathSettings), create=False),
        producer=load_settings(ProducerSettings),
        topics=load_settings(TopicSettings),
        processor=load_settings(ProcessorSettings),
        console=Console(),
    )
    check_dsn(ctx.clickhouse, ctx.paths)
    return ctx


def configured_kafka(ctx: DemoContext) -> bool:
    """True when KAFKA_BOOTSTRAP_SERVERS names a broker (else the demo starts a local one)."""
    return "bootstrap_servers" in ctx.kafka.model_fields_set


def tally(values: Iterable[bytes], codec: EventCodec) -> Tally:
    """Decode every value the way a consumer would, counting what it finds."""
    by_type: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    undecodable = records = emitted = 0
    for value in values:
        try:
            event: dict[str, Any] = codec.decode(value)
        except DecodeError:
            records += 1
            undecodable += 1
            continue
        if event["source"].startswith("plugin:"):
            emitted += 1
            continue
        records += 1
        by_type[event["event_type"]] += 1
        seen[event["event_id"]] += 1
    return Tally(records, by_type, undecodable, sum(n - 1 for n in seen.values()), emitted)


def figures(sim: Simulation, found: Tally) -> list[Figure]:
    """Ground truth beside what was read back, one per figure the demo prints."""
    injected = sim.injected_counts()
    return [
        Figure("records on the topic", len(sim.records), found.records),
        Figure("undecodable records", injected[AnomalyKind.UNDECODABLE], found.undecodable),
        Figure("events delivered twice", injected[AnomalyKind.DUPLICATE_EVENT_ID],
               found.repeated_ids),
        Figure("decoded events", len(sim.records) - injected[AnomalyKind.UNDECODABLE],
               sum(found.by_type.values())),
    ]  # fmt: skip


def run_simulation(
    ctx: DemoContext, kafka: KafkaSettings, plan: SimulationPlan, rate: float = 0.0
) -> tuple[Simulation, list[Figure]]:
    """Send the plan's sessions, read them back, compare every figure with the ground truth."""
    codec = EventCodec()
    sim = simulate(plan, codec.encode)
    _, before = asyncio.run(offset_bounds(kafka, kafka.topic))
    sent = asyncio.run(
        send_with_progress(
            encoded_records(sim, codec), kafka, ctx.producer, rate=rate, console=ctx.console
        )
    )
    _, after = asyncio.run(offset_bounds(kafka, kafka.topic))
    records = asyncio.run(read_range(kafka, kafka.topic, before, after))
    found = tally((r.value for r in records), codec)
    ctx.console.print(
        f"[bold]simulate[/]: {plan.sessions} sessions, {sent} records acknowledged; "
        f"{sim.dead_letter_count()} rule-breaking records for {kafka.dlq_topic}; "
        f"{found.emitted} events emitted by plugins and timers meanwhile"
    )
    rows = figures(sim, found)
    ctx.console.print(check_table(rows, "read back vs simulator ground truth"))
    return sim, rows


def run_processing(
    ctx: DemoContext,
    kafka: KafkaSettings,
    sim: Simulation,
    dlq_before: dict[int, int],
    state: dict[str, Any],
) -> list[Figure]:
    """The pipeline's processors fold the topic; their state and dead letters vs the truth."""
    url = state["urls"]["processor-0 state_api"]
    wait_caught_up(kafka, asyncio.run(live_group(kafka, ctx.processor)))
    ctx.console.print(f"[bold]process[/]: every event folded; reading state from {url}")
    expected = expected_states(sim)
    served = served_states(url, list(expected))
    reasons = dead_letter_reasons(kafka, dlq_before, dlq_ends(kafka))
    timeout_s = ctx.processor.inactivity_timeout_s
    idle_before = int((time.time() - timeout_s) * 1000) if timeout_s > 0 else None
    rows = processing_figures(expected, served, idle_before, expected_reasons(sim), reasons)
    ctx.console.print(check_table(rows, "processor state and dead letters vs ground truth"))
    return rows


def processing_figures(
    expected: dict[str, tuple[str, int, int]],
    served: dict[str, tuple[str, int]],
    idle_before_ms: int | None,
    want: Counter[str],
    found: Counter[str],
) -> list[Figure]:
    """Sessions, their statuses and events, and dead letters by reason: expected vs found."""
    right = sum(1 for sid, e in expected.items() if as_expected(e, served.get(sid), idle_before_ms))
    rows = [
        Figure("sessions in state", len(expected), len(served)),
        Figure("sessions with the right status and events", len(expected), right),
    ]
    for reason in sorted(set(want) | set(found)):
        rows.append(Figure(f"dead letters: {reason}", want[reason], found[reason]))
    return rows


@click.command()
@click.option("--sessions", default=300, show_default=True, type=click.IntRange(min=1),
              help="Sessions to simulate.")  # fmt: skip
@click.option("--seed", default=42, show_default=True, help="Simulator seed.")
@click.option("--rate", default=2000.0, show_default=True, type=click.FloatRange(min=0),
              help="Events per second sent (0: as fast as possible).")  # fmt: skip
def demo(sessions: int, seed: int, rate: float) -> None:
    """Start the pipeline (or use the running one), send simulated sessions with every
    anomaly, and check state, dead letters and ClickHouse against the ground truth."""
    pipeline = load_pipeline(workers=1)
    ctx = load_context()
    if configured_kafka(ctx):
        asyncio.run(ensure_reachable(ctx.kafka))
    state = running_state(pipeline.paths.data_dir)
    if state is None:
        probe_clickhouse(pipeline)
        check_ports_free(pipeline)
        ctx.console.print("[bold]up[/]: starting Kafka, topics, processor and sink ...")
        state = start_detached(pipeline, timeout_s=180)
    else:
        ctx.console.print(
            f"[bold]up[/]: using the running pipeline (pid {state['supervisor_pid']})"
        )
    kafka = ctx.kafka.model_copy(update={"bootstrap_servers": state["bootstrap_servers"]})
    plan = SimulationPlan(
        sessions=sessions,
        concurrency=20,
        seed=seed,
        # event time: the sessions start now, as live traffic would; sessions sent with past
        # event times would look idle to the pipeline's timers while still being sent
        start=datetime.now(UTC),
        anomalies=dict.fromkeys(AnomalyKind, 3),
    )
    dlq_before = dlq_ends(kafka)
    sim, rows = run_simulation(ctx, kafka, plan, rate)
    _gate(rows, "read back differs from the ground truth")
    _gate(run_processing(ctx, kafka, sim, dlq_before, state), "the processor differs")
    _gate(showcase(ctx.console, kafka, pipeline, state), "ClickHouse differs")
    _gate(replay_and_verify(ctx.console, kafka, ctx.processor), "the rebuilt state differs")
    ctx.console.print(urls_text(state))


def _gate(rows: list[Figure], what: str) -> None:
    wrong = mismatches(rows)
    if wrong is not None:
        raise click.ClickException(f"{what}: {wrong}")
