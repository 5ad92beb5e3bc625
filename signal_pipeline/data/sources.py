"""Where raw market data comes from: the simulator (embedded default) or user files.

The Dagster assets ask for "the bars of these session dates" and get them from here,
so the choice of source lives in one place and is testable without Dagster.
"""

from __future__ import annotations

import functools
from collections.abc import Sequence
from dataclasses import dataclass

import pandas as pd

from signal_pipeline.data.storage import session_dates

#: The universe `make demo` simulates: small enough for 2 cores, big enough to learn from.
DEMO_START = "2024-01-02"
DEMO_DAYS = 60
DEMO_SYMBOLS = 8
DEMO_SEED = 7


@dataclass(frozen=True)
class SimulatorSource:
    """A simulated market, deterministic in (symbols, seed, start)."""

    symbols: int | tuple[str, ...] = DEMO_SYMBOLS
    seed: int = DEMO_SEED
    start: str = DEMO_START

    def trading_days_until(self, last_date: str) -> int:
        """How many simulated sessions run from ``start`` through ``last_date``."""
        days = pd.bdate_range(self.start, last_date)
        if len(days) == 0:
            raise ValueError(
                f"date {last_date} is before the simulation start {self.start}; "
                "pick a later partition or an earlier simulator start"
            )
        return len(days)

    def market(self, last_date: str):  # -> SimulatedMarket
        """The simulated market through ``last_date`` (cached per process).

        The simulator is path dependent, so a later date needs the whole history; the
        cache makes a backfill of many partitions in one process simulate once.
        """
        return _simulate(self.symbols, self.trading_days_until(last_date), self.seed, self.start)


@functools.lru_cache(maxsize=4)
def _simulate(symbols: int | tuple[str, ...], days: int, seed: int, start: str):
    from signal_pipeline.data.simulator import simulate_market

    names: int | list[str] = symbols if isinstance(symbols, int) else list(symbols)
    return simulate_market(names, days, seed=seed, start=start)


def select_dates(df: pd.DataFrame, dates: Sequence[str], column: str = "ts") -> pd.DataFrame:
    """Rows whose session date (America/New_York) of ``column`` is in ``dates``."""
    if df.empty:
        return df
    mask = session_dates(df[column]).isin(list(dates))
    return df.loc[mask].reset_index(drop=True)


def simulated_tables(source: SimulatorSource, dates: Sequence[str]) -> dict[str, pd.DataFrame]:
    """Bars, quotes, option chains, benchmarks and oracle of the simulator for ``dates``."""
    market = source.market(max(dates))
    return {
        "bars": select_dates(market.bars, dates),
        "quotes": select_dates(market.quotes, dates),
        "option_chains": select_dates(market.option_chains, dates),
        "benchmarks": select_dates(market.benchmarks, dates),
        "oracle": select_dates(market.oracle, dates),
    }
