"""Settings shared by every component: where things live and how to reach Kafka and ClickHouse.

Each class is frozen and read from the environment once, in an entry point (the CLI or a
test fixture), then passed down. Nothing here reads ``os.environ`` at import time.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Literal

from pydantic import Field, SecretStr, model_validator
from pydantic_core import PydanticCustomError
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
    """How every client reaches Kafka, and the names of the domain topics.

    Security combinations are checked when the settings are built (see
    :func:`security_problem`): a ``SASL_*`` protocol needs a mechanism, user and password;
    SASL settings need a ``SASL_*`` protocol; TLS files need ``SSL``/``SASL_SSL`` and must be
    readable files. Secrets are :class:`~pydantic.SecretStr`: they never show in ``repr``.
    """

    # hide_input_in_errors: a ValidationError must never echo KAFKA_SASL_PASSWORD back.
    model_config = SettingsConfigDict(env_prefix="KAFKA_", frozen=True, hide_input_in_errors=True)

    bootstrap_servers: str = Field(
        default="127.0.0.1:9092", description="Comma-separated host:port list of brokers."
    )
    security_protocol: Literal["PLAINTEXT", "SSL", "SASL_PLAINTEXT", "SASL_SSL"] = Field(
        default="PLAINTEXT", description="Kafka security protocol."
    )
    sasl_mechanism: Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"] | None = Field(
        default=None, description="SASL mechanism; required when the protocol is SASL_*."
    )
    sasl_username: str | None = Field(default=None, description="SASL user name.")
    sasl_password: SecretStr | None = Field(
        default=None, description="SASL password (never logged)."
    )
    ssl_cafile: Path | None = Field(
        default=None,
        description=(
            "PEM file of the CA certificates that signed the brokers' certificates "
            "(SSL/SASL_SSL); unset: the system's trusted CAs."
        ),
    )
    ssl_certfile: Path | None = Field(
        default=None,
        description="PEM client certificate, for brokers that require mutual TLS.",
    )
    ssl_keyfile: Path | None = Field(
        default=None, description="PEM private key of the client certificate."
    )
    ssl_key_password: SecretStr | None = Field(
        default=None, description="Password of an encrypted KAFKA_SSL_KEYFILE (never logged)."
    )
    ssl_check_hostname: bool = Field(
        default=True,
        description="Check that the broker's certificate names the host connected to.",
    )
    client_id: str = Field(default="sessionflow", description="Client id sent to the broker.")
    topic: str = Field(default="session-events", description="The domain topic.")
    dlq_topic: str = Field(
        default="session-events.dlq",
        description="Dead letters: rule-breaking or undecodable events.",
    )

    @property
    def uses_ssl(self) -> bool:
        """True when connections are TLS (``SSL`` or ``SASL_SSL``)."""
        return self.security_protocol in ("SSL", "SASL_SSL")

    @property
    def uses_sasl(self) -> bool:
        """True when connections authenticate with SASL (``SASL_PLAINTEXT`` or ``SASL_SSL``)."""
        return self.security_protocol.startswith("SASL_")

    @model_validator(mode="after")
    def _check_security(self) -> KafkaSettings:
        problem = security_problem(self)
        if problem is not None:
            raise PydanticCustomError("kafka_security", problem)
        return self


_SASL_FIELDS = ("sasl_mechanism", "sasl_username", "sasl_password")
_SSL_FILES = ("ssl_cafile", "ssl_certfile", "ssl_keyfile")


def _env(field: str) -> str:
    return f"KAFKA_{field.upper()}"


def security_problem(kafka: KafkaSettings) -> str | None:
    """The first invalid security combination of ``kafka`` as one line naming the env vars,
    or None when the combination is usable."""
    protocol = f"KAFKA_SECURITY_PROTOCOL={kafka.security_protocol}"
    if kafka.uses_sasl:
        for name in _SASL_FIELDS:
            if getattr(kafka, name) is None:
                return f"{_env(name)} is required when {protocol}"
    else:
        for name in _SASL_FIELDS:
            if getattr(kafka, name) is not None:
                return (
                    f"{_env(name)} is set but {protocol} does not use SASL "
                    "(use SASL_SSL or SASL_PLAINTEXT, or unset it)"
                )
    ssl_set = [n for n in (*_SSL_FILES, "ssl_key_password") if getattr(kafka, n) is not None]
    if not kafka.ssl_check_hostname:
        ssl_set.append("ssl_check_hostname")
    if ssl_set and not kafka.uses_ssl:
        return (
            f"{_env(ssl_set[0])} is set but {protocol} does not use TLS "
            "(use SSL or SASL_SSL, or unset it)"
        )
    return _client_certificate_problem(kafka) or _unreadable_file(kafka)


def _client_certificate_problem(kafka: KafkaSettings) -> str | None:
    if kafka.ssl_certfile is not None and kafka.ssl_keyfile is None:
        return "KAFKA_SSL_CERTFILE is set without KAFKA_SSL_KEYFILE (mutual TLS needs both)"
    if kafka.ssl_keyfile is not None and kafka.ssl_certfile is None:
        return "KAFKA_SSL_KEYFILE is set without KAFKA_SSL_CERTFILE (mutual TLS needs both)"
    if kafka.ssl_key_password is not None and kafka.ssl_keyfile is None:
        return "KAFKA_SSL_KEY_PASSWORD is set without KAFKA_SSL_KEYFILE"
    return None


def _unreadable_file(kafka: KafkaSettings) -> str | None:
    for name in _SSL_FILES:
        path: Path | None = getattr(kafka, name)
        if path is None:
            continue
        if not path.exists():
            return f"{_env(name)}: {path} does not exist"
        if not path.is_file():
            return f"{_env(name)}: {path} is not a file"
        if not os.access(path, os.R_OK):
            return f"{_env(name)}: {path} is not readable"
    return None


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


def kafka_child_environment(kafka: KafkaSettings) -> dict[str, str]:
    """``kafka`` as the ``KAFKA_*`` environment variables a sessionflow child process reads
    (TLS files as paths, booleans as ``true``/``false``).

    Secrets are included in plain text: use it for a child's environment only, never for
    output or logs.
    """
    env: dict[str, str] = {}
    for name, value in kafka.model_dump().items():
        if value is None:
            continue
        if isinstance(value, SecretStr):
            text = value.get_secret_value()
        elif isinstance(value, bool):
            text = "true" if value else "false"
        else:
            text = str(value)
        env[f"KAFKA_{name.upper()}"] = text
    return env
