"""Settings of the local development broker (``sessionflow kafka up``)."""

from __future__ import annotations

import re

from pydantic import Field, field_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

MAVEN_VERSION = re.compile(r"\d+\.\d+\.\d+(-[A-Za-z0-9.]+)?")
"""What ``version`` may be: a Maven release such as ``4.4.0`` or ``4.1.0-rc1``, no path parts."""


class LocalKafkaSettings(BaseSettings):
    """One KRaft node on loopback; the jars come from Maven Central."""

    model_config = SettingsConfigDict(env_prefix="SESSIONFLOW_KAFKA_", frozen=True)

    version: str = Field(default="4.4.0", description="Apache Kafka version (kafka_2.13).")

    @field_validator("version")
    @classmethod
    def _maven_version(cls, value: str) -> str:
        if not MAVEN_VERSION.fullmatch(value):
            raise ValueError("must be a Maven version such as 4.4.0")
        return value

    host: str = Field(default="127.0.0.1", description="Address the local broker listens on.")
    port: int = Field(default=9092, ge=1, le=65535, description="Client (PLAINTEXT) port.")
    controller_port: int | None = Field(
        default=None, ge=1, le=65535, description="KRaft controller port; unset: port + 1."
    )
    sasl_ssl_port: int | None = Field(
        default=None,
        ge=1,
        le=65535,
        description=(
            "Port of an extra SASL_SSL listener (PLAIN, SCRAM-SHA-256/512; throwaway CA and "
            "random passwords in the data dir); unset: none. Chosen when storage is formatted."
        ),
    )
    heap_mb: int = Field(default=512, ge=128, le=1024, description="JVM heap of the broker, MiB.")
    partitions: int = Field(default=6, ge=1, description="Default partitions of new topics.")
    start_timeout_s: float = Field(
        default=90.0, gt=0, description="How long `up` waits for the broker to serve metadata."
    )

    @property
    def resolved_controller_port(self) -> int:
        """The controller port: the configured one, else the client port + 1."""
        return self.controller_port if self.controller_port is not None else self.port + 1
