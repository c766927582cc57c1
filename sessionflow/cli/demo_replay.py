"""The demo's replay-and-verify pass: rebuild the topic into a new state version beside the
live one (the replay engine, from a plain batch consumer), then verify live = rebuilt = a
pure fold of the topic, and print both as checked figures."""

from __future__ import annotations

import asyncio

from rich.console import Console

from sessionflow.cli.figures import Figure, check_table
from sessionflow.core.settings import KafkaSettings
from sessionflow.core.topic_reader import partitions_of
from sessionflow.processors.promote import live_version
from sessionflow.processors.replay.rebuild import Rebuild, RebuildReport, Target
from sessionflow.processors.replay.sources import StartAt, TopicSource
from sessionflow.processors.replay.verify import VerifyReport, verify
from sessionflow.processors.replay.versions import next_version
from sessionflow.processors.settings import ProcessorSettings


def replay_and_verify(
    console: Console, kafka: KafkaSettings, settings: ProcessorSettings
) -> list[Figure]:
    """Rebuild into the next free version, verify it; the figures (mismatches fail)."""
    rebuilt, checked = asyncio.run(_run(kafka, settings))
    console.print(
        f"[bold]replay[/]: {rebuilt.events:,} events folded into {rebuilt.version} in "
        f"{rebuilt.seconds:.1f}s ({rebuilt.rate:,.0f} ev/s) beside the live {checked.live}; "
        f"`sessionflow state promote {rebuilt.version}` would switch the workers to it"
    )
    rows = [
        Figure(f"sessions: fold of the topic = rebuilt {rebuilt.version}",
               checked.sessions["fold"], checked.sessions["rebuilt"]),
        Figure(f"sessions equal to live {checked.live} (not moved past the cut)",
               checked.sessions["fold (live's sessions)"], checked.sessions["live"]),
        Figure("sessions that differ anywhere", 0, len(checked.differences)),
    ]  # fmt: skip
    console.print(check_table(rows, f"verify {rebuilt.version}: digests of fold, rebuilt, live"))
    return rows


async def _run(
    kafka: KafkaSettings, settings: ProcessorSettings
) -> tuple[RebuildReport, VerifyReport]:
    live = (await live_version(kafka, settings)).version
    version = await next_version(kafka, settings.app_id, live)
    source = TopicSource(kafka, StartAt(), batch_size=settings.batch_size)
    rebuilt = await Rebuild(kafka, Target(settings.app_id, version), source, {}).run()
    partitions = await partitions_of(kafka, kafka.topic)
    everything = TopicSource(kafka, StartAt(), batch_size=settings.batch_size)
    checked = await verify(kafka, settings.app_id, version, live, everything, len(partitions))
    return rebuilt, checked
