"""Simulator throughput: 100 symbols x 60 trading days of 1-minute bars (2.34 M rows).

Bars, quotes, benchmarks and oracle are timed without option chains, then the full
market with chains; each is the best of two runs after a small warm-up, and the
chains' cost is the difference. Peak RSS is the process's high-water mark after the
bars-only runs and after the full runs (it never goes down).
"""

from __future__ import annotations

from benchmarks._util import peak_rss_mib, timer
from signal_pipeline.data.simulator import simulate_market

SYMBOLS = 100
DAYS = 60


def _best_of_two(**options: object) -> tuple[float, dict[str, float]]:
    best = float("inf")
    for _ in range(2):
        with timer() as elapsed:
            market = simulate_market(SYMBOLS, DAYS, seed=7, **options)
        best = min(best, elapsed())
        figures = {
            "bar_rows": float(len(market.bars)),
            "chain_rows": float(len(market.option_chains)),
            **market.oracle_summary(),
        }
        del market
    return best, figures


def run() -> dict:
    simulate_market(5, 2, seed=7)  # warm-up: imports, first-touch allocations
    rss_before = peak_rss_mib()
    bars_s, figures = _best_of_two(option_chains=False)
    rss_bars = peak_rss_mib()
    full_s, full = _best_of_two()
    chains_s = full_s - bars_s
    bar_rows = int(figures["bar_rows"])
    return {
        "symbols": SYMBOLS,
        "days": DAYS,
        "bar_rows": bar_rows,
        "option_chain_rows": int(full["chain_rows"]),
        "bars_quotes_oracle_seconds": round(bars_s, 3),
        "bar_rows_per_second": round(bar_rows / bars_s),
        "full_market_seconds": round(full_s, 3),
        "full_market_bar_rows_per_second": round(bar_rows / full_s),
        "option_chains_seconds_approx": round(chains_s, 3),
        "peak_rss_mib_after_warmup": round(rss_before, 1),
        "peak_rss_mib_bars_only": round(rss_bars, 1),
        "peak_rss_mib_full": round(peak_rss_mib(), 1),
        "oracle_expected_accuracy": round(figures["oracle_expected_accuracy"], 4),
        "oracle_realised_accuracy": round(figures["oracle_realised_accuracy"], 4),
        "prior_accuracy": round(figures["prior_accuracy"], 4),
    }
