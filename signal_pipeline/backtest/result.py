"""The outcome of one backtest: equity path, exposures, trades, and their daily views."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

MARKET_TZ = "America/New_York"
TRADING_DAYS_PER_YEAR = 252


def session_dates(index: pd.DatetimeIndex) -> pd.Index:
    """The exchange (New York) calendar date of each UTC bar stamp."""
    if index.tz is None:
        index = index.tz_localize("UTC")
    return pd.Index(index.tz_convert(MARKET_TZ).normalize().tz_localize(None), name="date")


@dataclass
class BacktestResult:
    """Paths per bar (index: bar close stamps, UTC) and the trade list.

    ``positions`` holds, per bar, ``cash`` and ``gross_exposure``/``net_exposure`` (market
    value over equity), ``turnover`` (traded notional over the previous bar's equity) and
    ``costs`` (commissions plus spread and slippage, in currency). ``trades`` has one row per
    round trip with its ``pnl`` and ``return`` (pnl over entry notional, after costs).
    """

    equity: pd.Series
    positions: pd.DataFrame
    trades: pd.DataFrame
    initial_capital: float
    config: dict[str, Any] = field(default_factory=dict)
    skipped_signals: int = 0

    @property
    def returns(self) -> pd.Series:
        """Per-bar simple returns; the first bar is measured from the initial capital."""
        previous = self.equity.shift(1)
        previous.iloc[0] = self.initial_capital
        return (self.equity / previous - 1.0).rename("returns")

    def daily_equity(self) -> pd.Series:
        """Equity at each session's last bar, indexed by New York date."""
        return self.equity.groupby(session_dates(self.equity.index)).last().rename("equity")

    def daily_returns(self) -> pd.Series:
        """Close-to-close daily returns, the first day measured from the initial capital."""
        daily = self.daily_equity()
        previous = daily.shift(1)
        previous.iloc[0] = self.initial_capital
        return (daily / previous - 1.0).rename("returns")

    def daily_positions(self) -> pd.DataFrame:
        """Mean gross/net exposure and summed turnover and costs per session."""
        by_day = self.positions.groupby(session_dates(self.positions.index))
        return pd.DataFrame(
            {
                "gross_exposure": by_day["gross_exposure"].mean(),
                "net_exposure": by_day["net_exposure"].mean(),
                "turnover": by_day["turnover"].sum(),
                "costs": by_day["costs"].sum(),
            }
        )

    def metrics(
        self,
        benchmark: pd.Series | None = None,
        *,
        periods_per_year: float = TRADING_DAYS_PER_YEAR,
        risk_free: float = 0.0,
    ) -> dict[str, float]:
        """:func:`performance_metrics` of the daily returns, with trades and exposures."""
        from signal_pipeline.backtest.metrics import performance_metrics

        executed = self.trades
        if "executed" in executed.columns:
            executed = executed[executed["executed"]]
        return performance_metrics(
            self.daily_returns(),
            benchmark,
            periods_per_year=periods_per_year,
            risk_free=risk_free,
            trades=executed,
            positions=self.daily_positions(),
        )

    def total_costs(self) -> float:
        return float(np.nansum(self.positions["costs"].to_numpy()))
