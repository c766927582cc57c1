"""``sessionflow demo``: bring the infrastructure up and run the pipeline end to end.

Uses the configured Kafka (``KAFKA_BOOTSTRAP_SERVERS``) or starts the local broker, and the
configured ClickHouse (``CLICKHOUSE_DSN``) or the embedded engine under the data dir. Today
the run is: topics → simulated sessions with anomalies → read back and checked against the
simulator's ground truth → a processor worker folds them, and its state (over its state API)
and dead letters are checked against the ground truth too. Every figure printed is a figure
checked (the run fails if any differs). The ClickHouse sink joins when it lands.

Order: every setting is read and checked first, then a configured broker is asked for
metadata, then ClickHouse is opened, and only then is a local broker started, so a bad input
fails before anything was started or created.
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
from rich.table import Table

from sessionflow.cli.checks import checked_dirs, load_kafka
from sessionflow.cli.demo_processing import (
    as_expected,
    dead_letter_reasons,
    dlq_ends,
    expected_reasons,
    expected_states,
    processor_worker,
    served_states,
    wait_caught_up,
)
from sessionflow.cli.progress import send_with_progress
from sessionflow.cli.simulate_cmd import encoded_records
from sessionflow.core.clickhouse import check_dsn, open_client
from sessionflow.core.config import load_settings
from sessionflow.core.local_kafka import LocalKafka, LocalKafkaSettings
from sessionflow.core.reachability import ensure_reachable
from sessionflow.core.settings import ClickHouseSettings, KafkaSettings, PathSettings
from sessionflow.core.topic_reader import offset_bounds, read_range
from sessionflow.processors.settings import ProcessorSettings
from sessionflow.producers.settings import ProducerSettings, TopicSettings
from sessionflow.producers.simulator import AnomalyKind, Simulation, SimulationPlan, simulate
from sessionflow.producers.topics import create_topics
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
class Figure:
    """One figure of the check: what the ground truth expects and what was read back."""

    name: str
    expected: int
    found: int

    @property
    def ok(self) -> bool:
        """The figure matches."""
        return self.expected == self.found


@dataclass(frozen=True)
class Tally:
    """What a consumer finds on the topic: decoded events, undecodable records, repeats."""

    records: int
    by_type: Counter[str]
    undecodable: int
    repeated_ids: int


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


def ensure_kafka(ctx: DemoContext) -> KafkaSettings:
    """The configured broker, or the local one started now; returns the settings to use."""
    if configured_kafka(ctx):
        ctx.console.print(f"[bold]kafka[/]: using {ctx.kafka.bootstrap_servers} (configured)")
        return ctx.kafka
    status = LocalKafka(ctx.local_kafka, ctx.paths).up()
    ctx.console.print(
        f"[bold]kafka[/]: local broker at {status.bootstrap_servers} (pid {status.pid})"
    )
    return ctx.kafka.model_copy(update={"bootstrap_servers": status.bootstrap_servers})


def ensure_topics(ctx: DemoContext, kafka: KafkaSettings) -> None:
    """Create the domain and dead-letter topics unless they exist."""
    outcomes = asyncio.run(create_topics(kafka, ctx.topics))
    names = ", ".join(f"{o.name} ({'created' if o.created else 'exists'})" for o in outcomes)
    ctx.console.print(f"[bold]topics[/]: {names}")


def ensure_clickhouse(ctx: DemoContext) -> None:
    """Open ClickHouse, create the database, report the engine version."""
    client = open_client(ctx.clickhouse, ctx.paths)
    try:
        version = client.query("SELECT version()").result_rows[0][0]
    finally:
        client.close()
    target = "configured server" if ctx.clickhouse.dsn else "embedded chdb"
    ctx.console.print(
        f"[bold]clickhouse[/]: {target} {version}, database {ctx.clickhouse.database}"
    )


def tally(values: Iterable[bytes], codec: EventCodec) -> Tally:
    """Decode every value the way a consumer would, counting what it finds."""
    by_type: Counter[str] = Counter()
    seen: Counter[str] = Counter()
    undecodable = records = 0
    for value in values:
        records += 1
        try:
            event: dict[str, Any] = codec.decode(value)
        except DecodeError:
            undecodable += 1
            continue
        by_type[event["event_type"]] += 1
        seen[event["event_id"]] += 1
    return Tally(records, by_type, undecodable, sum(n - 1 for n in seen.values()))


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


def check_table(rows: list[Figure], title: str) -> Table:
    """The figures as a table with an ok mark per row."""
    table = Table(title=title)
    for column in ("figure", "expected", "found", "ok"):
        table.add_column(column, justify="left" if column == "figure" else "right")
    for row in rows:
        table.add_row(row.name, str(row.expected), str(row.found), "✓" if row.ok else "✗")
    return table


def mismatches(rows: list[Figure]) -> str | None:
    """What differs, as one line, or None when every figure matches (the demo's gate)."""
    wrong = [f"{r.name}: expected {r.expected}, found {r.found}" for r in rows if not r.ok]
    return "; ".join(wrong) or None


def run_simulation(
    ctx: DemoContext, kafka: KafkaSettings, plan: SimulationPlan
) -> tuple[Simulation, list[Figure]]:
    """Send the plan's sessions, read them back, compare every figure with the ground truth."""
    codec = EventCodec()
    sim = simulate(plan, codec.encode)
    _, before = asyncio.run(offset_bounds(kafka, kafka.topic))
    sent = asyncio.run(
        send_with_progress(
            encoded_records(sim, codec), kafka, ctx.producer, rate=0, console=ctx.console
        )
    )
    _, after = asyncio.run(offset_bounds(kafka, kafka.topic))
    records = asyncio.run(read_range(kafka, kafka.topic, before, after))
    found = tally((r.value for r in records), codec)
    ctx.console.print(
        f"[bold]simulate[/]: {plan.sessions} sessions, {sent} records acknowledged; "
        f"{sim.dead_letter_count()} rule-breaking records for {kafka.dlq_topic}"
    )
    rows = figures(sim, found)
    ctx.console.print(check_table(rows, "read back vs simulator ground truth"))
    return sim, rows


def run_processing(
    ctx: DemoContext, kafka: KafkaSettings, sim: Simulation, dlq_before: dict[int, int]
) -> list[Figure]:
    """A processor worker folds the topic; its state and dead letters against the truth."""
    log = ctx.paths.data_dir / "logs" / "processor.log"
    with processor_worker(kafka, ctx.processor, ctx.paths.data_dir, log) as url:
        ctx.console.print(f"[bold]process[/]: worker serving {url} (log {log})")
        wait_caught_up(kafka, ctx.processor.faust_id)
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
@click.option(
    "--sessions",
    default=200,
    show_default=True,
    type=click.IntRange(min=1),
    help="Sessions to simulate.",
)
@click.option("--seed", default=42, show_default=True, help="Simulator seed.")
def demo(sessions: int, seed: int) -> None:
    """Set up Kafka and ClickHouse, then run what the pipeline has, end to end."""
    ctx = load_context()
    if configured_kafka(ctx):
        asyncio.run(ensure_reachable(ctx.kafka))
    ensure_clickhouse(ctx)
    kafka = ensure_kafka(ctx)
    ensure_topics(ctx, kafka)
    plan = SimulationPlan(
        sessions=sessions,
        concurrency=20,
        seed=seed,
        end=datetime.now(UTC),  # event time: the simulated sessions end now
        anomalies=dict.fromkeys(AnomalyKind, 3),
    )
    dlq_before = dlq_ends(kafka)
    sim, rows = run_simulation(ctx, kafka, plan)
    wrong = mismatches(rows)
    if wrong is not None:
        raise click.ClickException(f"read back differs from the ground truth: {wrong}")
    wrong = mismatches(run_processing(ctx, kafka, sim, dlq_before))
    if wrong is not None:
        raise click.ClickException(f"the processor differs from the ground truth: {wrong}")
    ctx.console.print(
        "[green]done[/]: `sessionflow topics describe` shows the topics; "
        "`sessionflow kafka down` stops the local broker."
    )
