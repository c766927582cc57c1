"""The README's SDK example runs as printed, against the real broker."""

from __future__ import annotations

import asyncio
import re
from pathlib import Path

import pytest

from sessionflow.core.settings import KafkaSettings
from sessionflow.producers import TopicSettings, create_topics
from sessionflow.testing import kafka_env

README = Path(__file__).resolve().parents[2] / "README.md"


def sdk_example() -> str:
    section = README.read_text().split("## For services: emitting events", 1)[1]
    match = re.search(r"```python\n(.*?)```", section, re.DOTALL)
    assert match, "the README's SDK example is missing"
    return match.group(1)


def test_readme_sdk_example_runs(
    kafka: KafkaSettings,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:
    for name, value in kafka_env(kafka).items():
        monkeypatch.setenv(name, value)
    asyncio.run(create_topics(KafkaSettings(), TopicSettings(partitions=3)))

    exec(compile(sdk_example(), "README.md", "exec"), {"__name__": "readme"})

    assert re.search(r"sequence 3 at partition \d offset 2\n", capsys.readouterr().out)
