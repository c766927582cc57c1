-- Current state from the processors' state stream: a row per state record; the highest
-- `version` (events applied) wins. Query through the *_current views (no FINAL needed).
CREATE TABLE IF NOT EXISTS ${db}.sessions
(
    session_id String,
    status LowCardinality(String),
    name Nullable(String),
    user_id Nullable(String),
    agent_id Nullable(String),
    session_type LowCardinality(Nullable(String)),
    purpose Nullable(String),
    tags Array(String),
    approval_mode LowCardinality(String),
    settings Map(String, String),
    metadata Map(String, String),
    created_at DateTime64(3, 'UTC'),
    updated_at DateTime64(3, 'UTC'),
    activated_at Nullable(DateTime64(3, 'UTC')),
    suspended_at Nullable(DateTime64(3, 'UTC')),
    ended_at Nullable(DateTime64(3, 'UTC')),
    outcome LowCardinality(Nullable(String)),
    end_reason Nullable(String),
    open_tool_calls UInt32,
    open_streams UInt32,
    version UInt64,
    last_event_id Nullable(String),
    topic LowCardinality(String),
    partition UInt32,
    offset UInt64,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
ORDER BY session_id
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS ${db}.tool_calls
(
    session_id String,
    tool_call_id String,
    message_id String,
    tool_name LowCardinality(String),
    approval_mode LowCardinality(String),
    status LowCardinality(String),
    requested_at DateTime64(3, 'UTC'),
    decided_at Nullable(DateTime64(3, 'UTC')),
    decided_by Nullable(String),
    finished_at Nullable(DateTime64(3, 'UTC')),
    duration_ms Nullable(Int64),
    error_code LowCardinality(Nullable(String)),
    approval_timed_out Bool,
    version UInt64,
    topic LowCardinality(String),
    partition UInt32,
    offset UInt64,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
ORDER BY (session_id, tool_call_id)
SETTINGS non_replicated_deduplication_window = 1000;

CREATE TABLE IF NOT EXISTS ${db}.session_stats
(
    session_id String,
    user_id Nullable(String),
    status LowCardinality(String),
    events UInt64,
    duplicates UInt64,
    messages_by_role Map(String, UInt64),
    tool_calls_by_status Map(String, UInt64),
    tools_used Map(String, UInt64),
    tool_duration_ms_total UInt64,
    tool_duration_ms_max UInt64,
    tool_durations UInt64,
    approval_wait_ms_total UInt64,
    approvals_decided UInt64,
    prompt_tokens UInt64,
    completion_tokens UInt64,
    total_tokens UInt64,
    tokens_by_model Map(String, UInt64),
    streams UInt64,
    stream_chunks UInt64,
    first_chunk_ms_total UInt64,
    first_chunk_ms_max UInt64,
    streams_with_chunks UInt64,
    stream_duration_ms_total UInt64,
    errors_by_code Map(String, UInt64),
    active_ms UInt64,
    version UInt64,
    topic LowCardinality(String),
    partition UInt32,
    offset UInt64,
    ingested_at DateTime64(3, 'UTC') DEFAULT now64(3)
)
ENGINE = ReplacingMergeTree(version)
ORDER BY session_id
SETTINGS non_replicated_deduplication_window = 1000;

CREATE VIEW IF NOT EXISTS ${db}.sessions_current AS
SELECT * FROM ${db}.sessions ORDER BY session_id, version DESC LIMIT 1 BY session_id;

CREATE VIEW IF NOT EXISTS ${db}.tool_calls_current AS
SELECT * FROM ${db}.tool_calls
ORDER BY session_id, tool_call_id, version DESC LIMIT 1 BY session_id, tool_call_id;

CREATE VIEW IF NOT EXISTS ${db}.session_stats_current AS
SELECT * FROM ${db}.session_stats ORDER BY session_id, version DESC LIMIT 1 BY session_id;
