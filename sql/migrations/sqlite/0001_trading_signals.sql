-- SQLite dialect of the spec's signal schema (see ../postgresql/0001_trading_signals.sql).
-- Timestamps are UTC text 'YYYY-MM-DD HH:MM:SS.ffffff' (fixed width, so text order is
-- time order); JSON is text; booleans are 0/1. AUTOINCREMENT keeps ids from being reused
-- after rows move to the archive.
CREATE TABLE IF NOT EXISTS trading_signals (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    symbol VARCHAR(10) NOT NULL,
    signal_type VARCHAR(10) NOT NULL, -- BUY, SELL, HOLD
    confidence DECIMAL(3,2) NOT NULL,
    target_price DECIMAL(10,4),
    stop_loss DECIMAL(10,4),
    position_size DECIMAL(10,4),
    reasoning TEXT,
    model_version VARCHAR(50),
    features TEXT,
    created_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now')),
    expires_at TEXT,
    executed INTEGER NOT NULL DEFAULT 0,
    performance DECIMAL(5,2) -- realised direction-signed return over the horizon, percent
);

CREATE INDEX IF NOT EXISTS idx_signals_symbol_time ON trading_signals (symbol, created_at DESC);
CREATE INDEX IF NOT EXISTS idx_signals_active ON trading_signals (expires_at) WHERE NOT executed;
