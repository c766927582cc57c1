"""Which state versions of an app exist, and whether a rebuild may write a given one.

A version exists once it has a changelog topic (``<app_id>-vN-sessions-changelog``) or
committed offsets of its group (``<app_id>-vN``). A rebuild targets a version that does not
exist yet, or one it resumes; never the live version (the one the workers run).
"""

from __future__ import annotations

import re

from sessionflow.core.errors import ConfigurationError
from sessionflow.core.kafka_clients import new_admin
from sessionflow.core.settings import KafkaSettings
from sessionflow.processors.replay.changelog import changelog_topic, describe
from sessionflow.processors.replay.group import committed_offsets, group_members


class TargetVersionError(ConfigurationError):
    """The version asked for cannot be rebuilt into (live, taken, or nothing to resume)."""


def version_number(version: str) -> int:
    """N of ``vN``; :class:`TargetVersionError` for anything else."""
    if re.fullmatch(r"v[0-9]+", version) is None:
        raise TargetVersionError(f"--version: {version!r} is not a state version like v2")
    return int(version[1:])


async def existing_versions(kafka: KafkaSettings, app_id: str) -> set[str]:
    """Versions of ``app_id`` with a changelog topic or a consumer group."""
    pattern = re.compile(rf"{re.escape(app_id)}-(v[0-9]+)(-sessions-changelog)?")
    admin = new_admin(kafka)
    await admin.start()
    try:
        names = set(await admin.list_topics())
        names.update(group for group, *_ in await admin.list_consumer_groups())
    finally:
        await admin.close()
    return {m.group(1) for name in names if (m := pattern.fullmatch(name)) is not None}


async def next_version(kafka: KafkaSettings, app_id: str, live: str) -> str:
    """The first version after the live one and after every existing one."""
    numbers = [version_number(v) for v in {live} | await existing_versions(kafka, app_id)]
    return f"v{max(numbers) + 1}"


async def check_target(
    kafka: KafkaSettings, app_id: str, live: str, version: str, *, resume: bool
) -> None:
    """Raise :class:`TargetVersionError` (one line) unless ``version`` may be rebuilt into.

    Refused: the live version; without ``resume`` a version that has a changelog or
    committed offsets; with ``resume`` a version that has neither; a version whose consumer
    group has members (workers run on it).
    """
    version_number(version)
    if version == live:
        raise TargetVersionError(
            f"--version {version} is the live version (SESSIONFLOW_PROCESSOR_STATE_VERSION); "
            "rebuild into a new one"
        )
    topic = changelog_topic(app_id, version)
    has_changelog = topic in await describe(kafka, [topic])
    has_offsets = bool(await committed_offsets(kafka, f"{app_id}-{version}", kafka.topic))
    if not resume and (has_changelog or has_offsets):
        found = "changelog topic " + topic if has_changelog else "committed offsets"
        raise TargetVersionError(
            f"--version {version} already exists ({found}); pass --resume to continue it "
            "or choose another version"
        )
    if resume and not (has_changelog or has_offsets):
        raise TargetVersionError(f"--resume: version {version} has no rebuild to resume")
    members = await group_members(kafka, f"{app_id}-{version}")
    if members:
        raise TargetVersionError(
            f"--version {version}: {members} worker(s) run on it (group {app_id}-{version}); "
            "a rebuild writes only a version no worker runs"
        )
