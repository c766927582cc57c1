"""Paths built from settings cannot leave the cache dir: the Kafka version is a Maven version."""

from __future__ import annotations

from pathlib import Path

import pytest

from sessionflow.core.config import load_settings
from sessionflow.core.errors import ConfigurationError
from sessionflow.core.local_kafka import LocalKafkaSettings
from sessionflow.core.local_kafka.resolver import kafka_home, kafka_libs


def _tree(root: Path) -> set[Path]:
    return set(root.rglob("*"))


@pytest.mark.parametrize(
    "version", ["/../../evil", "../4.4.0", "4.4.0/../../x", "4.4", "4.4.0\n", "", "4.4.0-rc/1"]
)
def test_a_version_that_is_not_maven_is_refused_before_any_write(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, version: str
) -> None:
    cache = tmp_path / "cache"
    cache.mkdir()
    before = _tree(tmp_path)
    monkeypatch.setenv("SESSIONFLOW_KAFKA_VERSION", version)

    with pytest.raises(ConfigurationError, match=r"^SESSIONFLOW_KAFKA_VERSION: must be a Maven"):
        load_settings(LocalKafkaSettings)
    with pytest.raises(ConfigurationError, match=r"^SESSIONFLOW_KAFKA_VERSION: must be a Maven"):
        kafka_libs(cache, version)  # the resolver checks too, for callers without settings

    assert _tree(tmp_path) == before


@pytest.mark.parametrize("version", ["4.4.0", "3.9.1", "4.1.0-rc1", "4.2.0-SNAPSHOT"])
def test_maven_versions_are_accepted(tmp_path: Path, version: str) -> None:
    assert load_settings(LocalKafkaSettings, version=version).version == version
    assert kafka_home(tmp_path, version) == tmp_path.resolve() / f"kafka-{version}"


def test_a_version_dir_linked_outside_the_cache_is_refused(tmp_path: Path) -> None:
    cache, outside = tmp_path / "cache", tmp_path / "elsewhere"
    cache.mkdir()
    outside.mkdir()
    (outside / "keep.txt").write_text("mine")
    (cache / "kafka-9.9.9").symlink_to(outside, target_is_directory=True)

    with pytest.raises(ConfigurationError, match="not inside"):
        kafka_libs(cache, "9.9.9")

    assert [p.name for p in outside.iterdir()] == ["keep.txt"]
