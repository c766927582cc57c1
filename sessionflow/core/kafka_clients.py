"""The one factory of Kafka clients: every producer, consumer and admin is built here.

Connection and security settings come from :class:`KafkaSettings` and nowhere else; the
safety settings are fixed here so no call site can forget them:

- producers are idempotent with ``acks="all"``;
- consumers never auto-commit (offsets are committed by their owner once the work is durable).

Call sites pass only what is theirs to choose (batching, timeouts, group id ...). Secrets
are read from their ``SecretStr`` at construction and handed to aiokafka only.
"""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaClient, AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient

from sessionflow.core.errors import ConfigurationError
from sessionflow.core.settings import KafkaSettings

_PRODUCER_FIXED = {"enable_idempotence": True, "acks": "all"}
_CONSUMER_FIXED = {"enable_auto_commit": False}


def connection_options(kafka: KafkaSettings) -> dict[str, Any]:
    """Keyword arguments every aiokafka client takes: brokers, client id, security."""
    options: dict[str, Any] = {
        "bootstrap_servers": kafka.bootstrap_servers,
        "security_protocol": kafka.security_protocol,
        "client_id": kafka.client_id,
    }
    if kafka.sasl_mechanism is not None:
        options["sasl_mechanism"] = kafka.sasl_mechanism
        options["sasl_plain_username"] = kafka.sasl_username
        if kafka.sasl_password is not None:
            options["sasl_plain_password"] = kafka.sasl_password.get_secret_value()
    return options


def _merge(fixed: dict[str, Any], options: dict[str, Any], kind: str) -> dict[str, Any]:
    clash = {k for k in fixed if k in options and options[k] != fixed[k]}
    if clash:
        raise ConfigurationError(f"{kind} options {sorted(clash)} are fixed by the client factory")
    return {**options, **fixed}


def new_producer(kafka: KafkaSettings, **options: Any) -> AIOKafkaProducer:
    """An idempotent ``acks=all`` producer; ``options`` add batching, compression, timeouts."""
    merged = _merge(_PRODUCER_FIXED, options, "producer")
    return AIOKafkaProducer(**connection_options(kafka), **merged)


def new_consumer(kafka: KafkaSettings, *topics: str, **options: Any) -> AIOKafkaConsumer:
    """A consumer that never auto-commits; subscribed to ``topics`` if any are given."""
    merged = _merge(_CONSUMER_FIXED, options, "consumer")
    return AIOKafkaConsumer(*topics, **connection_options(kafka), **merged)


def new_admin(kafka: KafkaSettings, **options: Any) -> AIOKafkaAdminClient:
    """An admin client (topics, configs, consumer groups)."""
    return AIOKafkaAdminClient(**connection_options(kafka), **options)


def new_metadata_client(kafka: KafkaSettings, **options: Any) -> AIOKafkaClient:
    """A bare cluster client, for probing reachability and metadata."""
    return AIOKafkaClient(**connection_options(kafka), **options)
