"""Can Kafka be reached, and if not, why, in one line.

:func:`~sessionflow.core.kafka_clients.check_connection` explains a failed first connection
(refused, unknown host, TLS, SASL). What can still fail after it, when a client starts (no
metadata in time, a broker dropping out), is explained by :func:`connect_failure`: which
servers, what happened and after how long, never "within N s" for something that failed at
once. :func:`ensure_reachable` checks a cluster answers metadata without changing anything.
"""

from __future__ import annotations

import asyncio
import time

from aiokafka.errors import KafkaConnectionError, KafkaError

from sessionflow.core.errors import InfrastructureError
from sessionflow.core.kafka_clients import check_connection, new_metadata_client
from sessionflow.core.settings import KafkaSettings


def connect_failure(
    kafka: KafkaSettings, exc: BaseException, elapsed_s: float, timeout_s: float
) -> str:
    """Why starting a client on ``kafka`` failed with ``exc`` after ``elapsed_s`` seconds."""
    servers = kafka.bootstrap_servers
    if isinstance(exc, TimeoutError):
        return f"no answer from Kafka at {servers} within {timeout_s:.1f}s"
    if isinstance(exc, KafkaConnectionError):
        reason = "no bootstrap server accepted a connection"
    else:
        reason = " ".join(f"{type(exc).__name__}: {exc}".split())
    return f"cannot reach Kafka at {servers}: {reason} (gave up after {elapsed_s:.1f}s)"


async def ensure_reachable(kafka: KafkaSettings, timeout_s: float = 15.0) -> None:
    """Return once the cluster served metadata; else :class:`InfrastructureError`, one line."""
    await check_connection(kafka, timeout_s)
    client = new_metadata_client(kafka)
    began = time.monotonic()
    try:
        await asyncio.wait_for(client.bootstrap(), timeout_s)
    except (TimeoutError, KafkaError, OSError) as exc:
        elapsed = time.monotonic() - began
        raise InfrastructureError(connect_failure(kafka, exc, elapsed, timeout_s)) from exc
    finally:
        await client.close()
