"""The local broker's optional SASL_SSL listener: TLS material, users and broker config.

Everything lives in ``<broker home>/secured/``: the TLS files of :mod:`.tls` and
``credentials.json`` (mode 600) with the random passwords. One user is served by every
mechanism of the listener: ``SCRAM-SHA-256`` and ``SCRAM-SHA-512`` credentials are written
into the cluster metadata when storage is formatted (``--add-scram``), ``PLAIN`` is checked
against the listener's JAAS config. Passwords are never printed; the broker's config, which
holds the PLAIN password, is written with mode 600 and Kafka logs it as ``[hidden]``.
"""

from __future__ import annotations

import json
import secrets
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

from pydantic import SecretStr

from sessionflow.core.errors import InfrastructureError
from sessionflow.core.local_kafka.tls import TlsFiles, write_private, write_tls_material
from sessionflow.core.settings import KafkaSettings

SASL_USER = "sessionflow"
SASL_MECHANISMS = ("PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512")
Mechanism = Literal["PLAIN", "SCRAM-SHA-256", "SCRAM-SHA-512"]

_PROPERTIES = """\
listener.name.sasl_ssl.sasl.enabled.mechanisms={mechanisms}
listener.name.sasl_ssl.plain.sasl.jaas.config=\
org.apache.kafka.common.security.plain.PlainLoginModule required user_{user}="{password}";
listener.name.sasl_ssl.scram-sha-256.sasl.jaas.config=\
org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.scram-sha-512.sasl.jaas.config=\
org.apache.kafka.common.security.scram.ScramLoginModule required;
listener.name.sasl_ssl.ssl.keystore.type=PEM
listener.name.sasl_ssl.ssl.keystore.location={keystore}
listener.name.sasl_ssl.ssl.truststore.type=PEM
listener.name.sasl_ssl.ssl.truststore.location={truststore}
listener.name.sasl_ssl.ssl.client.auth=requested
"""


@dataclass(frozen=True)
class Credentials:
    """The listener's user and the secrets clients need (never in ``repr``)."""

    username: str
    password: SecretStr
    client_key_password: SecretStr

    @classmethod
    def generate(cls) -> Credentials:
        """A fresh user with random passwords (URL-safe: no quoting needed anywhere)."""
        return cls(
            SASL_USER, SecretStr(secrets.token_urlsafe(24)), SecretStr(secrets.token_urlsafe(24))
        )

    @classmethod
    def load(cls, path: Path) -> Credentials:
        """Read credentials written by :meth:`store`."""
        data = json.loads(path.read_text())
        return cls(
            str(data["username"]),
            SecretStr(str(data["password"])),
            SecretStr(str(data["client_key_password"])),
        )

    def store(self, path: Path) -> None:
        """Write the credentials to ``path``, readable by the owner only."""
        data = {
            "username": self.username,
            "password": self.password.get_secret_value(),
            "client_key_password": self.client_key_password.get_secret_value(),
        }
        write_private(path, json.dumps(data).encode())


@dataclass(frozen=True)
class SaslSslListener:
    """Where the SASL_SSL listener is and what a client needs to reach it."""

    host: str
    port: int
    tls: TlsFiles
    credentials: Credentials

    @property
    def bootstrap_servers(self) -> str:
        """``host:port`` of the listener."""
        return f"{self.host}:{self.port}"

    def kafka_settings(
        self, mechanism: Mechanism = "SCRAM-SHA-512", *, client_certificate: bool = False
    ) -> KafkaSettings:
        """Settings reaching the listener with ``mechanism``, trusting its CA; with
        ``client_certificate`` the client also presents its certificate (mutual TLS)."""
        values: dict[str, object] = {
            "bootstrap_servers": self.bootstrap_servers,
            "security_protocol": "SASL_SSL",
            "sasl_mechanism": mechanism,
            "sasl_username": self.credentials.username,
            "sasl_password": self.credentials.password,
            "ssl_cafile": self.tls.ca_file,
        }
        if client_certificate:
            values.update(
                ssl_certfile=self.tls.client_cert,
                ssl_keyfile=self.tls.client_key,
                ssl_key_password=self.credentials.client_key_password,
            )
        return KafkaSettings.model_validate(values)

    def server_properties(self) -> str:
        """The broker config lines of the listener (security map and address excluded)."""
        return _PROPERTIES.format(
            mechanisms=",".join(SASL_MECHANISMS),
            user=self.credentials.username,
            password=self.credentials.password.get_secret_value(),
            keystore=self.tls.broker_keystore,
            truststore=self.tls.ca_file,
        )

    def format_arguments(self) -> list[str]:
        """``kafka-storage format`` options creating the SCRAM user (secret: never log them)."""
        user, password = self.credentials.username, self.credentials.password.get_secret_value()
        arguments: list[str] = []
        for mechanism in SASL_MECHANISMS:
            if mechanism.startswith("SCRAM-"):
                arguments += ["--add-scram", f"{mechanism}=[name={user},password={password}]"]
        return arguments


def secured_dir(home: Path) -> Path:
    """Where the listener's material lives inside the broker home."""
    return home / "secured"


def load_listener(home: Path, host: str, port: int) -> SaslSslListener | None:
    """The listener prepared earlier in ``home``, or None if there is none."""
    directory = secured_dir(home)
    files = TlsFiles.under(directory)
    credentials = directory / "credentials.json"
    if not (files.exist() and credentials.is_file()):
        return None
    try:
        return SaslSslListener(host, port, files, Credentials.load(credentials))
    except (OSError, ValueError, KeyError) as exc:
        raise InfrastructureError(f"cannot read {credentials}: {exc!r}") from None


def prepare_listener(home: Path, host: str, port: int) -> SaslSslListener:
    """The listener of ``home``: loaded if prepared before, else generated (TLS files for
    ``host``, 127.0.0.1 and localhost; a user with random passwords)."""
    existing = load_listener(home, host, port)
    if existing is not None:
        return existing
    directory = secured_dir(home)
    directory.mkdir(parents=True, exist_ok=True)
    directory.chmod(0o700)
    credentials = Credentials.generate()
    files = write_tls_material(
        directory,
        [host, "127.0.0.1", "localhost"],
        credentials.client_key_password.get_secret_value(),
    )
    credentials.store(directory / "credentials.json")
    return SaslSslListener(host, port, files, credentials)
