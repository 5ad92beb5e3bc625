-- SQLite dialect of ../postgresql/0003_analytics_views.sql.
DROP VIEW IF EXISTS signal_results;
DROP VIEW IF EXISTS all_signals;
CREATE VIEW all_signals AS
    SELECT id, symbol, signal_type, confidence, target_price, stop_loss, position_size,
           reasoning, model_version, features, created_at, expires_at, executed,
           performance, idempotency_key, 0 AS archived
    FROM trading_signals
    UNION ALL
    SELECT id, symbol, signal_type, confidence, target_price, stop_loss, position_size,
           reasoning, model_version, features, created_at, expires_at, executed,
           performance, idempotency_key, 1 AS archived
    FROM signals_archive;

CREATE VIEW signal_results AS
    SELECT s.id, s.symbol, s.signal_type, CAST(s.confidence AS REAL) AS confidence,
           s.model_version, s.created_at, s.expires_at, s.executed,
           MIN(CAST(CAST(s.confidence AS REAL) * 10 AS INTEGER), 9) / 10.0 AS confidence_bucket,
           substr(s.created_at, 1, 10) AS day,
           o.raw_return, o.direction_return, o.hit, o.first_hit
    FROM all_signals s
    JOIN signal_outcomes o ON o.signal_id = s.id;
