"""Settings shared by every component: where things live and how to reach Kafka and ClickHouse.

Each class is frozen and read from the environment once, in an entry point (the CLI or a
test fixture), then passed down. Nothing here reads ``os.environ`` at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr
from pydantic_settings import BaseSettings, SettingsConfigDict


def _xdg_dir(variable: str, fallback: str) -> Path:
    base = os.environ.get(variable) or str(Path.home() / fallback)
    return Path(base) / "sessionflow"


class PathSettings(BaseSettings):
    """Where sessionflow keeps downloads (cache) and state (data) on this machine."""

    model_config = SettingsConfigDict(env_prefix="SESSIONFLOW_", frozen=True)

    cache_dir: Path = Field(
        default_factory=lambda: _xdg_dir("XDG_CACHE_HOME", ".cache"),
        description="Downloads that can be fetched again (Kafka jars); ~/.cache/sessionflow.",
    )
    data_dir: Path = Field(
        default_factory=lambda: _xdg_dir("XDG_DATA_HOME", ".local/share"),
        description=(
            "State: the local broker's log dirs and the embedded ClickHouse data; "
            "default ~/.local/share/sessionflow."
        ),
    )


class KafkaSettings(BaseSettings):
    """How every client reaches Kafka, and the names of the domain topics."""

    model_config = SettingsConfigDict(env_prefix="KAFKA_", frozen=True)

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="Comma-separated host:port list of brokers."
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="Kafka security protocol."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        default=None, description="SASL mechanism when the protocol is SASL_*."
    )
    sasl_username: str | None = Field(default=None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(
        default=None, description="SASL password (never logged)."
    )
    client_id: str = Field(default="sessionflow", description="Client id sent to the broker.")
    topic: str = Field(default="session-events", description="The domain topic.")
    dlq_topic: str = Field(
        default="session-events.dlq",
        description="Dead letters: rule-breaking or undecodable events.",
    )


class ClickHouseSettings(BaseSettings):
    """How sinks and queries reach ClickHouse (embedded chdb by default)."""

    model_config = SettingsConfigDict(env_prefix="CLICKHOUSE_", frozen=True)

    dsn: SecretStr | None = Field(
        default=None,
        description=(
            "clickhouse-connect DSN: chdb:///abs/path (embedded) or http(s)://user:pass@host:8123. "
            "Unset: chdb://<SESSIONFLOW_DATA_DIR>/clickhouse."
        ),
    )
    database: str = Field(default="sessionflow", description="Database holding the tables.")

    def resolved_dsn(self, paths: PathSettings) -> str:
        """The DSN to connect with: the configured one, else the embedded engine under data_dir."""
        if self.dsn is not None:
            return self.dsn.get_secret_value()
        return f"chdb://{(paths.data_dir / 'clickhouse').resolve()}"
