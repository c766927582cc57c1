"""The one factory of Kafka clients: every producer, consumer and admin is built here.

Connection and security settings come from :class:`KafkaSettings` and nowhere else; the
safety settings are fixed here so no call site can forget them:

- producers are idempotent with ``acks="all"``;
- consumers never auto-commit (offsets are committed by their owner once the work is durable).

Call sites pass only what is theirs to choose (batching, timeouts, group id ...). Secrets
(SASL password, client key password) are read from their ``SecretStr`` here only, when a
client is built, and handed to aiokafka / :mod:`ssl` only.

:func:`check_connection` opens one connection the way every client does (TCP, TLS
handshake, SASL authentication) and turns a failure into a one-line
:class:`KafkaConnectError`; aiokafka itself reports every bootstrap failure as
"Unable to bootstrap", without the cause.
"""

from __future__ import annotations

import asyncio
import os
import ssl
from collections.abc import Callable
from typing import Any

from aiokafka import AIOKafkaClient, AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient
from aiokafka.conn import collect_hosts, create_conn
from aiokafka.errors import (
    IllegalSaslStateError,
    KafkaConnectionError,
    KafkaError,
    UnsupportedSaslMechanismError,
    for_code,
)

from sessionflow.core.errors import ConfigurationError, InfrastructureError
from sessionflow.core.settings import KafkaSettings

_PRODUCER_FIXED = {"enable_idempotence": True, "acks": "all"}
_CONSUMER_FIXED = {"enable_auto_commit": False}
_SASL_AUTHENTICATION_FAILED = for_code(58)


class KafkaConnectError(InfrastructureError):
    """No connection to any bootstrap server could be opened; the message says why in one line."""


class KafkaTlsError(KafkaConnectError):
    """The TLS handshake failed: the broker's certificate is not trusted or does not name it."""


class KafkaAuthenticationError(KafkaConnectError):
    """The broker refused the SASL credentials (or the mechanism)."""


# ---------------------------------------------------------------------------- construction


def _key_password(kafka: KafkaSettings, asked: list[bool]) -> Callable[[], str]:
    def password() -> str:  # called by OpenSSL only if the key is encrypted
        asked.append(True)
        secret = kafka.ssl_key_password
        return secret.get_secret_value() if secret is not None else ""

    return password


def ssl_context(kafka: KafkaSettings) -> ssl.SSLContext:
    """The client TLS context of ``kafka``: its CA file (else the system CAs), its client
    certificate if any, hostname check per ``ssl_check_hostname``; peers are always verified.

    Raises :class:`ConfigurationError` (one line naming the setting) if a file cannot be loaded.
    """
    cafile = str(kafka.ssl_cafile) if kafka.ssl_cafile is not None else None
    try:
        context = ssl.create_default_context(ssl.Purpose.SERVER_AUTH, cafile=cafile)
    except (ssl.SSLError, OSError) as exc:
        raise ConfigurationError(
            f"KAFKA_SSL_CAFILE: {kafka.ssl_cafile} holds no usable PEM certificate ({_reason(exc)})"
        ) from None
    context.check_hostname = kafka.ssl_check_hostname
    context.verify_mode = ssl.CERT_REQUIRED
    if kafka.ssl_certfile is not None:
        asked: list[bool] = []
        try:
            context.load_cert_chain(
                kafka.ssl_certfile, kafka.ssl_keyfile, _key_password(kafka, asked)
            )
        except (ssl.SSLError, OSError) as exc:
            raise ConfigurationError(_client_key_problem(kafka, bool(asked), exc)) from None
    return context


def _client_key_problem(kafka: KafkaSettings, asked: bool, exc: BaseException) -> str:
    if asked and kafka.ssl_key_password is None:
        return f"KAFKA_SSL_KEYFILE: {kafka.ssl_keyfile} is encrypted; set KAFKA_SSL_KEY_PASSWORD"
    if asked:
        return f"KAFKA_SSL_KEY_PASSWORD does not decrypt KAFKA_SSL_KEYFILE {kafka.ssl_keyfile}"
    return (
        f"KAFKA_SSL_CERTFILE/KAFKA_SSL_KEYFILE: cannot load {kafka.ssl_certfile} with "
        f"{kafka.ssl_keyfile} ({_reason(exc)}); are they a matching PEM certificate and key?"
    )


def _connection_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments every aiokafka client takes: brokers, client id, security."""
    options: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "security_protocol": kafka.security_protocol,
        "client_id": kafka.client_id,
    }
    if kafka.uses_ssl:
        options["ssl_context"] = ssl_context(kafka)
    if kafka.uses_sasl and kafka.sasl_password is not None:
        options["sasl_mechanism"] = kafka.sasl_mechanism
        options["sasl_plain_username"] = kafka.sasl_username
        options["sasl_plain_password"] = kafka.sasl_password.get_secret_value()
    return options


def foreign_client_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Security options for a Kafka client another library builds itself (faust's own).

    The same keys aiokafka takes (``security_protocol``, ``ssl_context``, ``sasl_mechanism``,
    ``sasl_plain_username``, ``sasl_plain_password``); hand them straight to that library.
    """
    options = _connection_options(kafka)
    del options["bootstrap_servers"], options["client_id"]
    return options


def _merge(fixed: dict[str, Any], options: dict[str, Any], kind: str) -> dict[str, Any]:
    clash = {k for k in fixed if k in options and options[k] != fixed[k]}
    if clash:
        raise ConfigurationError(f"{kind} options {sorted(clash)} are fixed by the client factory")
    return {**options, **fixed}


def record_headers(message: Any) -> tuple[tuple[str, bytes], ...]:
    """The headers of an aiokafka ``ConsumerRecord`` as plain (name, bytes) pairs."""
    raw = message.headers
    return tuple((str(k), bytes(v or b"")) for k, v in raw) if raw else ()


def new_producer(kafka: KafkaSettings, **options: Any) -> AIOKafkaProducer:
    """An idempotent ``acks=all`` producer; ``options`` add batching, compression, timeouts."""
    merged = _merge(_PRODUCER_FIXED, options, "producer")
    return AIOKafkaProducer(**_connection_options(kafka), **merged)


def new_consumer(kafka: KafkaSettings, *topics: str, **options: Any) -> AIOKafkaConsumer:
    """A consumer that never auto-commits; subscribed to ``topics`` if any are given."""
    merged = _merge(_CONSUMER_FIXED, options, "consumer")
    return AIOKafkaConsumer(*topics, **_connection_options(kafka), **merged)


def new_admin(kafka: KafkaSettings, **options: Any) -> AIOKafkaAdminClient:
    """An admin client (topics, configs, consumer groups)."""
    return AIOKafkaAdminClient(**_connection_options(kafka), **options)


def new_metadata_client(kafka: KafkaSettings, **options: Any) -> AIOKafkaClient:
    """A bare cluster client, for probing reachability and metadata."""
    return AIOKafkaClient(**_connection_options(kafka), **options)


# ---------------------------------------------------------------------------- connection check


async def check_connection(kafka: KafkaSettings, timeout_s: float = 10.0) -> None:
    """Open (and close) one connection to a bootstrap server as every client does: TCP,
    TLS handshake, API versions, SASL authentication; within ``timeout_s`` per server.

    Returns at the first server that accepts. Raises :class:`KafkaTlsError`,
    :class:`KafkaAuthenticationError` or :class:`KafkaConnectError` for the first server's
    failure, as one line naming the server, the cause and the settings to check.
    """
    options = _connection_options(kafka)
    options.pop("bootstrap_servers")
    failures: list[tuple[str, BaseException]] = []
    for host, port, _ in collect_hosts(kafka.bootstrap_servers, randomize=False):
        try:
            conn = await asyncio.wait_for(
                create_conn(host, port, request_timeout_ms=int(timeout_s * 1000), **options),
                timeout_s,
            )
        except (OSError, KafkaError, TimeoutError) as exc:
            failures.append((f"{host}:{port}", exc))
            continue
        conn.close()
        return
    server, first = failures[0]
    raise connect_error(kafka, server, first, timeout_s) from first


def connect_error(
    kafka: KafkaSettings, server: str, exc: BaseException, timeout_s: float
) -> KafkaConnectError:
    """The typed one-line error for ``exc``, raised while connecting to ``server``."""
    if isinstance(exc, ssl.SSLCertVerificationError):
        return KafkaTlsError(_untrusted(kafka, server, exc))
    if isinstance(exc, ssl.SSLError):
        return KafkaTlsError(
            f"TLS handshake with {server} failed ({_reason(exc)}); does that listener speak "
            f"KAFKA_SECURITY_PROTOCOL={kafka.security_protocol}?"
        )
    if isinstance(exc, _SASL_AUTHENTICATION_FAILED):
        return KafkaAuthenticationError(
            f"SASL authentication of user {kafka.sasl_username!r} with {kafka.sasl_mechanism} "
            f"failed at {server} ({_broker_message(exc)}); check KAFKA_SASL_USERNAME and "
            "KAFKA_SASL_PASSWORD"
        )
    if isinstance(exc, UnsupportedSaslMechanismError | IllegalSaslStateError):
        return KafkaAuthenticationError(
            f"{server} refused SASL with KAFKA_SASL_MECHANISM={kafka.sasl_mechanism} "
            f"({_reason(exc)}); check KAFKA_SECURITY_PROTOCOL and KAFKA_SASL_MECHANISM"
        )
    return KafkaConnectError(_unreachable(kafka, server, exc, timeout_s))


def _untrusted(kafka: KafkaSettings, server: str, exc: ssl.SSLCertVerificationError) -> str:
    reason = str(exc.verify_message or exc.reason or exc)
    if "mismatch" in reason:
        return (
            f"TLS: the certificate of {server} does not name that host ({reason}); connect "
            "by a name the certificate lists, or set KAFKA_SSL_CHECK_HOSTNAME=false"
        )
    trusted = (
        f"KAFKA_SSL_CAFILE={kafka.ssl_cafile}"
        if kafka.ssl_cafile is not None
        else "the system CAs (set KAFKA_SSL_CAFILE)"
    )
    return f"TLS: the certificate of {server} is not trusted by {trusted}: {reason}"


def _unreachable(kafka: KafkaSettings, server: str, exc: BaseException, timeout_s: float) -> str:
    if isinstance(exc, TimeoutError):
        return f"cannot connect to {server}: no answer within {timeout_s:g}s"
    if isinstance(exc, KafkaConnectionError | ConnectionResetError | EOFError):
        return (
            f"cannot connect to {server}: it closed the connection during the handshake; "
            f"does that listener speak KAFKA_SECURITY_PROTOCOL={kafka.security_protocol}?"
        )
    return f"cannot connect to {server}: {_reason(exc)}"


def _broker_message(exc: BaseException) -> str:
    text = " ".join(str(arg) for arg in exc.args) or type(exc).__name__
    return " ".join(text.split())


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ssl.SSLError) and exc.reason:
        return str(exc.reason)
    if isinstance(exc, OSError) and exc.errno:
        return os.strerror(exc.errno)
    return " ".join(str(exc).split()) or type(exc).__name__
