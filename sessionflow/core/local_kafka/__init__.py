"""A local Apache Kafka (KRaft, one combined broker+controller) started from Maven Central jars.

For machines without Docker: ``LocalKafka(settings, paths).up()`` resolves the jars with
Maven into the cache dir, formats storage once, starts the broker and waits for metadata.
With ``sasl_ssl_port`` set it also serves a SASL_SSL listener (throwaway CA, random
passwords): :meth:`LocalKafka.secured_listener`.
"""

from sessionflow.core.local_kafka.launcher import BrokerStatus, LocalKafka, LocalKafkaError
from sessionflow.core.local_kafka.secured import SaslSslListener
from sessionflow.core.local_kafka.settings import LocalKafkaSettings

__all__ = ["BrokerStatus", "LocalKafka", "LocalKafkaError", "LocalKafkaSettings", "SaslSslListener"]
