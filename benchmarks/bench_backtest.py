"""Backtest engine speed: one year of 1-minute bars for 500 symbols from given weights.

252 days x 390 bars x 500 symbols = 49.14 million bar-steps, simulated from target
weights with the array API ``simulate_positions`` (the long-format DataFrame path would
spend most of its time and memory pivoting 49 million rows; it pivots to exactly these
arrays). Inputs are generated with numpy before the clock starts; only the simulation
is timed. Each symbol's target changes every ~``HOLD`` bars on average, so nearly
every bar has a rebalance somewhere (the loop's worst case).

Environment: ``BENCH_BACKTEST_SYMBOLS`` / ``BENCH_BACKTEST_DAYS`` shrink the run.
"""

from __future__ import annotations

import os

import numpy as np

from benchmarks._util import peak_rss_mib, timer

BARS_PER_DAY = 390
HOLD = 60  # mean bars between target changes of one symbol


def make_inputs(n_symbols: int, n_days: int, seed: int = 0) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    n_bars = n_days * BARS_PER_DAY
    shape = (n_bars, n_symbols)
    # Log-price random walk, ~25 % annual vol per symbol, in place to keep memory flat.
    close = rng.standard_normal(shape, dtype=np.float64)
    close *= 0.25 / np.sqrt(252 * BARS_PER_DAY)
    np.cumsum(close, axis=0, out=close)
    np.exp(close, out=close)
    close *= 100.0
    open_ = np.empty_like(close)
    open_[0] = 100.0
    open_[1:] = close[:-1]
    spread = np.abs(rng.standard_normal(shape)) * 0.0005
    high = np.maximum(open_, close) * (1.0 + spread)
    low = np.minimum(open_, close) * (1.0 - spread)
    del spread
    # Piecewise-constant weights: each symbol re-draws its target every ~HOLD bars.
    weights = np.zeros(shape)
    changes = rng.random(shape) < 1.0 / HOLD
    draws = rng.choice(np.array([-0.003, 0.0, 0.003]), size=int(changes.sum()))
    weights[changes] = draws
    rows = np.where(changes, np.arange(n_bars)[:, None], 0)
    np.maximum.accumulate(rows, axis=0, out=rows)
    weights = np.take_along_axis(weights, rows, axis=0)
    return {"open": open_, "high": high, "low": low, "close": close, "weights": weights}


def run() -> dict:
    from signal_pipeline.backtest import CostModel, simulate_positions

    n_symbols = int(os.environ.get("BENCH_BACKTEST_SYMBOLS", 500))
    n_days = int(os.environ.get("BENCH_BACKTEST_DAYS", 252))
    inputs = make_inputs(n_symbols, n_days)
    rss_inputs = peak_rss_mib()
    with timer() as elapsed:
        paths = simulate_positions(
            inputs["open"], inputs["close"], inputs["weights"],
            high=inputs["high"], low=inputs["low"],
            costs=CostModel(volatility_coef=0.1),
        )
    seconds = elapsed()
    steps = n_symbols * n_days * BARS_PER_DAY
    return {
        "symbols": n_symbols,
        "days": n_days,
        "bar_steps": steps,
        "simulate_s": round(seconds, 3),
        "bar_steps_per_s": round(steps / seconds),
        "rebalance_bars": int(np.count_nonzero(paths.traded_notional)),
        "round_trips": int(paths.trades["pnl"].size),
        "final_equity": round(float(paths.equity[-1]), 2),
        "peak_rss_inputs_mib": round(rss_inputs, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }
