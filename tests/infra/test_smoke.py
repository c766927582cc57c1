"""The parts are real: a record through the started broker, a row through ClickHouse."""

from __future__ import annotations

from typing import Any

from aiokafka import AIOKafkaConsumer, AIOKafkaProducer
from aiokafka.admin import AIOKafkaAdminClient, NewTopic


async def test_record_round_trips_through_the_broker(
    kafka_bootstrap: str, topic_name: str, group_id: str
) -> None:
    admin = AIOKafkaAdminClient(bootstrap_servers=kafka_bootstrap)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic_name, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()

    producer = AIOKafkaProducer(
        bootstrap_servers=kafka_bootstrap, enable_idempotence=True, acks="all"
    )
    async with producer:
        sent = await producer.send_and_wait(topic_name, b"hello kafka", key=b"sess-1")

    consumer = AIOKafkaConsumer(
        topic_name,
        bootstrap_servers=kafka_bootstrap,
        group_id=group_id,
        enable_auto_commit=False,
        auto_offset_reset="earliest",
        isolation_level="read_committed",
    )
    async with consumer:
        record = await consumer.getone()
        await consumer.commit()
        committed = await consumer.committed(record_partition(record))

    assert (record.key, record.value) == (b"sess-1", b"hello kafka")
    assert (record.partition, record.offset) == (sent.partition, sent.offset)
    assert committed == record.offset + 1


def record_partition(record: Any) -> Any:
    from aiokafka import TopicPartition

    return TopicPartition(record.topic, record.partition)


def test_row_round_trips_through_clickhouse(ch_client: Any, ch_database: str) -> None:
    table = f"{ch_database}.smoke"
    ch_client.command(
        f"CREATE TABLE {table} (id UInt64, name String) ENGINE = MergeTree ORDER BY id"
    )
    ch_client.insert(table, [[1, "alpha"], [2, "beta"]], column_names=["id", "name"])

    rows = ch_client.query(f"SELECT id, name FROM {table} ORDER BY id").result_rows
    engine_version = ch_client.query("SELECT version()").result_rows[0][0]

    assert rows == [(1, "alpha"), (2, "beta")]
    assert engine_version.split(".")[0].isdigit()  # a real ClickHouse engine answered
