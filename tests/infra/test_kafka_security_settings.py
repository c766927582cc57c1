"""Kafka security settings: invalid combinations are one line naming the env vars; TLS files
that cannot be loaded are one ConfigurationError line; no broker needed."""

from __future__ import annotations

import os
import ssl
from pathlib import Path

import pytest
from pydantic import ValidationError

from sessionflow.core.errors import ConfigurationError
from sessionflow.core.kafka_clients import new_producer, ssl_context
from sessionflow.core.local_kafka.tls import TlsFiles, write_tls_material
from sessionflow.core.settings import KafkaSettings

SASL = {
    "KAFKA_SASL_MECHANISM": "SCRAM-SHA-512",
    "KAFKA_SASL_USERNAME": "alice",
    "KAFKA_SASL_PASSWORD": "s3cret-password",
}


@pytest.fixture(scope="module")
def tls(tmp_path_factory: pytest.TempPathFactory) -> TlsFiles:
    """A CA, broker and client certificate; the client key is encrypted with 'key-pass'."""
    return write_tls_material(tmp_path_factory.mktemp("tls"), ["127.0.0.1"], "key-pass")


def load(monkeypatch: pytest.MonkeyPatch, env: dict[str, str]) -> KafkaSettings:
    for name in list(os.environ):
        if name.startswith("KAFKA_"):
            monkeypatch.delenv(name)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return KafkaSettings()


def only_message(error: ValidationError) -> str:
    (detail,) = error.errors()
    return str(detail["msg"])


INVALID: list[tuple[str, dict[str, str], str]] = [
    (
        "sasl-ssl-without-mechanism",
        {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL"},
        "KAFKA_SASL_MECHANISM is required when KAFKA_SECURITY_PROTOCOL=SASL_SSL",
    ),
    (
        "sasl-plaintext-without-user",
        {"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", "KAFKA_SASL_MECHANISM": "PLAIN"},
        "KAFKA_SASL_USERNAME is required when KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT",
    ),
    (
        "sasl-ssl-without-password",
        {
            "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
            "KAFKA_SASL_MECHANISM": "PLAIN",
            "KAFKA_SASL_USERNAME": "alice",
        },
        "KAFKA_SASL_PASSWORD is required when KAFKA_SECURITY_PROTOCOL=SASL_SSL",
    ),
    (
        "mechanism-with-plaintext",
        {"KAFKA_SASL_MECHANISM": "PLAIN"},
        "KAFKA_SASL_MECHANISM is set but KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not use SASL",
    ),
    (
        "password-with-ssl",
        {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SASL_PASSWORD": "x"},
        "KAFKA_SASL_PASSWORD is set but KAFKA_SECURITY_PROTOCOL=SSL does not use SASL",
    ),
    (
        "cafile-with-plaintext",
        {"KAFKA_SSL_CAFILE": "{ca}"},
        "KAFKA_SSL_CAFILE is set but KAFKA_SECURITY_PROTOCOL=PLAINTEXT does not use TLS",
    ),
    (
        "hostname-check-off-with-sasl-plaintext",
        {"KAFKA_SECURITY_PROTOCOL": "SASL_PLAINTEXT", **SASL, "KAFKA_SSL_CHECK_HOSTNAME": "false"},
        "KAFKA_SSL_CHECK_HOSTNAME is set but KAFKA_SECURITY_PROTOCOL=SASL_PLAINTEXT "
        "does not use TLS",
    ),
    (
        "certfile-without-keyfile",
        {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CERTFILE": "{cert}"},
        "KAFKA_SSL_CERTFILE is set without KAFKA_SSL_KEYFILE",
    ),
    (
        "keyfile-without-certfile",
        {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_KEYFILE": "{key}"},
        "KAFKA_SSL_KEYFILE is set without KAFKA_SSL_CERTFILE",
    ),
    (
        "key-password-without-keyfile",
        {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_KEY_PASSWORD": "key-pass"},
        "KAFKA_SSL_KEY_PASSWORD is set without KAFKA_SSL_KEYFILE",
    ),
    (
        "missing-cafile",
        {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": "{tmp}/nowhere/ca.pem"},
        "KAFKA_SSL_CAFILE: {tmp}/nowhere/ca.pem does not exist",
    ),
    (
        "cafile-is-a-directory",
        {"KAFKA_SECURITY_PROTOCOL": "SASL_SSL", **SASL, "KAFKA_SSL_CAFILE": "{tmp}"},
        "KAFKA_SSL_CAFILE: {tmp} is not a file",
    ),
    (
        "missing-keyfile",
        {
            "KAFKA_SECURITY_PROTOCOL": "SSL",
            "KAFKA_SSL_CERTFILE": "{cert}",
            "KAFKA_SSL_KEYFILE": "{tmp}/gone.pem",
        },
        "KAFKA_SSL_KEYFILE: {tmp}/gone.pem does not exist",
    ),
]


@pytest.mark.parametrize(("env", "expected"), [c[1:] for c in INVALID], ids=[c[0] for c in INVALID])
def test_invalid_combination_is_one_line_naming_the_env_vars(
    monkeypatch: pytest.MonkeyPatch,
    tls: TlsFiles,
    tmp_path: Path,
    env: dict[str, str],
    expected: str,
) -> None:
    paths = {"ca": tls.ca_file, "cert": tls.client_cert, "key": tls.client_key, "tmp": tmp_path}
    filled = {name: value.format(**paths) for name, value in env.items()}

    with pytest.raises(ValidationError) as caught:
        load(monkeypatch, filled)

    message = only_message(caught.value)
    assert message.startswith(expected.format(**paths))
    assert "\n" not in message
    assert "s3cret-password" not in str(caught.value)


@pytest.mark.skipif(os.geteuid() == 0, reason="root reads files whatever their mode")
def test_unreadable_file_is_named(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    ca = tmp_path / "ca.pem"
    ca.write_text("x")
    ca.chmod(0)

    with pytest.raises(ValidationError) as caught:
        load(monkeypatch, {"KAFKA_SECURITY_PROTOCOL": "SSL", "KAFKA_SSL_CAFILE": str(ca)})

    assert only_message(caught.value) == f"KAFKA_SSL_CAFILE: {ca} is not readable"


def test_valid_combinations_are_accepted(monkeypatch: pytest.MonkeyPatch, tls: TlsFiles) -> None:
    mutual = {
        "KAFKA_SECURITY_PROTOCOL": "SASL_SSL",
        **SASL,
        "KAFKA_SSL_CAFILE": str(tls.ca_file),
        "KAFKA_SSL_CERTFILE": str(tls.client_cert),
        "KAFKA_SSL_KEYFILE": str(tls.client_key),
        "KAFKA_SSL_KEY_PASSWORD": "key-pass",
        "KAFKA_SSL_CHECK_HOSTNAME": "false",
    }

    plain = load(monkeypatch, {})
    system_cas = load(monkeypatch, {"KAFKA_SECURITY_PROTOCOL": "SSL"})
    full = load(monkeypatch, mutual)

    assert (plain.uses_ssl, plain.uses_sasl) == (False, False)
    assert (system_cas.uses_ssl, system_cas.ssl_cafile) == (True, None)
    assert full.ssl_keyfile == tls.client_key
    assert full.ssl_check_hostname is False
    assert "key-pass" not in repr(full)
    assert "s3cret-password" not in repr(full)
    assert ssl_context(full).check_hostname is False


def _ssl(tls: TlsFiles, **values: object) -> KafkaSettings:
    return KafkaSettings.model_validate(
        {"security_protocol": "SSL", "ssl_cafile": tls.ca_file, **values}
    )


async def test_client_key_loads_with_its_password(tls: TlsFiles) -> None:
    kafka = _ssl(
        tls, ssl_certfile=tls.client_cert, ssl_keyfile=tls.client_key, ssl_key_password="key-pass"
    )

    context = ssl_context(kafka)
    producer = new_producer(kafka)  # the factory builds it the same way, without prompting
    await producer.stop()

    assert context.verify_mode is ssl.CERT_REQUIRED
    assert context.check_hostname is True


@pytest.mark.parametrize(
    ("password", "expected"),
    [
        (None, "KAFKA_SSL_KEYFILE: {key} is encrypted; set KAFKA_SSL_KEY_PASSWORD"),
        ("wrong-pass", "KAFKA_SSL_KEY_PASSWORD does not decrypt KAFKA_SSL_KEYFILE {key}"),
    ],
)
def test_client_key_problems_are_one_line(
    tls: TlsFiles, password: str | None, expected: str
) -> None:
    kafka = _ssl(
        tls, ssl_certfile=tls.client_cert, ssl_keyfile=tls.client_key, ssl_key_password=password
    )

    with pytest.raises(ConfigurationError) as caught:
        ssl_context(kafka)

    assert str(caught.value) == expected.format(key=tls.client_key)
    assert "wrong-pass" not in str(caught.value)


def test_mismatched_certificate_and_key_are_one_line(tls: TlsFiles) -> None:
    kafka = _ssl(tls, ssl_certfile=tls.ca_file, ssl_keyfile=tls.broker_keystore)

    with pytest.raises(ConfigurationError, match=r"^KAFKA_SSL_CERTFILE/KAFKA_SSL_KEYFILE: cannot"):
        ssl_context(kafka)


def test_cafile_that_is_no_certificate_is_one_line(tmp_path: Path, tls: TlsFiles) -> None:
    not_pem = tmp_path / "ca.pem"
    not_pem.write_text("hello\n")
    kafka = _ssl(tls, ssl_cafile=not_pem)

    with pytest.raises(ConfigurationError) as caught:
        ssl_context(kafka)

    assert str(caught.value).startswith(f"KAFKA_SSL_CAFILE: {not_pem} holds no usable PEM")
    assert "\n" not in str(caught.value)
