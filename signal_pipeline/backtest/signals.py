"""Signals frame -> planned trades: direction, entry/expiry rows, levels and weights.

See :mod:`signal_pipeline.backtest.exits` for the lifecycle conventions and
:mod:`signal_pipeline.backtest.sizing` for the default weights.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from signal_pipeline.backtest.config import BacktestConfig
from signal_pipeline.backtest.errors import BacktestInputError
from signal_pipeline.backtest.exits import PlannedTrade, plan_symbol_trades
from signal_pipeline.backtest.grid import BarGrid, decision_rows, symbol_columns
from signal_pipeline.backtest.sizing import trailing_volatility, volatility_target_weights

_SIGNAL_DIRECTIONS = {"BUY": 1.0, "SELL": -1.0, "HOLD": 0.0}


def signal_directions(signals: pd.DataFrame) -> np.ndarray:
    """+1 (BUY), -1 (SELL) or 0 (HOLD) per row, from ``direction`` or ``signal_type``."""
    if "direction" in signals.columns:
        return np.sign(signals["direction"].to_numpy(dtype=float))
    if "signal_type" in signals.columns:
        kinds = signals["signal_type"].astype(str).str.upper()
        bad = sorted(set(kinds) - set(_SIGNAL_DIRECTIONS))
        if bad:
            raise BacktestInputError(
                f"signals.signal_type has values {bad[:5]}: allowed are BUY, SELL, HOLD"
            )
        return kinds.map(_SIGNAL_DIRECTIONS).to_numpy(dtype=float)
    raise BacktestInputError(
        "signals need a 'signal_type' (BUY/SELL/HOLD) or a 'direction' (+1/-1/0) column"
    )


def optional_column(signals: pd.DataFrame, column: str, default: float) -> np.ndarray:
    """A numeric column as float64 (unparseable values -> NaN), or ``default`` if absent."""
    if column not in signals.columns:
        return np.full(len(signals), default)
    return pd.to_numeric(signals[column], errors="coerce").to_numpy(dtype=float)


def plan_signals(
    grid: BarGrid, signals: pd.DataFrame, config: BacktestConfig
) -> tuple[list[PlannedTrade], np.ndarray, int]:
    """Lifecycle of every usable signal, the requested weight of each trade, skip count."""
    for column in ("symbol", "ts"):
        if column not in signals.columns:
            raise BacktestInputError(f"signals lack the {column!r} column")
    direction = signal_directions(signals)
    confidence = optional_column(signals, "confidence", 1.0)
    usable = (direction != 0) & (confidence >= config.min_confidence)
    if not config.allow_short:
        usable &= direction > 0
    signals = signals.reset_index(drop=True)
    cols = symbol_columns(grid, signals["symbol"], "signals")
    decided = decision_rows(grid.times, signals["ts"], "signals")
    entry = decided + 1
    n_bars = len(grid.times)
    holding = optional_column(signals, "holding_bars", np.nan)
    holding = np.where(np.isfinite(holding) & (holding >= 1), holding, config.holding_bars)
    last = entry + holding.astype(np.int64) - 1
    if "expires_at" in signals.columns:
        expires = pd.to_datetime(signals["expires_at"], utc=True)
        has = expires.notna().to_numpy()
        if has.any():
            expiry_rows = (
                np.searchsorted(grid.times.asi8, pd.DatetimeIndex(expires[has]).asi8, side="right")
                - 1
            )
            last[has] = expiry_rows
    usable &= (entry < n_bars) & (last >= entry)

    sigma_ann = np.full(len(signals), np.nan)
    for i in np.flatnonzero(usable & (decided >= 0)):
        sigma_ann[i] = trailing_volatility(
            grid.close[:, cols[i]], int(decided[i]), config.volatility_window, config.bars_per_year
        )
    sigma_bar = sigma_ann / np.sqrt(config.bars_per_year)
    ref_close = np.where(decided >= 0, grid.close[np.maximum(decided, 0), cols], np.nan)
    move = sigma_bar * np.sqrt(np.maximum(last - entry + 1, 1)) * ref_close
    stop_distance = move * (config.stop_multiple if config.stop_multiple else np.nan)
    target_distance = move * (config.target_multiple if config.target_multiple else np.nan)

    weights = optional_column(signals, "position_size", np.nan)
    sized = volatility_target_weights(
        direction,
        confidence,
        sigma_ann,
        target_volatility=config.target_volatility,
        max_weight=config.max_position_weight,
        confidence_floor=config.confidence_floor,
    )
    weights = np.where(np.isfinite(weights), np.abs(weights), np.abs(sized))

    stop = optional_column(signals, "stop_loss", np.nan)
    target = optional_column(signals, "target_price", np.nan)
    planned: list[PlannedTrade] = []
    index = np.flatnonzero(usable)
    for col in np.unique(cols[index]):
        mine = index[cols[index] == col]
        planned += plan_symbol_trades(
            mine,
            entry[mine],
            last[mine],
            direction[mine],
            stop[mine],
            target[mine],
            stop_distance[mine],
            target_distance[mine],
            int(col),
            grid.open[:, col],
            grid.high[:, col],
            grid.low[:, col],
            grid.close[:, col],
        )
    trade_weights = np.array([weights[t.signal_index] for t in planned])
    skipped = len(signals) - len(planned)
    return planned, trade_weights, skipped
