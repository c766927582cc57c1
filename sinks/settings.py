"""Settings of the sink (``sessionflow sink``), read once by the entry point."""

from __future__ import annotations

import re

from pydantic import AliasChoices, Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

_PRICE = re.compile(r"^([^=\s]+)=([0-9]+(?:\.[0-9]+)?)/([0-9]+(?:\.[0-9]+)?)$")


class SinkSettings(BaseSettings):
    """How the sink consumes and writes: its group, batches, retention, prices, backoff."""

    model_config = SettingsConfigDict(env_prefix="SESSIONFLOW_SINK_", frozen=True)

    group_id: str = Field(
        default="sessionflow-sink",
        pattern=r"^[A-Za-z0-9._-]+$",
        description="Consumer group (reports lag; the resume point is kept in ClickHouse).",
    )
    batch_size: int = Field(
        default=10_000, ge=1, le=1_000_000, description="Most records per insert."
    )
    batch_timeout_ms: int = Field(
        default=500, ge=1, description="Longest a record waits in the sink before its insert."
    )
    retention_days: int = Field(
        default=30,
        ge=1,
        validation_alias=AliasChoices("SESSIONFLOW_SINK_RETENTION_DAYS", "SESSION_RETENTION_DAYS"),
        description="Days the audit and dead letters are kept in ClickHouse (TTL).",
    )
    prices: str = Field(
        default="",
        description=(
            "Token prices per 1M tokens, model=input/output, comma-separated "
            "(e.g. gpt-4o=2.5/10,claude-sonnet=3/15); loaded into model_prices."
        ),
    )
    backoff_max_s: float = Field(
        default=30.0, gt=0, description="Longest wait between retries while ClickHouse fails."
    )
    state: bool = Field(default=True, description="Store the processors' state stream.")

    @field_validator("prices")
    @classmethod
    def _prices(cls, value: str) -> str:
        for item in filter(None, (part.strip() for part in value.split(","))):
            if not _PRICE.match(item):
                raise ValueError(f"{item!r}: expected model=input/output per 1M tokens")
        return value

    def price_table(self) -> list[tuple[str, float, float]]:
        """(model, input per 1M, output per 1M) of every configured price."""
        table = []
        for item in filter(None, (part.strip() for part in self.prices.split(","))):
            match = _PRICE.match(item)
            if match:
                table.append((match[1], float(match[2]), float(match[3])))
        return table
