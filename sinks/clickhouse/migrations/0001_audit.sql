-- The audit: every record of the events topic, exactly once (topic, partition, offset).
-- One insert = one contiguous offset range of one Kafka partition within one month, so it
-- lands as one part; the sink resumes after the highest stored offset per partition.
CREATE TABLE IF NOT EXISTS ${db}.events
(
    event_id String,
    event_type LowCardinality(String),
    session_id String,
    sequence Int64,
    occurred_at DateTime64(3, 'UTC'),
    source LowCardinality(String),
    producer_id Nullable(String),
    causation_id Nullable(String),
    correlation_id Nullable(String),
    schema_version UInt16,
    user_id Nullable(String),
    role LowCardinality(Nullable(String)),
    message_id Nullable(String),
    tool_call_id Nullable(String),
    tool_name LowCardinality(Nullable(String)),
    approval_mode LowCardinality(Nullable(String)),
    stream_id Nullable(String),
    model LowCardinality(Nullable(String)),
    error_code LowCardinality(Nullable(String)),
    outcome LowCardinality(Nullable(String)),
    prompt_tokens Nullable(Int64),
    completion_tokens Nullable(Int64),
    total_tokens Nullable(Int64),
    prev_prompt_tokens Nullable(Int64),
    prev_completion_tokens Nullable(Int64),
    prev_total_tokens Nullable(Int64),
    duration_ms Nullable(Int64),
    first_chunk_latency_ms Nullable(Int64),
    wait_ms Nullable(Int64),
    payload String,
    decode_error Nullable(String),
    key String,
    avro String,
    topic LowCardinality(String),
    partition UInt32,
    offset UInt64,
    kafka_timestamp DateTime64(3, 'UTC'),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(occurred_at)
ORDER BY (session_id, occurred_at, sequence)
TTL toDateTime(ingested_at) + INTERVAL ${retention_days} DAY
SETTINGS non_replicated_deduplication_window = 1000;

-- Each event_id once, even when a service sent it twice (the first record read wins).
CREATE VIEW IF NOT EXISTS ${db}.events_unique AS
SELECT *
FROM ${db}.events
WHERE decode_error IS NULL
ORDER BY event_id, topic, partition, offset
LIMIT 1 BY event_id;

-- Dead letters: one row per record of the dead-letter topic, with reason and origin.
CREATE TABLE IF NOT EXISTS ${db}.dead_letters
(
    reason LowCardinality(String),
    detail String,
    origin_topic LowCardinality(String),
    origin_partition Int32,
    origin_offset Int64,
    origin_index UInt32,
    consumer_group LowCardinality(String),
    error_class LowCardinality(String),
    event_id Nullable(String),
    event_type LowCardinality(Nullable(String)),
    session_id Nullable(String),
    payload Nullable(String),
    key String,
    value String,
    topic LowCardinality(String),
    partition UInt32,
    offset UInt64,
    kafka_timestamp DateTime64(3, 'UTC'),
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = MergeTree
PARTITION BY toYYYYMM(kafka_timestamp)
ORDER BY (reason, origin_topic, origin_partition, origin_offset, origin_index)
TTL toDateTime(ingested_at) + INTERVAL ${retention_days} DAY
SETTINGS non_replicated_deduplication_window = 1000;
