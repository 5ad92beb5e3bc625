"""Speed of the microstructure pass (1-minute bars, per symbol) and of the options
features (daily chains, per symbol), on simulated data.

Default size: 100 symbols × 60 days of 1-minute bars = 2.34 M rows, with quotes.
``SP_BENCH_MICRO_SYMBOLS`` / ``SP_BENCH_MICRO_DAYS`` shrink it for a quick run.
"""

from __future__ import annotations

import os

import numpy as np

from benchmarks._util import peak_rss_mib, timer
from signal_pipeline.data import simulate_market
from signal_pipeline.features.greeks import bsm_price, solve_implied_volatility
from signal_pipeline.features.microstructure import microstructure_features
from signal_pipeline.features.options import options_features


def run() -> dict:
    n_symbols = int(os.environ.get("SP_BENCH_MICRO_SYMBOLS", "100"))
    days = int(os.environ.get("SP_BENCH_MICRO_DAYS", "60"))
    market = simulate_market(n_symbols, days, seed=0)
    bars = market.bars
    quotes = market.quotes
    bar_groups = dict(tuple(bars.groupby("symbol", sort=False)))
    quote_groups = dict(tuple(quotes.groupby("symbol", sort=False)))
    chain_groups = dict(tuple(market.option_chains.groupby("symbol", sort=False)))

    with timer() as micro_bars:
        for frame in bar_groups.values():
            microstructure_features(frame)
    with timer() as micro_quotes:
        for symbol, frame in bar_groups.items():
            microstructure_features(frame, quote_groups[symbol])
    with timer() as options_time:
        for chain in chain_groups.values():
            options_features(chain, {"risk_free_rate": market.params["risk_free_rate"]})

    rng = np.random.default_rng(0)
    n_iv = 1_000_000
    strike = 100.0 * np.exp(rng.normal(0.0, 0.3, n_iv))
    years = rng.uniform(1.0, 730.0, n_iv) / 365.0
    kind = np.where(rng.random(n_iv) < 0.5, "C", "P")
    price = bsm_price(100.0, strike, years, 0.03, rng.uniform(0.05, 1.5, n_iv), 0.01, kind)
    with timer() as iv_time:
        result = solve_implied_volatility(price, 100.0, strike, years, 0.03, 0.01, kind)

    n_rows = len(bars)
    n_contracts = len(market.option_chains)
    return {
        "symbols": n_symbols,
        "days": days,
        "bar_rows": n_rows,
        "microstructure_bars_only_s": round(micro_bars(), 3),
        "microstructure_with_quotes_s": round(micro_quotes(), 3),
        "microstructure_rows_per_s": round(n_rows / micro_quotes()),
        "option_contract_rows": n_contracts,
        "options_features_s": round(options_time(), 3),
        "options_contracts_per_s": round(n_contracts / options_time()),
        "iv_solver_1m_options_s": round(iv_time(), 3),
        "iv_solver_mean_iterations": round(float(result.iterations.mean()), 2),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }
