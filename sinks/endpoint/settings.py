"""Settings of the analysts' read-only query endpoint (``SESSIONFLOW_SINK_HTTP_*``)."""

from __future__ import annotations

from pydantic import Field, SecretStr, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict


class EndpointSettings(BaseSettings):
    """Where the read-only ClickHouse-compatible HTTP endpoint listens, and its limits.

    Basic auth is on when ``user`` is set; it then needs ``password``. The password is a
    :class:`~pydantic.SecretStr` and never shows in ``repr`` or a validation error.
    """

    model_config = SettingsConfigDict(
        env_prefix="SESSIONFLOW_SINK_HTTP_", frozen=True, hide_input_in_errors=True
    )

    host: str = Field(
        default="127.0.0.1",
        description="Address the query endpoint listens on (0.0.0.0: every interface).",
    )
    port: int = Field(
        default=8124, ge=0, le=65535, description="TCP port of the query endpoint (0: any free)."
    )
    user: str | None = Field(
        default=None, description="User name analysts must send (unset: no authentication)."
    )
    password: SecretStr | None = Field(
        default=None, description="Password of the endpoint's user (never logged)."
    )
    max_execution_seconds: float = Field(
        default=60.0, gt=0, description="A query running longer is stopped (TIMEOUT_EXCEEDED)."
    )
    max_result_bytes: int = Field(
        default=256 * 1024 * 1024,
        gt=0,
        description="Largest answer in bytes; a larger one is refused (TOO_MANY_ROWS_OR_BYTES).",
    )
    display_name: str = Field(
        default="sessionflow",
        description="Server name reported to clients (X-ClickHouse-Server-Display-Name).",
    )

    @model_validator(mode="after")
    def _auth_is_complete(self) -> EndpointSettings:
        if (self.user is None) != (self.password is None):
            raise ValueError(
                "SESSIONFLOW_SINK_HTTP_USER and SESSIONFLOW_SINK_HTTP_PASSWORD go together"
            )
        return self
