"""Helpers of the promote tests: a state version built by the pure fold, a steady producer,
the sessionflow CLI as a child process.

:func:`fold_into_version` is the tests' own rebuild: it folds the domain topic with the pure
core into a version's changelog and commits that version's offsets, the way a replay leaves
a version behind. It is independent of the replay engine under test elsewhere.
"""

from __future__ import annotations

import asyncio
import contextlib
import subprocess
import sys
import threading
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from aiokafka import TopicPartition
from aiokafka.admin import NewTopic
from aiokafka.errors import TopicAlreadyExistsError

from sessionflow.core.kafka_clients import new_admin, new_consumer, new_producer
from sessionflow.core.settings import KafkaSettings
from sessionflow.core.topic_reader import partitions_of, read_range, read_topic, topic_metadata
from sessionflow.processors.domain import Record, fold
from sessionflow.processors.domain.model import SessionState
from sessionflow.processors.domain.records import from_record, to_record
from sessionflow.processors.groups import committed_offsets, group_of
from sessionflow.processors.settings import ProcessorSettings
from sessionflow.producers import ProducerSettings, SessionEventProducer
from sessionflow.producers.simulator import Simulation, simulate
from sessionflow.schemas.state_codec import StateCodec, state_topic
from tests.processors.conftest import CODEC, recent_plan

STATES = StateCodec()


def as_record(r: Any) -> Record:
    """An aiokafka record as the fold sees it."""
    return Record(
        r.topic, r.partition, r.offset, r.key, r.value or b"", r.timestamp,
        tuple((k, v) for k, v in (r.headers or ())),
    )  # fmt: skip


async def fold_into_version(
    kafka: KafkaSettings, settings: ProcessorSettings, version: str, until: Mapping[int, int]
) -> int:
    """Fold ``version`` from its committed offsets (else the beginning) up to ``until`` with
    the pure core; write the changed states to its changelog; commit ``until``. Records read."""
    group = group_of(settings.app_id, version)
    changelog = state_topic(group)
    partitions = await partitions_of(kafka, kafka.topic)
    await _ensure_compacted(kafka, changelog, len(partitions))
    states: dict[str, SessionState] = {}
    for raw in await read_topic(kafka, changelog):
        if raw.value is not None:
            states[raw.key.decode()] = from_record(STATES.decode(raw.value))
    start = await committed_offsets(kafka, group)
    ahead = {p: end for p, end in until.items() if end > start.get(p, 0)}
    records = [as_record(r) for r in await read_range(kafka, kafka.topic, start, ahead)]
    result = fold(states, records, CODEC)
    producer = new_producer(kafka)
    await producer.start()
    try:
        for session_id, state in result.states.items():
            await producer.send(
                changelog, STATES.encode(to_record(state)), key=session_id.encode(),
                partition=result.partitions[session_id],
            )  # fmt: skip
        await producer.flush()
    finally:
        await producer.stop()
    await _commit(kafka, group, ahead)
    return len(records)


async def _ensure_compacted(kafka: KafkaSettings, topic: str, partitions: int) -> None:
    admin = new_admin(kafka)
    await admin.start()
    try:
        (found,) = await topic_metadata(admin, [topic])
        if found["error_code"] != 0:
            with contextlib.suppress(TopicAlreadyExistsError):
                await admin.create_topics(
                    [NewTopic(topic, partitions, 1, topic_configs={"cleanup.policy": "compact"})]
                )
    finally:
        await admin.close()


async def _commit(kafka: KafkaSettings, group: str, offsets: Mapping[int, int]) -> None:
    if not offsets:
        return
    consumer = new_consumer(kafka, group_id=group)
    await consumer.start()
    try:
        tps = {p: TopicPartition(kafka.topic, p) for p in offsets}
        consumer.assign(list(tps.values()))
        await consumer.commit({tps[p]: offset for p, offset in offsets.items()})
    finally:
        await consumer.stop()


@dataclass
class SteadyProducer:
    """Sends simulations one after another from a thread until :meth:`finish`."""

    kafka: KafkaSettings
    first_seed: int
    sessions: int = 8
    chunk: int = 100
    sent: list[Simulation] = field(default_factory=list)
    _stop: threading.Event = field(default_factory=threading.Event)
    _thread: threading.Thread | None = None
    _error: BaseException | None = None

    def start(self) -> SteadyProducer:
        self._thread = threading.Thread(target=self._run, daemon=True)
        self._thread.start()
        return self

    def finish(self, timeout_s: float = 120.0) -> list[Simulation]:
        """Stop after the simulation being sent; every simulation sent."""
        self._stop.set()
        assert self._thread is not None
        self._thread.join(timeout_s)
        assert not self._thread.is_alive(), "the steady producer did not finish"
        if self._error is not None:
            raise self._error
        return self.sent

    def _run(self) -> None:
        try:
            asyncio.run(self._send_all())
        except BaseException as exc:  # handed to the test thread by finish()
            self._error = exc

    async def _send_all(self) -> None:
        seed = self.first_seed
        async with SessionEventProducer(self.kafka, ProducerSettings(source="tests")) as sdk:
            while not self._stop.is_set():
                sim = simulate(recent_plan(self.sessions, seed, 1), CODEC.encode)
                encoded = [r.encoded(CODEC.encode) for r in sim.records]
                for i in range(0, len(encoded), self.chunk):
                    await sdk.send_encoded(encoded[i : i + self.chunk])
                    await asyncio.sleep(0.02)  # pacing: events trickle in, as live ones do
                self.sent.append(sim)
                seed += 1


def sessionflow(env: dict[str, str], *args: str, timeout_s: float = 300) -> tuple[int, str, str]:
    """(exit code, stdout, stderr) of ``sessionflow ARGS`` as a child process."""
    done = subprocess.run(
        [sys.executable, "-m", "sessionflow.cli", *args],
        env=env, capture_output=True, text=True, timeout=timeout_s,
    )  # fmt: skip
    return done.returncode, done.stdout, done.stderr


def end_offsets(kafka: KafkaSettings) -> dict[int, int]:
    """End offset per partition of the domain topic now."""

    async def ends() -> dict[int, int]:
        consumer = new_consumer(kafka)
        await consumer.start()
        try:
            tps = [TopicPartition(kafka.topic, p) for p in await partitions_of(kafka, kafka.topic)]
            return {tp.partition: o for tp, o in (await consumer.end_offsets(tps)).items()}
        finally:
            await consumer.stop()

    return asyncio.run(ends())


def offsets_report(kafka: KafkaSettings, group: str) -> dict[int, tuple[int | None, int]]:
    """Per partition of the domain topic: (``group``'s committed offset, end offset)."""
    committed = asyncio.run(committed_offsets(kafka, group))
    return {p: (committed.get(p), end) for p, end in end_offsets(kafka).items()}
