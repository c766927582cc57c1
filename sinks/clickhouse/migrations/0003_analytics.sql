-- Incremental analytics, filled by materialized views as the sink inserts into `events`.
-- They count records as delivered (a record sent twice counts twice; see events_unique).
-- Query them with sum()/quantilesMerge() ... GROUP BY: merges are eventual, results exact.
CREATE TABLE IF NOT EXISTS ${db}.events_per_minute
(minute DateTime('UTC'), event_type LowCardinality(String), events UInt64)
ENGINE = SummingMergeTree ORDER BY (minute, event_type)
TTL minute + INTERVAL ${retention_days} DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.events_per_minute_mv TO ${db}.events_per_minute AS
SELECT toStartOfMinute(occurred_at) AS minute, event_type, count() AS events
FROM ${db}.events WHERE decode_error IS NULL GROUP BY minute, event_type;

CREATE TABLE IF NOT EXISTS ${db}.tool_latency
(
    day Date, tool_name LowCardinality(String), status LowCardinality(String),
    calls AggregateFunction(count),
    latency_ms AggregateFunction(quantiles(0.5, 0.9, 0.99), Int64)
)
ENGINE = AggregatingMergeTree ORDER BY (day, tool_name, status);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.tool_latency_mv TO ${db}.tool_latency AS
SELECT toDate(occurred_at) AS day, ifNull(tool_name, '') AS tool_name,
       if(event_type = 'tool_call.completed', 'COMPLETED', 'FAILED') AS status,
       countState() AS calls, quantilesState(0.5, 0.9, 0.99)(assumeNotNull(duration_ms)) AS latency_ms
FROM ${db}.events
WHERE event_type IN ('tool_call.completed', 'tool_call.failed') AND duration_ms IS NOT NULL
GROUP BY day, tool_name, status;

CREATE TABLE IF NOT EXISTS ${db}.approval_outcomes
(
    day Date, tool_name LowCardinality(String), outcome LowCardinality(String),
    decisions AggregateFunction(count),
    decision_ms AggregateFunction(quantiles(0.5, 0.9, 0.99), Int64),
    decision_ms_total AggregateFunction(sum, Int64)
)
ENGINE = AggregatingMergeTree ORDER BY (day, tool_name, outcome);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.approval_outcomes_mv TO ${db}.approval_outcomes AS
SELECT toDate(occurred_at) AS day, ifNull(tool_name, '') AS tool_name,
       if(event_type = 'tool_call.approved', 'APPROVED', 'REJECTED') AS outcome,
       countState() AS decisions,
       quantilesState(0.5, 0.9, 0.99)(ifNull(wait_ms, 0)) AS decision_ms,
       sumState(ifNull(wait_ms, 0)) AS decision_ms_total
FROM ${db}.events
WHERE event_type IN ('tool_call.approved', 'tool_call.rejected')
GROUP BY day, tool_name, outcome;

CREATE TABLE IF NOT EXISTS ${db}.errors_per_minute
(minute DateTime('UTC'), error_code LowCardinality(String), event_type LowCardinality(String),
 errors UInt64)
ENGINE = SummingMergeTree ORDER BY (minute, error_code, event_type)
TTL minute + INTERVAL ${retention_days} DAY;

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.errors_per_minute_mv TO ${db}.errors_per_minute AS
SELECT toStartOfMinute(occurred_at) AS minute, assumeNotNull(error_code) AS error_code,
       event_type, count() AS errors
FROM (SELECT occurred_at, error_code, event_type FROM ${db}.events WHERE error_code IS NOT NULL)
GROUP BY minute, error_code, event_type;

CREATE TABLE IF NOT EXISTS ${db}.first_chunk_latency
(
    day Date, model LowCardinality(String),
    streams AggregateFunction(count),
    latency_ms AggregateFunction(quantiles(0.5, 0.9, 0.99), Int64)
)
ENGINE = AggregatingMergeTree ORDER BY (day, model);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.first_chunk_latency_mv TO ${db}.first_chunk_latency AS
SELECT toDate(occurred_at) AS day, ifNull(model, '') AS model, countState() AS streams,
       quantilesState(0.5, 0.9, 0.99)(assumeNotNull(first_chunk_latency_ms)) AS latency_ms
FROM ${db}.events
WHERE event_type = 'stream.ended' AND first_chunk_latency_ms IS NOT NULL
GROUP BY day, model;

-- Tokens as the processors count them: a message's usage, replaced by a later update's
-- (the sink puts the delta against the message's previous usage on message.updated rows).
CREATE TABLE IF NOT EXISTS ${db}.tokens_daily
(day Date, model LowCardinality(String), user_id String,
 prompt_tokens Int64, completion_tokens Int64, total_tokens Int64)
ENGINE = SummingMergeTree ORDER BY (day, model, user_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.tokens_daily_mv TO ${db}.tokens_daily AS
SELECT toDate(occurred_at) AS day, ifNull(model, '') AS model, ifNull(user_id, '') AS user_id,
       sum(p) AS prompt_tokens, sum(c) AS completion_tokens, sum(t) AS total_tokens
FROM (SELECT occurred_at, model, user_id,
             ifNull(prompt_tokens, 0) - ifNull(prev_prompt_tokens, 0) AS p,
             ifNull(completion_tokens, 0) - ifNull(prev_completion_tokens, 0) AS c,
             ifNull(total_tokens, 0) - ifNull(prev_total_tokens, 0) AS t
      FROM ${db}.events
      WHERE event_type IN ('message.created', 'message.updated') AND total_tokens IS NOT NULL)
GROUP BY day, model, user_id;

-- Price per 1M tokens by model; the sink loads it from its price table setting.
CREATE TABLE IF NOT EXISTS ${db}.model_prices
(model String, input_per_million Float64, output_per_million Float64,
 loaded_at DateTime64(3, 'UTC') DEFAULT now64(3))
ENGINE = ReplacingMergeTree(loaded_at) ORDER BY model;

CREATE VIEW IF NOT EXISTS ${db}.cost_daily AS
SELECT t.day AS day, t.model AS model, t.user_id AS user_id,
       sum(t.prompt_tokens) AS prompt_tokens, sum(t.completion_tokens) AS completion_tokens,
       sum(t.total_tokens) AS total_tokens,
       round(sum(t.prompt_tokens) * any(p.input_per_million) / 1e6
             + sum(t.completion_tokens) * any(p.output_per_million) / 1e6, 6) AS cost
FROM ${db}.tokens_daily AS t
LEFT JOIN (SELECT model, argMax(input_per_million, loaded_at) AS input_per_million,
                  argMax(output_per_million, loaded_at) AS output_per_million
           FROM ${db}.model_prices GROUP BY model) AS p ON p.model = t.model
GROUP BY day, model, user_id;

CREATE TABLE IF NOT EXISTS ${db}.user_activity
(day Date, user_id String, events UInt64, sessions_created UInt64, messages UInt64,
 tool_calls UInt64, errors UInt64)
ENGINE = SummingMergeTree ORDER BY (day, user_id);

CREATE MATERIALIZED VIEW IF NOT EXISTS ${db}.user_activity_mv TO ${db}.user_activity AS
SELECT toDate(occurred_at) AS day, ifNull(user_id, '') AS user_id, count() AS events,
       countIf(event_type = 'session.created') AS sessions_created,
       countIf(event_type = 'message.created') AS messages,
       countIf(event_type = 'tool_call.pending') AS tool_calls,
       countIf(event_type = 'error.occurred') AS errors
FROM ${db}.events WHERE decode_error IS NULL GROUP BY day, user_id;
