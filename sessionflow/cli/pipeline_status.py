"""What ``sessionflow status`` reports of a pipeline started by ``sessionflow up``.

Each component from the supervisor's state file (alive, restarts, last exit, URLs, whether
its HTTP endpoint answers), consumer lag per group and partition of the domain topic, and
the dead letters on the DLQ topic by reason. Read-only: nothing here changes the pipeline.
"""

from __future__ import annotations

import asyncio
import json
import urllib.error
import urllib.request
from collections import Counter
from collections.abc import Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from sessionflow.core.settings import KafkaSettings
from sessionflow.core.supervisor import pid_alive, read_state
from sessionflow.core.topic_reader import offset_bounds, read_range
from sessionflow.processors.runtime.deadletter_writer import H_REASON
from sessionflow.producers.topics import describe_topics


def state_file(data_dir: Path) -> Path:
    """Where ``up`` records the pipeline it runs (under the data dir)."""
    return data_dir / "pipeline" / "state.json"


def log_dir(data_dir: Path) -> Path:
    """Where the components' logs go."""
    return data_dir / "pipeline" / "logs"


def running_state(data_dir: Path) -> dict[str, Any] | None:
    """The state file of a pipeline whose supervisor is alive, else None."""
    state = read_state(state_file(data_dir))
    if state is None or not pid_alive(state.get("supervisor_pid")):
        return None
    return state


def http_ok(url: str, timeout_s: float = 2.0) -> bool:
    """True when ``url`` answers 200 (a processor's /health, the endpoint's /ping)."""
    try:
        with urllib.request.urlopen(url, timeout=timeout_s) as response:
            return bool(response.status == 200)
    except (urllib.error.URLError, OSError, ValueError):
        return False


def component_ready(component: dict[str, Any]) -> bool:
    """The component runs and its health URL (if it has one) answers."""
    health = component.get("urls", {}).get("health")
    alive = component.get("status") == "running" and pid_alive(component.get("pid"))
    return alive and (health is None or http_ok(health))


@dataclass
class PipelineStatus:
    """Everything ``status`` prints, JSON-ready."""

    running: bool
    components: list[dict[str, Any]] = field(default_factory=list)
    lag: dict[str, dict[str, int]] = field(default_factory=dict)
    dead_letters: dict[str, int] = field(default_factory=dict)
    urls: dict[str, str] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    def as_json(self) -> str:
        """The status as one JSON document."""
        return json.dumps(self.__dict__, indent=2, sort_keys=True)


def collect(data_dir: Path, kafka: KafkaSettings | None, groups: list[str]) -> PipelineStatus:
    """The status of the pipeline under ``data_dir``; Kafka figures when ``kafka`` is given."""
    state = running_state(data_dir)
    if state is None:
        return PipelineStatus(running=False)
    status = PipelineStatus(running=True, urls=dict(state.get("urls", {})))
    for component in state.get("components", []):
        component = dict(component)
        component["ready"] = component_ready(component)
        status.components.append(component)
    if kafka is not None:
        try:
            status.lag = asyncio.run(_lag(kafka, groups))
            status.dead_letters = asyncio.run(dead_letters_by_reason(kafka))
        except Exception as exc:
            status.problems.append(f"kafka: {exc}")
    return status


async def topic_lags(
    kafka: KafkaSettings, topics: list[str], groups: list[str]
) -> dict[str, dict[tuple[str, int], int]]:
    """Per group: records past its committed offset on each (topic, partition) (no commit:
    every record counts)."""
    lags: dict[str, dict[tuple[str, int], int]] = {group: {} for group in groups}
    for described in await describe_topics(kafka, topics, groups=groups):
        ends = {p.partition: p.end_offset for p in described.partitions}
        for group in groups:
            found = [g for g in described.groups if g.group_id == group]
            committed = found[0].committed if found else {}
            for partition, end in sorted(ends.items()):
                lags[group][(described.name, partition)] = max(0, end - committed.get(partition, 0))
    return lags


async def _lag(kafka: KafkaSettings, groups: list[str]) -> dict[str, dict[str, int]]:
    lags = await topic_lags(kafka, [kafka.topic], groups)
    return {group: {str(p): n for (_, p), n in by.items()} for group, by in lags.items()}


async def dead_letters_by_reason(kafka: KafkaSettings) -> dict[str, int]:
    """Records on the DLQ topic by their reason header."""
    start, end = await offset_bounds(kafka, kafka.dlq_topic)
    return dict(sorted((await reasons_between(kafka, start, end)).items()))


async def reasons_between(
    kafka: KafkaSettings, start: Mapping[int, int], end: Mapping[int, int]
) -> Counter[str]:
    """Dead letters between two sets of offsets of the DLQ topic, by their reason header."""
    records = await read_range(kafka, kafka.dlq_topic, start, end)
    return Counter(
        dict(r.headers or ()).get(H_REASON, b"unknown").decode(errors="replace") for r in records
    )
