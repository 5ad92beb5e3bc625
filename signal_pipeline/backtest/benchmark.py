"""Benchmark comparison: align strategy and benchmark returns, then alpha, beta, IR, TE.

Benchmarks are ``SPY`` and ``QQQ``: by default the simulator's series
(``SimulatedMarket.benchmarks``), or bar files when given. Both become daily
close-to-close returns indexed by New York session date, the same periods as
:meth:`BacktestResult.daily_returns`, and are aligned on the dates both have.
The formulas are in :mod:`signal_pipeline.backtest.metrics`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

import numpy as np
import pandas as pd

from signal_pipeline.backtest.errors import BacktestInputError
from signal_pipeline.backtest.result import session_dates

BENCHMARK_SYMBOLS = ("SPY", "QQQ")


def align_returns(
    returns: pd.Series | np.ndarray, benchmark: pd.Series | np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Two arrays on common periods: an inner join of Series indexes, else equal lengths."""
    if isinstance(returns, pd.Series) and isinstance(benchmark, pd.Series):
        joined = pd.concat([returns.rename("r"), benchmark.rename("b")], axis=1, join="inner")
        if joined.empty:
            raise BacktestInputError(
                "strategy and benchmark returns share no index values: give both the same "
                "periods (e.g. BacktestResult.daily_returns() and daily benchmark returns)"
            )
        return joined["r"].to_numpy(dtype=float), joined["b"].to_numpy(dtype=float)
    r, b = np.asarray(returns, dtype=float), np.asarray(benchmark, dtype=float)
    if r.shape != b.shape:
        raise BacktestInputError(
            f"returns {r.shape} and benchmark {b.shape} differ in length: pass pandas "
            "Series to align them on their index, or arrays of the same periods"
        )
    return r, b


def beta(returns: np.ndarray, benchmark: np.ndarray) -> float:
    """``cov(r, b) / var(b)`` over periods where the strategy return is present."""
    b = np.where(np.isnan(returns), np.nan, benchmark)
    residual = b - np.nanmean(b)
    variance = np.nanmean(residual**2)
    if not variance >= 1e-30:
        return float("nan")
    return float(np.nanmean(residual * returns) / variance)


def benchmark_block(
    returns: pd.Series | np.ndarray,
    benchmark: pd.Series | np.ndarray,
    *,
    periods_per_year: float = 252,
    risk_free: float = 0.0,
) -> dict[str, float]:
    """alpha, beta, information_ratio, tracking_error, excess_return (see metrics docs)."""
    from signal_pipeline.backtest.metrics import _std, annual_return

    r, b = align_returns(returns, benchmark)
    if r.size < 2:
        nan = float("nan")
        return dict.fromkeys(
            ("alpha", "beta", "information_ratio", "tracking_error", "excess_return"), nan
        )
    slope = beta(r, b)
    alpha = (1.0 + np.nanmean((r - risk_free) - slope * (b - risk_free))) ** periods_per_year - 1.0
    active = r - b
    spread = _std(active)
    with np.errstate(divide="ignore", invalid="ignore"):
        information = np.divide(np.nanmean(active), spread) * np.sqrt(periods_per_year)
    return {
        "alpha": float(alpha),
        "beta": slope,
        "information_ratio": float(information),
        "tracking_error": float(spread * np.sqrt(periods_per_year)),
        "excess_return": annual_return(r, periods_per_year) - annual_return(b, periods_per_year),
    }


def daily_benchmark_returns(bars: pd.DataFrame) -> dict[str, pd.Series]:
    """Daily close-to-close returns of each symbol in a bar frame, by session date.

    The first session's return is its close over its first bar's open, so the series
    covers the same days as a backtest's daily returns.
    """
    missing = {"symbol", "ts", "open", "close"} - set(bars.columns)
    if missing:
        raise BacktestInputError(f"benchmark bars lack columns {sorted(missing)}")
    out: dict[str, pd.Series] = {}
    for symbol, group in bars.sort_values("ts").groupby("symbol", sort=True):
        stamps = pd.DatetimeIndex(group["ts"])
        dates = session_dates(stamps)
        closes = pd.Series(group["close"].to_numpy(float), index=dates).groupby(level=0).last()
        first_open = float(group["open"].iloc[0])
        previous = closes.shift(1)
        previous.iloc[0] = first_open
        out[str(symbol)] = (closes / previous - 1.0).rename(str(symbol))
    return out


def load_benchmark_returns(
    paths: Mapping[str, str | Path] | None = None,
    *,
    market_bars: pd.DataFrame | None = None,
) -> dict[str, pd.Series]:
    """Daily SPY/QQQ returns: from bar files when ``paths`` is given, else from
    ``market_bars`` (e.g. ``simulate_market(...).benchmarks``)."""
    if paths:
        from signal_pipeline.data import read_bars

        frames = [read_bars(Path(p), symbol=name) for name, p in paths.items()]
        return daily_benchmark_returns(pd.concat(frames, ignore_index=True))
    if market_bars is None:
        raise BacktestInputError(
            "no benchmark source: pass paths={'SPY': file, ...} or "
            "market_bars=simulate_market(...).benchmarks"
        )
    return daily_benchmark_returns(market_bars)


def compare_to_benchmarks(
    returns: pd.Series,
    benchmarks: Mapping[str, pd.Series],
    *,
    periods_per_year: float = 252,
    risk_free: float = 0.0,
) -> pd.DataFrame:
    """One row per benchmark: its comparison block plus its own annual return."""
    from signal_pipeline.backtest.metrics import annual_return

    rows = {}
    for name, series in benchmarks.items():
        block = benchmark_block(
            returns, series, periods_per_year=periods_per_year, risk_free=risk_free
        )
        _, b = align_returns(returns, series)
        block["benchmark_annual_return"] = annual_return(b, periods_per_year)
        rows[name] = block
    return pd.DataFrame.from_dict(rows, orient="index")
