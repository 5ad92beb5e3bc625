"""Small hand-made bar sets for the backtest tests."""

from __future__ import annotations

import pandas as pd
import pytest

START = pd.Timestamp("2024-01-02 14:31", tz="UTC")  # 09:31 New York, the first bar's close


def make_bars(symbol: str, rows: list[tuple[float, float, float, float]]) -> pd.DataFrame:
    """Bars of one symbol, one minute apart, from (open, high, low, close) tuples."""
    ts = pd.date_range(START, periods=len(rows), freq="min")
    frame = pd.DataFrame(rows, columns=["open", "high", "low", "close"])
    frame.insert(0, "ts", ts)
    frame.insert(0, "symbol", symbol)
    frame["volume"] = 1_000_000.0
    return frame


@pytest.fixture
def flat_then_up() -> pd.DataFrame:
    """AAA: 100 at the first opens, then a rise to 110 (see each test for the arithmetic)."""
    return make_bars(
        "AAA",
        [
            (100.0, 100.5, 99.5, 100.0),  # row 0: signal bar
            (100.0, 105.5, 99.8, 105.0),  # row 1: entry at this open
            (105.0, 110.5, 104.5, 110.0),  # row 2
            (110.0, 111.0, 109.0, 110.0),  # row 3
            (110.0, 111.0, 109.0, 110.0),  # row 4
        ],
    )
