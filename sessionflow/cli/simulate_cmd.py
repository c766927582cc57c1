"""``sessionflow simulate``: realistic seeded sessions, optionally with anomalies, to Kafka."""

from __future__ import annotations

import asyncio
import json
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

import click
from rich.console import Console

from sessionflow.cli.checks import OutputFile, load_kafka
from sessionflow.cli.progress import counts_table, send_with_progress
from sessionflow.core.config import load_settings
from sessionflow.producers.delivery import EncodedRecord
from sessionflow.producers.event_time import check_records
from sessionflow.producers.settings import ProducerSettings
from sessionflow.producers.simulator import (
    AnomalyKind,
    Simulation,
    SimulationPlan,
    simulate,
)
from sessionflow.schemas import EventCodec


def encoded_records(sim: Simulation, codec: EventCodec) -> list[EncodedRecord]:
    """The simulation's records as they go on the wire (timestamp = event time), in order."""
    return [record.encoded(codec.encode) for record in sim.records]


def ground_truth_json(sim: Simulation) -> dict[str, object]:
    """What was injected, as JSON-ready data (the tests' and ops' ground truth)."""
    return {
        "sessions": sim.sessions,
        "records": len(sim.records),
        "valid_events": sim.valid_event_count(),
        "dead_letters_expected": sim.dead_letter_count(),
        "injected": {kind.value: n for kind, n in sim.injected_counts().items()},
        "scopes": len(sim.scopes()),
        "producer_restarts": len(sim.restarts),
        "anomalies": [
            {
                "kind": a.kind.value,
                "session_id": a.session_id,
                "event_id": a.event_id,
                "producer_id": a.producer_id,
                "detail": a.detail,
            }
            for a in sim.injected
        ],
    }


def print_injected(console: Console, sim: Simulation) -> None:
    """Every injected anomaly, then the counts per kind."""
    for anomaly in sim.injected:
        where = anomaly.event_id or "(raw bytes)"
        click.echo(
            f"  injected {anomaly.kind.value:<19} {anomaly.session_id} {where}: {anomaly.detail}"
        )
    counts = {kind.value: n for kind, n in sim.injected_counts().items()}
    console.print(counts_table("anomalies injected", counts))


def parse_start(value: str) -> datetime:
    """``now`` or an ISO 8601 time (naive means UTC)."""
    if value == "now":
        return datetime.now(UTC).replace(microsecond=0)
    moment = datetime.fromisoformat(value)
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _start_option(ctx: click.Context, param: click.Parameter, value: str | None) -> datetime | None:
    if value is None:
        return None
    try:
        return parse_start(value)
    except ValueError:
        raise click.BadParameter(f"{value!r} is not 'now' or an ISO 8601 time") from None


def write_ground_truth(path: Path, sim: Simulation) -> None:
    """Write the ground truth JSON to ``path``; a failure names the option."""
    try:
        path.write_text(json.dumps(ground_truth_json(sim), indent=2))
    except OSError as exc:
        message = f"cannot write {path}: {exc.strerror or exc}"
        raise click.BadParameter(message, param_hint="'--ground-truth'") from None


@click.command("simulate")
@click.option(
    "--sessions",
    default=100,
    show_default=True,
    type=click.IntRange(min=1),
    help="Sessions to simulate.",
)
@click.option(
    "--concurrency",
    default=10,
    show_default=True,
    type=click.IntRange(min=1),
    help="Sessions running at once.",
)
@click.option("--seed", default=42, show_default=True, help="Same seed, same events.")
@click.option(
    "--rate",
    default=0.0,
    show_default=True,
    type=click.FloatRange(min=0),
    help="Target events/s; 0 = as fast as possible.",
)
@click.option("--start", default=None, callback=_start_option,
              help="Time of the first session (ISO 8601, or 'now') [default: the sessions "
              "end now].")  # fmt: skip
@click.option(
    "--anomalies", is_flag=True, help="Inject rule-breaking events (see --anomaly-count)."
)
@click.option(
    "--anomaly-count",
    default=3,
    show_default=True,
    type=click.IntRange(min=0),
    help="Anomalies of each kind.",
)
@click.option(
    "--ground-truth", type=OutputFile(), help="Write what was injected as JSON to this file."
)
@click.option("--dry-run", is_flag=True, help="Build and report, send nothing.")
def simulate_command(
    sessions: int,
    concurrency: int,
    seed: int,
    rate: float,
    start: datetime | None,
    anomalies: bool,
    anomaly_count: int,
    ground_truth: Path | None,
    dry_run: bool,
) -> None:
    """Send realistic sessions that obey the state machines; anomalies in known quantities."""
    kafka = load_kafka()
    producer_settings = load_settings(ProducerSettings)
    console = Console()
    counts = dict.fromkeys(AnomalyKind, anomaly_count) if anomalies else {}
    try:
        plan = (
            SimulationPlan(sessions, concurrency, seed, anomalies=counts, end=datetime.now(UTC))
            if start is None
            else SimulationPlan(sessions, concurrency, seed, start, counts)
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    codec = EventCodec()
    sim = simulate(plan, codec.encode)
    records = encoded_records(sim, codec)
    check_records(records)  # an event time the topic would refuse: one line, nothing sent
    console.print(f"simulated {plan.sessions} sessions (seed {plan.seed}): {len(records)} records")
    if anomalies:
        print_injected(console, sim)
    if ground_truth is not None:
        write_ground_truth(ground_truth, sim)
    if dry_run:
        console.print("dry run: nothing sent")
        return
    acked = asyncio.run(
        send_with_progress(records, kafka, producer_settings, rate=rate, console=console)
    )
    by_type = Counter(r.event.event_type.value for r in sim.records if r.event is not None)
    console.print(counts_table("events sent by type", dict(by_type), "events"))
    console.print(
        f"sent {acked} records to {kafka.topic}: {sim.valid_event_count()} valid events, "
        f"{sim.dead_letter_count()} for the dead-letter topic, "
        f"{sim.injected_counts()[AnomalyKind.DUPLICATE_EVENT_ID]} duplicates to collapse"
    )
