"""Small deterministic market data for the feature tests (the project's simulator)."""

from __future__ import annotations

import pandas as pd
import pytest

from signal_pipeline.data import simulate_market


@pytest.fixture(scope="session")
def market_small():
    """One symbol, 6 sessions (2,340 one-minute bars) with quotes and option chains."""
    return simulate_market(["AAA"], 6, seed=7)


@pytest.fixture(scope="session")
def bars_small(market_small) -> pd.DataFrame:
    return market_small.bars


@pytest.fixture(scope="session")
def two_symbol_bars() -> pd.DataFrame:
    return simulate_market(["AAA", "BBB"], 3, seed=3, option_chains=False).bars
