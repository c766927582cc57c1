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
from sessionflow.processors.replay.changelog import changelog_topic
from sessionflow.processors.replay.group import committed_offsets, group_members


class TargetVersionError(ConfigurationError):
    """The version asked for cannot be rebuilt into (live, taken, or nothing to resume)."""


def version_number(version: str) -> int:
    """N of ``vN``; :class:`TargetVersionError` for anything else."""
    if re.fullmatch(r"v[0-9]+", version) is None:
        raise TargetVersionError(f"--version: {version!r} is not a state version like v2")
    return int(version[1:])


async def _names(kafka: KafkaSettings) -> tuple[set[str], set[str]]:
    """(topics, consumer groups) of the cluster.

    Listing groups asks every broker; unlike finding a group's coordinator it never makes a
    fresh cluster create its offsets topic.
    """
    admin = new_admin(kafka)
    await admin.start()
    try:
        topics = set(await admin.list_topics())
        groups = {group for group, *_ in await admin.list_consumer_groups()}
    finally:
        await admin.close()
    return topics, groups


async def existing_versions(kafka: KafkaSettings, app_id: str) -> set[str]:
    """Versions of ``app_id`` with a changelog topic or a consumer group."""
    pattern = re.compile(rf"{re.escape(app_id)}-(v[0-9]+)(-sessions-changelog)?")
    topics, groups = await _names(kafka)
    return {m.group(1) for name in topics | groups if (m := pattern.fullmatch(name)) is not None}


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
    topic, group = changelog_topic(app_id, version), f"{app_id}-{version}"
    topics, groups = await _names(kafka)
    has_changelog = topic in topics
    known = group in groups
    has_offsets = known and bool(await committed_offsets(kafka, group, kafka.topic))
    if not resume and (has_changelog or has_offsets):
        found = "changelog topic " + topic if has_changelog else "committed offsets"
        raise TargetVersionError(
            f"--version {version} already exists ({found}); pass --resume to continue it "
            "or choose another version"
        )
    if resume and not (has_changelog or has_offsets):
        raise TargetVersionError(f"--resume: version {version} has no rebuild to resume")
    members = await group_members(kafka, group) if known else 0
    if members:
        raise TargetVersionError(
            f"--version {version}: {members} worker(s) run on it (group {app_id}-{version}); "
            "a rebuild writes only a version no worker runs"
        )
