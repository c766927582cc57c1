"""Can Kafka be reached, and if not, why, in one line.

aiokafka reports an unreachable cluster as ``KafkaConnectionError("Unable to bootstrap from
[...]")`` and logs the actual cause; :func:`connect_failure` says which servers, what happened
(refused, unknown host, timeout ...) and after how long, so callers can raise one clear line.
:func:`ensure_reachable` checks a cluster answers metadata requests without changing anything.
"""

from __future__ import annotations

import asyncio
import os
import socket
import time

from aiokafka.errors import KafkaConnectionError, KafkaError

from sessionflow.core.errors import InfrastructureError
from sessionflow.core.kafka_clients import new_metadata_client
from sessionflow.core.settings import KafkaSettings

_PROBE_TIMEOUT_S = 2.0


async def connect_failure(
    kafka: KafkaSettings, exc: BaseException, elapsed_s: float, timeout_s: float
) -> str:
    """Why starting a client on ``kafka`` failed with ``exc`` after ``elapsed_s`` seconds."""
    servers = kafka.bootstrap_servers
    if isinstance(exc, TimeoutError):
        return f"no answer from Kafka at {servers} within {timeout_s:.1f}s"
    if isinstance(exc, KafkaConnectionError):
        reason = await _first_socket_error(servers) or "no bootstrap server accepted a connection"
    else:
        reason = f"{type(exc).__name__}: {exc}".strip()
    return f"cannot reach Kafka at {servers}: {reason} (gave up after {elapsed_s:.1f}s)"


async def ensure_reachable(kafka: KafkaSettings, timeout_s: float = 15.0) -> None:
    """Return once the cluster served metadata; else :class:`InfrastructureError`, one line."""
    client = new_metadata_client(kafka)
    began = time.monotonic()
    try:
        await asyncio.wait_for(client.bootstrap(), timeout_s)
    except (TimeoutError, KafkaError, OSError) as exc:
        elapsed = time.monotonic() - began
        raise InfrastructureError(await connect_failure(kafka, exc, elapsed, timeout_s)) from exc
    finally:
        await client.close()


async def _first_socket_error(servers: str) -> str | None:
    """The operating system's reason the first server refuses a TCP connection, if any."""
    entries = [entry.strip() for entry in servers.split(",")]
    host, _, port = entries[0].rpartition(":")
    if not host or not port.isdigit():
        return None
    where = f"{entries[0]}: " if len(entries) > 1 else ""
    try:
        _, writer = await asyncio.wait_for(
            asyncio.open_connection(host.strip("[]"), int(port)), _PROBE_TIMEOUT_S
        )
    except TimeoutError:
        return f"{where}connection timed out"
    except socket.gaierror as exc:
        return f"{where}{exc.strerror}"
    except OSError as exc:
        return f"{where}{os.strerror(exc.errno) if exc.errno else exc}"
    writer.close()
    return None
