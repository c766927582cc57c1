"""Settings of the processors (``sessionflow process``), read once by the entry point."""

from __future__ import annotations

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class ProcessorSettings(BaseSettings):
    """How a processor worker runs: its group, store, batches, web server, plugins, timers."""

    model_config = SettingsConfigDict(env_prefix="SESSIONFLOW_PROCESSOR_", frozen=True)

    app_id: str = Field(
        default="sessionflow-processors",
        pattern=r"^[A-Za-z0-9._-]+$",
        description="Consumer group and prefix of the state changelog topics.",
    )
    state_version: str = Field(
        default="v1",
        pattern=r"^v[0-9]+$",
        description="State version the workers run on while the control record names none "
        "(`sessionflow state current`).",
    )
    web_host: str = Field(default="127.0.0.1", description="Address the state API listens on.")
    web_port: int = Field(default=6066, ge=1, le=65535, description="Port of the state API.")
    store: str = Field(
        default="rocksdb",
        pattern=r"^(rocksdb|memory)$",
        description="Local table store: rocksdb (persistent, default) or memory.",
    )
    batch_size: int = Field(default=10_000, ge=1, description="Most events folded per batch.")
    batch_timeout_ms: int = Field(
        default=200, ge=1, description="Longest wait for a batch to fill before folding it."
    )
    plugins: str = Field(
        default="*",
        description="Plugins to run: * (every installed one), comma-separated names, or empty.",
    )
    plugins_disabled: str = Field(default="", description="Comma-separated plugins not to run.")
    plugin_timeout_ms: int = Field(
        default=2_000,
        ge=1,
        description="A plugin call taking longer is cancelled and dead-lettered.",
    )
    max_causation_depth: int = Field(
        default=3, ge=1, description="Plugin events caused by plugin events stop at this depth."
    )
    approval_timeout_s: float = Field(
        default=300.0,
        ge=0,
        description="Manual approval undecided this long -> APPROVAL_TIMEOUT (0: off).",
    )
    inactivity_timeout_s: float = Field(
        default=1800.0, ge=0, description="ACTIVE session silent this long -> suspended (0: off)."
    )
    standby_replicas: int = Field(
        default=0, ge=0, description="Standby table replicas per partition."
    )
    session_timeout_s: float = Field(
        default=10.0, ge=6.0, description="Consumer group session timeout (Kafka needs >= 6 s)."
    )
    stats_retention_minutes: int = Field(
        default=60, ge=1, description="Minutes of per-minute statistics kept in memory."
    )

    @field_validator("plugins", "plugins_disabled")
    @classmethod
    def _names(cls, value: str) -> str:
        return ",".join(name.strip() for name in value.split(",") if name.strip())

    @property
    def faust_id(self) -> str:
        """The faust app id: the app id and the state version (``sessionflow-processors-v1``)."""
        return f"{self.app_id}-{self.state_version}"

    def enabled_plugins(self) -> set[str] | None:
        """Names to load, or None for every installed plugin."""
        return None if self.plugins == "*" else set(filter(None, self.plugins.split(",")))

    def disabled_plugins(self) -> set[str]:
        """Names never to load."""
        return set(filter(None, self.plugins_disabled.split(",")))
