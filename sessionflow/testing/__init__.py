"""Helpers for testing code built on sessionflow against real Kafka and real ClickHouse.

Shipped with the library (as bytewax does) so services can test their producers the way
sessionflow tests itself: no mocked broker, no fake sink.
"""

from sessionflow.core.topic_reader import read_range, read_topic
from sessionflow.testing.clickhouse import clickhouse_client, temporary_database
from sessionflow.testing.kafka import (
    KafkaUnderTest,
    docker_available,
    kafka_broker,
    kafka_env,
    kafka_under_test,
    local_broker,
)
from sessionflow.testing.names import unique_name

__all__ = [
    "KafkaUnderTest",
    "clickhouse_client",
    "docker_available",
    "kafka_broker",
    "kafka_env",
    "kafka_under_test",
    "local_broker",
    "read_range",
    "read_topic",
    "temporary_database",
    "unique_name",
]
