"""Every settings class of sessionflow and the environment variables they read.

The README's settings table and the docker-compose check are generated from / tested
against this list, so a new setting cannot go undocumented.
"""

from __future__ import annotations

from dataclasses import dataclass

from pydantic_settings import BaseSettings

from sessionflow.core.local_kafka.settings import LocalKafkaSettings
from sessionflow.core.settings import ClickHouseSettings, KafkaSettings, PathSettings
from sessionflow.processors.settings import ProcessorSettings
from sessionflow.producers.settings import ProducerSettings, TopicSettings
from sessionflow.sinks.endpoint import EndpointSettings
from sessionflow.sinks.settings import SinkSettings


@dataclass(frozen=True)
class SettingRow:
    """One environment variable: its name, default and meaning."""

    env: str
    default: str
    meaning: str


def settings_classes() -> tuple[type[BaseSettings], ...]:
    """The settings classes of every component, in the order the README lists them."""
    return (
        KafkaSettings,
        ClickHouseSettings,
        PathSettings,
        LocalKafkaSettings,
        ProducerSettings,
        TopicSettings,
        ProcessorSettings,
        SinkSettings,
        EndpointSettings,
    )


def _default_text(cls: type[BaseSettings], name: str) -> str:
    field = cls.model_fields[name]
    if field.default_factory is not None:
        return "(computed)"
    if field.default is None:
        return "(unset)"
    return str(field.default)


def setting_rows() -> list[SettingRow]:
    """One row per environment variable read by any settings class."""
    rows: list[SettingRow] = []
    for cls in settings_classes():
        prefix = str(cls.model_config.get("env_prefix", ""))
        for name, field in cls.model_fields.items():
            env = f"{prefix}{name}".upper()
            rows.append(SettingRow(env, _default_text(cls, name), field.description or ""))
    return rows


def env_names() -> set[str]:
    """Every environment variable sessionflow reads."""
    return {row.env for row in setting_rows()}


def markdown_table() -> str:
    """The settings as a Markdown table (env var, default, meaning)."""
    lines = ["| env var | default | meaning |", "|---|---|---|"]
    for row in setting_rows():
        default = f"`{row.default}`" if not row.default.startswith("(") else row.default
        lines.append(f"| `{row.env}` | {default} | {row.meaning} |")
    return "\n".join(lines)
