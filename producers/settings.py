"""Settings of the producer SDK and of the domain topics.

Both classes are frozen and read from the environment once, by an entry point (the CLI, a
service's ``main``, a test), then passed down. Connection details (bootstrap servers,
security, topic names) live in :class:`sessionflow.core.settings.KafkaSettings`.
"""

from __future__ import annotations

from typing import Literal

from pydantic import Field, model_validator
from pydantic_settings import BaseSettings, SettingsConfigDict

Compression = Literal["lz4", "zstd", "gzip", "snappy", "none"]

_DAY_MS = 24 * 60 * 60 * 1000


class ProducerSettings(BaseSettings):
    """How the SDK's aiokafka producer batches, compresses and bounds its waits.

    Idempotence and ``acks=all`` are not settings: the SDK always uses them.

    Default compression is zstd, by measurement (``bench/bench_producer.py``, 100k simulated
    events of 203 bytes avg in 256 KiB batches): zstd packs 3.7x at 1.3 us CPU per record,
    lz4 2.6x at 3.5 us (aiokafka 0.14 compresses lz4 at level 9 through cramjam), so zstd is
    both smaller and cheaper here. Consumers need zstd support (every Kafka >= 2.1 client).
    """

    model_config = SettingsConfigDict(env_prefix="SESSIONFLOW_PRODUCER_", frozen=True)

    source: str = Field(
        default="sessionflow-sdk",
        min_length=1,
        description="Envelope `source`: the emitting service's name. Set it per service.",
    )
    compression: Compression = Field(
        default="zstd", description="Record batch compression (zstd: smallest and cheapest)."
    )
    linger_ms: int = Field(
        default=5, ge=0, le=1000, description="How long a batch waits for more records."
    )
    max_batch_size: int = Field(
        default=256 * 1024,
        ge=1024,
        description="Bytes per partition batch (before compression).",
    )
    max_request_size: int = Field(
        default=1024 * 1024, ge=1024, description="Largest single record accepted, in bytes."
    )
    request_timeout_ms: int = Field(
        default=15_000,
        ge=1000,
        description="One broker request; also the wait for room in a full batch queue.",
    )
    delivery_timeout_ms: int = Field(
        default=30_000,
        ge=1000,
        description=(
            "Longest wait for an acknowledgement after a send was queued; past it the send "
            "raises DeliveryTimeoutError (outcome unknown: it may still land; resend(error) "
            "sends the same event again, readers collapse copies by event_id)."
        ),
    )
    start_timeout_ms: int = Field(
        default=15_000, ge=100, description="Longest wait to connect when starting."
    )
    close_timeout_ms: int = Field(
        default=30_000, ge=0, description="Longest wait to flush pending sends when stopping."
    )
    max_tracked_sessions: int = Field(
        default=100_000,
        ge=1,
        description=(
            "Sessions whose sequence counter a producer keeps. One more rotates producer_id: "
            "every session then starts again at 1 under the new id."
        ),
    )
    retry_backoff_ms: int = Field(
        default=100, ge=1, description="Pause between retries of a retriable broker error."
    )

    def aiokafka_kwargs(self) -> dict[str, object]:
        """The producer keyword arguments these settings fix (connection ones excluded)."""
        return {
            "compression_type": None if self.compression == "none" else self.compression,
            "linger_ms": self.linger_ms,
            "max_batch_size": self.max_batch_size,
            "max_request_size": self.max_request_size,
            "request_timeout_ms": self.request_timeout_ms,
            "retry_backoff_ms": self.retry_backoff_ms,
        }


class TopicSettings(BaseSettings):
    """How ``sessionflow topics create`` makes the domain topic and its dead-letter topic.

    Configs written on creation (documented in :func:`sessionflow.producers.topics.topic_configs`):
    ``cleanup.policy=delete``, ``retention.ms``, ``compression.type=producer`` (the broker
    keeps the producer's batches as they are), ``max.message.bytes`` and, when
    ``replication_factor > 1``, ``min.insync.replicas``.
    """

    model_config = SettingsConfigDict(env_prefix="SESSIONFLOW_TOPICS_", frozen=True)

    partitions: int = Field(default=6, ge=1, description="Partitions of session-events.")
    dlq_partitions: int = Field(default=1, ge=1, description="Partitions of the DLQ topic.")
    replication_factor: int = Field(default=1, ge=1, description="Replicas of each partition.")
    min_insync_replicas: int | None = Field(
        default=None,
        ge=1,
        description="Replicas that must ack a write; unset: min(2, replication_factor - 1).",
    )
    retention_ms: int = Field(
        default=7 * _DAY_MS, ge=-1, description="Event retention (-1 keeps forever)."
    )
    dlq_retention_ms: int = Field(
        default=30 * _DAY_MS, ge=-1, description="Dead-letter retention (-1 keeps forever)."
    )
    max_message_bytes: int = Field(
        default=2 * 1024 * 1024, ge=1024, description="Largest record batch the broker accepts."
    )

    @model_validator(mode="after")
    def _insync_fits(self) -> TopicSettings:
        if self.min_insync_replicas is not None and (
            self.min_insync_replicas > self.replication_factor
        ):
            raise ValueError("SESSIONFLOW_TOPICS_MIN_INSYNC_REPLICAS must be <= replication factor")
        return self

    def effective_min_insync(self) -> int | None:
        """``min.insync.replicas`` to set, or None when the topic is not replicated."""
        if self.replication_factor == 1:
            return None
        if self.min_insync_replicas is not None:
            return self.min_insync_replicas
        return max(1, min(2, self.replication_factor - 1))
