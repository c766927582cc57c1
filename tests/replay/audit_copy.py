"""Child process of the replay CLI tests: copy the events topic into a chdb audit table.

``python -m tests.replay.audit_copy CHDB_DIR DATABASE`` (``KAFKA_*`` from the environment):
the sink's migrations, then every record of the topic as a row with the columns a replay
reads. A child of its own, because chdb locks a directory to one process and the test run
holds its own engine; the engine tests fill the table with the real sink instead.
"""

from __future__ import annotations

import asyncio
import sys
from datetime import UTC, datetime

import clickhouse_connect

from sessionflow.core.settings import KafkaSettings
from sessionflow.sinks.clickhouse.migrate import migrate
from sessionflow.testing import read_topic

COLUMNS = ["key", "avro", "topic", "partition", "offset", "kafka_timestamp", "session_id"]


def main(directory: str, database: str) -> None:
    kafka = KafkaSettings()
    records = asyncio.run(read_topic(kafka, kafka.topic))
    client = clickhouse_connect.get_client(dsn=f"chdb://{directory}")
    try:
        client.command(f"CREATE DATABASE IF NOT EXISTS {database}")
        migrate(client, database, 30)
        rows = [
            [r.key or b"", r.value or b"", r.topic, r.partition, r.offset,
             datetime.fromtimestamp(r.timestamp / 1000, UTC), (r.key or b"").decode()]
            for r in records
        ]  # fmt: skip
        client.insert(f"{database}.events", rows, column_names=COLUMNS)
    finally:
        client.close()


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
