"""Bars in the long contract format pivoted to (time x symbol) float64 arrays."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

from signal_pipeline.backtest.costs import half_spread_from_quotes
from signal_pipeline.backtest.errors import BacktestInputError

_REQUIRED_BAR_COLUMNS = ("symbol", "ts", "open", "high", "low", "close")


@dataclass
class BarGrid:
    """Bars pivoted to (time x symbol) float64 arrays."""

    times: pd.DatetimeIndex
    symbols: pd.Index
    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray | None
    half_spread: np.ndarray | None


def pivot_bars(bars: pd.DataFrame) -> BarGrid:
    """Pivot long-format bars onto the union of stamps (NaN where a symbol has no bar)."""
    missing = [c for c in _REQUIRED_BAR_COLUMNS if c not in bars.columns]
    if missing:
        raise BacktestInputError(
            f"bars lack columns {missing}: the bar contract needs "
            f"{list(_REQUIRED_BAR_COLUMNS)} (+ volume, bid, ask optional)"
        )
    if len(bars) == 0:
        raise BacktestInputError("bars is empty: a backtest needs at least one bar")
    ts = pd.DatetimeIndex(bars["ts"])
    if ts.tz is None:
        raise BacktestInputError(
            "bars.ts is timezone-naive: stamps must be UTC bar-close times; "
            "use pd.to_datetime(..., utc=True)"
        )
    time_codes, times = pd.factorize(ts.tz_convert("UTC"), sort=True)
    symbol_codes, symbols = pd.factorize(bars["symbol"].astype(str), sort=True)
    keys = time_codes.astype(np.int64) * len(symbols) + symbol_codes
    if len(np.unique(keys)) != len(keys):
        raise BacktestInputError(
            "bars have duplicate (symbol, ts) keys: the bar contract requires unique keys; "
            "validate with signal_pipeline.data.validate_bars first"
        )
    shape = (len(times), len(symbols))

    def grid(column: str) -> np.ndarray:
        out = np.full(shape, np.nan)
        out[time_codes, symbol_codes] = bars[column].to_numpy(dtype=np.float64)
        return out

    half_spread = None
    if "bid" in bars.columns and "ask" in bars.columns:
        half_spread = half_spread_from_quotes(grid("bid"), grid("ask"))
    return BarGrid(
        times=pd.DatetimeIndex(times),
        symbols=pd.Index(symbols),
        open=grid("open"),
        high=grid("high"),
        low=grid("low"),
        close=grid("close"),
        volume=grid("volume") if "volume" in bars.columns else None,
        half_spread=half_spread,
    )


def decision_rows(times: pd.DatetimeIndex, stamps: pd.Series, what: str) -> np.ndarray:
    """Row of the last bar stamped at or before each stamp (-1 if before the first bar)."""
    values = pd.DatetimeIndex(pd.to_datetime(stamps))
    if values.tz is None:
        raise BacktestInputError(
            f"{what}.ts is timezone-naive: use UTC stamps (pd.to_datetime(..., utc=True))"
        )
    return np.searchsorted(times.asi8, values.tz_convert("UTC").asi8, side="right") - 1


def symbol_columns(grid: BarGrid, symbols: pd.Series, what: str) -> np.ndarray:
    cols = grid.symbols.get_indexer(symbols.astype(str))
    if (cols < 0).any():
        unknown = sorted(set(symbols.astype(str)[cols < 0]))[:5]
        raise BacktestInputError(
            f"{what} name symbols without bars: {unknown}; pass bars for every symbol traded"
        )
    return cols
