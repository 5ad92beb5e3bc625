-- SQLite dialect of ../postgresql/0002_deployment.sql. SQLite cannot add CHECK or NOT
-- NULL constraints to an existing table; the Signal dataclass validates those fields.
ALTER TABLE trading_signals ADD COLUMN idempotency_key VARCHAR(64);
UPDATE trading_signals SET idempotency_key = 'legacy-' || id WHERE idempotency_key IS NULL;
CREATE UNIQUE INDEX IF NOT EXISTS uq_signals_idempotency_key ON trading_signals (idempotency_key);
CREATE INDEX IF NOT EXISTS idx_signals_created_at ON trading_signals (created_at DESC);

CREATE TABLE IF NOT EXISTS signals_archive (
    id INTEGER PRIMARY KEY,
    symbol VARCHAR(10) NOT NULL,
    signal_type VARCHAR(10) NOT NULL CHECK (signal_type IN ('BUY', 'SELL', 'HOLD')),
    confidence DECIMAL(3,2) NOT NULL CHECK (confidence >= 0 AND confidence <= 1),
    target_price DECIMAL(10,4),
    stop_loss DECIMAL(10,4),
    position_size DECIMAL(10,4),
    reasoning TEXT,
    model_version VARCHAR(50),
    features TEXT,
    created_at TEXT NOT NULL,
    expires_at TEXT,
    executed INTEGER NOT NULL DEFAULT 0,
    performance DECIMAL(5,2),
    idempotency_key VARCHAR(64) NOT NULL,
    archived_at TEXT NOT NULL DEFAULT (strftime('%Y-%m-%d %H:%M:%f000', 'now'))
);
CREATE UNIQUE INDEX IF NOT EXISTS uq_archive_idempotency_key ON signals_archive (idempotency_key);
CREATE INDEX IF NOT EXISTS idx_archive_symbol_time ON signals_archive (symbol, created_at DESC);
CREATE INDEX IF NOT EXISTS idx_archive_created_at ON signals_archive (created_at DESC);

CREATE TABLE IF NOT EXISTS signal_outcomes (
    signal_id INTEGER PRIMARY KEY,
    evaluated_at TEXT NOT NULL,
    entry_ts TEXT NOT NULL,
    entry_price DOUBLE PRECISION NOT NULL,
    exit_ts TEXT NOT NULL,
    exit_price DOUBLE PRECISION NOT NULL,
    raw_return DOUBLE PRECISION NOT NULL,
    direction_return DOUBLE PRECISION NOT NULL,
    hit INTEGER,
    first_hit VARCHAR(6) NOT NULL CHECK (first_hit IN ('TARGET', 'STOP', 'NONE')),
    first_hit_at TEXT,
    max_favorable DOUBLE PRECISION NOT NULL,
    max_adverse DOUBLE PRECISION NOT NULL,
    n_bars INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS signal_symbols (
    symbol VARCHAR(10) PRIMARY KEY
);
INSERT INTO signal_symbols (symbol) SELECT DISTINCT symbol FROM trading_signals WHERE true
    ON CONFLICT (symbol) DO NOTHING;
