"""Backtest engine speed: one year of 1-minute bars for 500 symbols from given weights.

252 days x 390 bars x 500 symbols = 49.14 million bar-steps, simulated from target
weights with the array API ``simulate_positions`` (the long-format DataFrame path would
spend most of its time and memory pivoting 49 million rows; it pivots to exactly these
arrays). Inputs are generated with numpy before the clock starts; only the simulation
is timed. Each symbol's target changes every ~``HOLD`` bars on average, so nearly
every bar has a rebalance somewhere (the loop's worst case).

Figures: wall and CPU seconds of the simulation (CPU time is the fairer figure on a
shared machine; the 1-minute load average is reported with it), bar-steps per second,
resident memory once the inputs exist and the process peak (the inputs, five
(bars x symbols) float64 arrays of 393 MB each, dominate both).

Environment: ``BENCH_BACKTEST_SYMBOLS`` / ``BENCH_BACKTEST_DAYS`` shrink the run.
"""

from __future__ import annotations

import os
import time

import numpy as np
import psutil

from benchmarks._util import peak_rss_mib, timer

BARS_PER_DAY = 390
HOLD = 60  # mean bars between target changes of one symbol


def make_inputs(n_symbols: int, n_days: int, seed: int = 0) -> dict[str, np.ndarray]:
    """OHLC and piecewise-constant weights, built in blocks of symbols to keep memory flat."""
    rng = np.random.default_rng(seed)
    n_bars = n_days * BARS_PER_DAY
    shape = (n_bars, n_symbols)
    arrays = {name: np.empty(shape) for name in ("open", "high", "low", "close", "weights")}
    bar_index = np.arange(n_bars)[:, None]
    for lo in range(0, n_symbols, 25):
        cols = slice(lo, min(lo + 25, n_symbols))
        width = cols.stop - cols.start
        # Log-price random walk, ~25 % annual vol per symbol.
        steps = rng.standard_normal((n_bars, width)) * (0.25 / np.sqrt(252 * BARS_PER_DAY))
        close = 100.0 * np.exp(np.cumsum(steps, axis=0))
        open_ = np.vstack([np.full((1, width), 100.0), close[:-1]])
        spread = np.abs(rng.standard_normal((n_bars, width))) * 0.0005
        arrays["close"][:, cols] = close
        arrays["open"][:, cols] = open_
        arrays["high"][:, cols] = np.maximum(open_, close) * (1.0 + spread)
        arrays["low"][:, cols] = np.minimum(open_, close) * (1.0 - spread)
        # Each symbol re-draws its target (short, flat or long) every ~HOLD bars.
        changes = rng.random((n_bars, width)) < 1.0 / HOLD
        changes[0] = True
        draws = rng.choice(np.array([-0.003, 0.0, 0.003]), size=(n_bars, width))
        draws[0] = 0.0
        rows = np.maximum.accumulate(np.where(changes, bar_index, 0), axis=0)
        arrays["weights"][:, cols] = np.take_along_axis(draws, rows, axis=0)
    return arrays


def run() -> dict:
    from signal_pipeline.backtest import CostModel, simulate_positions

    n_symbols = int(os.environ.get("BENCH_BACKTEST_SYMBOLS", 500))
    n_days = int(os.environ.get("BENCH_BACKTEST_DAYS", 252))
    inputs = make_inputs(n_symbols, n_days)
    rss_inputs = psutil.Process().memory_info().rss / 2**20
    cpu_start = time.process_time()
    with timer() as elapsed:
        paths = simulate_positions(
            inputs["open"],
            inputs["close"],
            inputs["weights"],
            high=inputs["high"],
            low=inputs["low"],
            costs=CostModel(volatility_coef=0.1),
        )
    seconds = elapsed()
    cpu_seconds = time.process_time() - cpu_start
    steps = n_symbols * n_days * BARS_PER_DAY
    return {
        "symbols": n_symbols,
        "days": n_days,
        "bar_steps": steps,
        "simulate_s": round(seconds, 3),
        "simulate_cpu_s": round(cpu_seconds, 3),
        "bar_steps_per_s": round(steps / seconds),
        "rebalance_bars": int(np.count_nonzero(paths.traded_notional)),
        "round_trips": int(paths.trades["pnl"].size),
        "final_equity": round(float(paths.equity[-1]), 2),
        "rss_after_inputs_mib": round(rss_inputs, 1),
        "peak_rss_mib": round(peak_rss_mib(), 1),
        "load_average_1m": round(os.getloadavg()[0], 2),
    }
