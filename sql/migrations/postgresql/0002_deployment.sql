-- What a real deployment needs beyond the spec table: an idempotency key (a retried
-- write never duplicates a signal), integrity checks, an archive for expired signals,
-- realised outcomes, and the set of known symbols (makes "latest per symbol" an index
-- probe per symbol instead of a scan).

ALTER TABLE trading_signals ADD COLUMN IF NOT EXISTS idempotency_key VARCHAR(64);
UPDATE trading_signals SET idempotency_key = 'legacy-' || id WHERE idempotency_key IS NULL;
ALTER TABLE trading_signals ALTER COLUMN idempotency_key SET NOT NULL;
ALTER TABLE trading_signals ALTER COLUMN created_at SET NOT NULL;
ALTER TABLE trading_signals ALTER COLUMN executed SET NOT NULL;
CREATE UNIQUE INDEX IF NOT EXISTS uq_signals_idempotency_key ON trading_signals (idempotency_key);
CREATE INDEX IF NOT EXISTS idx_signals_created_at ON trading_signals (created_at DESC);

ALTER TABLE trading_signals DROP CONSTRAINT IF EXISTS ck_signals_type;
ALTER TABLE trading_signals ADD CONSTRAINT ck_signals_type
    CHECK (signal_type IN ('BUY', 'SELL', 'HOLD'));
ALTER TABLE trading_signals DROP CONSTRAINT IF EXISTS ck_signals_confidence;
ALTER TABLE trading_signals ADD CONSTRAINT ck_signals_confidence
    CHECK (confidence >= 0 AND confidence <= 1);

-- Expired signals move here (same id), in one transaction (signal_pipeline.signals.expiration).
CREATE TABLE IF NOT EXISTS signals_archive (
    id BIGINT PRIMARY KEY,
    symbol VARCHAR(10) NOT NULL,
    signal_type VARCHAR(10) NOT NULL,
    confidence DECIMAL(3,2) NOT NULL,
    target_price DECIMAL(10,4),
    stop_loss DECIMAL(10,4),
    position_size DECIMAL(10,4),
    reasoning TEXT,
    model_version VARCHAR(50),
    features JSONB,
    created_at TIMESTAMPTZ NOT NULL,
    expires_at TIMESTAMPTZ,
    executed BOOLEAN NOT NULL DEFAULT FALSE,
    performance DECIMAL(5,2),
    idempotency_key VARCHAR(64) NOT NULL,
    archived_at TIMESTAMPTZ NOT NULL DEFAULT NOW()
);
CREATE UNIQUE INDEX IF NOT EXISTS uq_archive_idempotency_key ON signals_archive (idempotency_key);
CREATE INDEX IF NOT EXISTS idx_archive_symbol_time ON signals_archive (symbol, created_at DESC);
CREATE INDEX IF NOT EXISTS idx_archive_created_at ON signals_archive (created_at DESC);

-- One row per signal whose horizon has passed (signal_pipeline.signals.tracker).
CREATE TABLE IF NOT EXISTS signal_outcomes (
    signal_id BIGINT PRIMARY KEY,
    evaluated_at TIMESTAMPTZ NOT NULL,
    entry_ts TIMESTAMPTZ NOT NULL,
    entry_price DOUBLE PRECISION NOT NULL,
    exit_ts TIMESTAMPTZ NOT NULL,
    exit_price DOUBLE PRECISION NOT NULL,
    raw_return DOUBLE PRECISION NOT NULL,
    direction_return DOUBLE PRECISION NOT NULL,
    hit BOOLEAN,
    first_hit VARCHAR(6) NOT NULL CHECK (first_hit IN ('TARGET', 'STOP', 'NONE')),
    first_hit_at TIMESTAMPTZ,
    max_favorable DOUBLE PRECISION NOT NULL,
    max_adverse DOUBLE PRECISION NOT NULL,
    n_bars INTEGER NOT NULL
);

CREATE TABLE IF NOT EXISTS signal_symbols (
    symbol VARCHAR(10) PRIMARY KEY
);
INSERT INTO signal_symbols (symbol) SELECT DISTINCT symbol FROM trading_signals
    ON CONFLICT (symbol) DO NOTHING;
