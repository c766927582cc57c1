"""The parts are real: a record through the started broker, a row through ClickHouse."""

from __future__ import annotations

from typing import Any

from aiokafka.admin import NewTopic

from sessionflow.core.kafka_clients import new_admin, new_consumer, new_producer
from sessionflow.core.settings import KafkaSettings


async def test_record_round_trips_through_the_broker(
    kafka: KafkaSettings, topic_name: str, group_id: str
) -> None:
    admin = new_admin(kafka)
    await admin.start()
    try:
        await admin.create_topics([NewTopic(topic_name, num_partitions=3, replication_factor=1)])
    finally:
        await admin.close()

    async with new_producer(kafka) as producer:
        sent = await producer.send_and_wait(topic_name, b"hello kafka", key=b"sess-1")

    consumer = new_consumer(kafka, topic_name, group_id=group_id, auto_offset_reset="earliest")
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
