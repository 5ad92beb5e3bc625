-- The spec's signal schema (week2-ml-pipeline-spec.md, "Signal Schema"), verbatim.
CREATE TABLE IF NOT EXISTS trading_signals (
    id BIGSERIAL PRIMARY KEY,
    symbol VARCHAR(10) NOT NULL,
    signal_type VARCHAR(10) NOT NULL, -- BUY, SELL, HOLD
    confidence DECIMAL(3,2) NOT NULL,
    target_price DECIMAL(10,4),
    stop_loss DECIMAL(10,4),
    position_size DECIMAL(10,4),
    reasoning TEXT,
    model_version VARCHAR(50),
    features JSONB,
    created_at TIMESTAMPTZ DEFAULT NOW(),
    expires_at TIMESTAMPTZ,
    executed BOOLEAN DEFAULT FALSE,
    performance DECIMAL(5,2) -- realised direction-signed return over the horizon, percent
);

CREATE INDEX IF NOT EXISTS idx_signals_symbol_time ON trading_signals (symbol, created_at DESC);
CREATE INDEX IF NOT EXISTS idx_signals_active ON trading_signals (expires_at) WHERE NOT executed;
