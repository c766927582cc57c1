"""Promote a rebuilt state version: the live workers restart on it, nothing twice, nothing lost.

:func:`promote` moves the control record (:mod:`~sessionflow.processors.runtime.control`)
from ``current=OLD`` to ``current=NEW``:

1. refuse, before any side effect, a version never rebuilt (no changelog, no committed
   offsets), the live one, or one whose rebuild read past where ``OLD`` committed (events
   there were folded without their dead letters and plugin events; ``OLD``'s workers, if
   running, are given the timeout to get there);
2. write ``draining``: every worker on ``OLD`` stops cleanly (its offsets committed) and
   restarts waiting for ``current``; wait until ``OLD``'s group has no member;
3. ``catch_up(NEW, until=OLD's committed offsets)``: the events ``OLD`` processed after the
   rebuild's cut are folded into ``NEW`` without side effects (``OLD`` wrote their dead
   letters and plugin events); ``NEW``'s group then commits exactly where ``OLD`` stopped;
4. write ``current=NEW``: the workers start on ``NEW``, recover it from its changelog and
   continue from those offsets.

Anything going wrong before step 4 (the group not emptying in time, an error, Ctrl-C) writes
``current=OLD`` back: the workers resume on ``OLD`` where they stopped; ``NEW`` keeps what it
caught up (a later promote continues from there).
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable, Mapping
from dataclasses import dataclass

from sessionflow.core.errors import InfrastructureError, SessionflowError
from sessionflow.core.settings import KafkaSettings
from sessionflow.processors.groups import (
    behind,
    changelog_exists,
    committed_offsets,
    group_members,
    group_of,
)
from sessionflow.processors.runtime.control import (
    Phase,
    VersionRecord,
    read_control,
    write_control,
)
from sessionflow.processors.settings import ProcessorSettings
from sessionflow.schemas.state_codec import state_topic

CatchUp = Callable[[KafkaSettings, ProcessorSettings, str, Mapping[int, int]], Awaitable[int]]
Say = Callable[[str], None]
_POLL_S = 0.5


class PromoteRefused(SessionflowError):
    """The promote was refused before anything was changed."""


class DrainTimeoutError(InfrastructureError):
    """The old version's consumer group still had members when the timeout ran out."""


class PromoteRolledBack(SessionflowError):
    """The promote failed after draining began; the workers run on the old version again."""


@dataclass(frozen=True)
class LiveVersion:
    """The version the workers run on, and the control record it comes from (None: none)."""

    version: str
    record: VersionRecord | None

    def describe(self) -> str:
        """One line: the version first, then where it comes from."""
        if self.record is None:
            return f"{self.version} (no control record: SESSIONFLOW_PROCESSOR_STATE_VERSION)"
        return self.record.describe()


@dataclass(frozen=True)
class PromoteOutcome:
    """What a promote did."""

    previous: str
    version: str
    until: dict[int, int]
    folded: int
    drained_s: float


async def live_version(kafka: KafkaSettings, settings: ProcessorSettings) -> LiveVersion:
    """The live version: the control record's, else ``settings.state_version``.

    While a promote drains, the live version is still the one being drained.
    """
    record = await read_control(kafka, settings.app_id)
    if record is None:
        return LiveVersion(settings.state_version, None)
    if record.phase is Phase.DRAINING and record.previous is not None:
        return LiveVersion(record.previous, record)
    return LiveVersion(record.version, record)


async def promote(
    kafka: KafkaSettings,
    settings: ProcessorSettings,
    version: str,
    *,
    timeout_s: float,
    catch_up: CatchUp,
    say: Say,
) -> PromoteOutcome:
    """Switch the workers of ``settings.app_id`` to ``version`` (see the module)."""
    live = await live_version(kafka, settings)
    old = live.version
    if version == old:
        if live.record is not None and live.record.phase is Phase.DRAINING:
            await _write(kafka, settings, old, Phase.CURRENT, live.record.version)
            say(f"the interrupted promote to {live.record.version} is rolled back")
            return PromoteOutcome(old, old, {}, 0, 0.0)
        raise PromoteRefused(f"{version} is already the live state version")
    await _check_rebuilt(kafka, settings, version)
    await _wait_reached_cut(kafka, settings, old, version, timeout_s, say)
    await _write(kafka, settings, version, Phase.DRAINING, old)
    say(f"draining: the workers on {old} stop and wait for {version}")
    try:
        drained_s = await _wait_empty(kafka, group_of(settings.app_id, old), timeout_s)
        say(f"workers on {old} stopped after {drained_s:.1f}s; catching {version} up")
        until, folded = await _catch_up(kafka, settings, old, version, timeout_s, catch_up, say)
        await _write(kafka, settings, version, Phase.CURRENT, old)
    except BaseException as exc:
        await _write(kafka, settings, old, Phase.CURRENT, version)
        if not isinstance(exc, Exception):  # Ctrl-C (a cancelled task), SystemExit
            say(f"interrupted: rolled back, the workers run on {old} again")
            raise
        why = " ".join(str(exc).split()) or type(exc).__name__
        raise PromoteRolledBack(f"{why}; rolled back: the workers run on {old} again") from exc
    return PromoteOutcome(old, version, until, folded, drained_s)


async def _write(
    kafka: KafkaSettings, settings: ProcessorSettings, version: str, phase: Phase, other: str
) -> None:
    await write_control(kafka, settings.app_id, VersionRecord.now(version, phase, other))


async def _check_rebuilt(kafka: KafkaSettings, settings: ProcessorSettings, version: str) -> None:
    group = group_of(settings.app_id, version)
    if not await changelog_exists(kafka, group):
        raise PromoteRefused(
            f"{version} was never rebuilt: no state changelog {state_topic(group)} "
            "(run `sessionflow replay` first)"
        )
    if not await committed_offsets(kafka, group):
        raise PromoteRefused(
            f"{version} was never rebuilt: group {group} has no committed offsets on "
            f"{kafka.topic} (run `sessionflow replay` first)"
        )


async def _wait_reached_cut(
    kafka: KafkaSettings,
    settings: ProcessorSettings,
    old: str,
    new: str,
    timeout_s: float,
    say: Say,
) -> None:
    """Wait until ``old`` committed at least as far as ``new``'s rebuild on every partition."""
    old_group, new_group = group_of(settings.app_id, old), group_of(settings.app_id, new)
    deadline = time.monotonic() + timeout_s
    told = False
    while True:
        gap = behind(
            await committed_offsets(kafka, old_group), await committed_offsets(kafka, new_group)
        )
        if not gap:
            return
        where = ", ".join(f"{p}: {o} < {n}" for p, (o, n) in gap.items())
        if await group_members(kafka, old_group) == 0 or time.monotonic() > deadline:
            raise PromoteRefused(
                f"{old} has not processed up to {new}'s rebuild ({kafka.topic} partition "
                f"{where}); run the workers on {old} until they get there, then promote"
            )
        if not told:
            say(f"waiting for the workers on {old} to reach {new}'s rebuild ({where})")
            told = True
        await asyncio.sleep(_POLL_S)  # polling committed offsets, bounded by the deadline


async def _wait_empty(kafka: KafkaSettings, group: str, timeout_s: float) -> float:
    """Seconds until ``group`` has no member; :class:`DrainTimeoutError` after ``timeout_s``."""
    started = time.monotonic()
    while await group_members(kafka, group) > 0:
        if time.monotonic() - started > timeout_s:
            raise DrainTimeoutError(f"group {group} still has members after {timeout_s:g}s")
        await asyncio.sleep(_POLL_S)  # polling the group's membership, bounded by the timeout
    return time.monotonic() - started


async def _catch_up(
    kafka: KafkaSettings,
    settings: ProcessorSettings,
    old: str,
    new: str,
    timeout_s: float,
    catch_up: CatchUp,
    say: Say,
) -> tuple[dict[int, int], int]:
    """Fold ``new`` up to ``old``'s committed offsets; again if ``old`` moved meanwhile.

    ``old`` moves only if one of its workers joined between its start-up read of the control
    record and the draining record (it then sees draining and stops again).
    """
    old_group = group_of(settings.app_id, old)
    folded = 0
    while True:
        until = await committed_offsets(kafka, old_group)
        folded += await catch_up(kafka, settings, new, until)
        if (
            await group_members(kafka, old_group) == 0
            and await committed_offsets(kafka, old_group) == until
        ):
            return until, folded
        say(f"a worker on {old} ran during the catch-up; catching up again once it stopped")
        await _wait_empty(kafka, old_group, timeout_s)
