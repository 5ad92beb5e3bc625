-- Views the analytic queries in sql/queries/ read. The dialect-specific expressions
-- (confidence bucket, UTC day) live here so the queries themselves are portable SQL.
CREATE OR REPLACE VIEW all_signals AS
    SELECT id, symbol, signal_type, confidence, target_price, stop_loss, position_size,
           reasoning, model_version, features, created_at, expires_at, executed,
           performance, idempotency_key, FALSE AS archived
    FROM trading_signals
    UNION ALL
    SELECT id, symbol, signal_type, confidence, target_price, stop_loss, position_size,
           reasoning, model_version, features, created_at, expires_at, executed,
           performance, idempotency_key, TRUE AS archived
    FROM signals_archive;

CREATE OR REPLACE VIEW signal_results AS
    SELECT s.id, s.symbol, s.signal_type, CAST(s.confidence AS DOUBLE PRECISION) AS confidence,
           s.model_version, s.created_at, s.expires_at, s.executed,
           LEAST(FLOOR(CAST(s.confidence AS DOUBLE PRECISION) * 10) / 10.0, 0.9) AS confidence_bucket,
           to_char(s.created_at AT TIME ZONE 'UTC', 'YYYY-MM-DD') AS day,
           o.raw_return, o.direction_return,
           CASE WHEN o.hit IS NULL THEN NULL WHEN o.hit THEN 1 ELSE 0 END AS hit,
           o.first_hit
    FROM all_signals s
    JOIN signal_outcomes o ON o.signal_id = s.id;
