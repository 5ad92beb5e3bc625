"""``performance_metrics``: return, risk, trade and exposure statistics of a backtest.

Definitions are those of empyrical-reloaded 0.7 (tested against it to 1e-9), with
``n`` periods, ``P`` periods per year and ``r_f`` a constant per-period risk-free rate:

* ``total_return = prod(1 + r) - 1``; ``annual_return = (1 + total) ** (P / n) - 1``
* ``annual_volatility = std(r, ddof=1) * sqrt(P)``
* ``sharpe = mean(r - r_f) / std(r - r_f, ddof=1) * sqrt(P)``
* ``sortino = mean(r - r_f) * P / (sqrt(mean(min(r - r_f, 0) ** 2)) * sqrt(P))``
* ``max_drawdown`` (<= 0), ``calmar = annual_return / |max_drawdown|`` (NaN without a
  drawdown)
* VaR/CVaR: see :mod:`signal_pipeline.backtest.risk` (return quantiles, losses < 0)
* with a benchmark ``b`` (aligned on the index): ``beta = cov(r, b) / var(b)``
  (population moments), ``alpha = (1 + mean(r - r_f - beta (b - r_f))) ** P - 1``,
  ``tracking_error = std(r - b, ddof=1) * sqrt(P)``,
  ``information_ratio = mean(r - b) / std(r - b, ddof=1) * sqrt(P)`` and
  ``excess_return = annual_return(r) - annual_return(b)``.

Where ours differs from empyrical, on purpose: the information ratio is annualised
(empyrical's ``excess_sharpe`` is per period: ours equals it times ``sqrt(P)``), the
tracking error is reported (empyrical has none), VaR ignores NaN returns (empyrical's
propagates them), and the Sortino uses the risk-free rate as its required return.
NaN returns are otherwise ignored as in empyrical (they still count in ``n`` for
``annual_return``).

Trade statistics come from a trades frame with ``return`` (and ``pnl``) per round trip:
``win_rate`` (share of trades with return > 0), ``avg_trade_return``, ``profit_factor``
(gross profit over gross loss, in currency), ``trade_count``. Exposure statistics come
from a frame on the same periods as the returns: ``exposure`` is the mean of
``gross_exposure`` (market value / equity) and ``turnover`` the annualised traded notional
over equity, ``mean(turnover) * P`` (buys and sells both counted).
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from signal_pipeline.backtest import risk
from signal_pipeline.backtest.errors import BacktestInputError

TRADING_DAYS_PER_YEAR = 252


def _values(returns: pd.Series | np.ndarray) -> np.ndarray:
    values = np.asarray(returns, dtype=float)
    if values.ndim != 1:
        raise BacktestInputError(
            f"returns must be 1-D (one return per period), got shape {values.shape}"
        )
    return values


def _std(values: np.ndarray) -> float:
    """Sample std (ddof=1); exactly 0 for constant values (empyrical's zero-dispersion rule)."""
    present = values[~np.isnan(values)]
    if present.size < 2:
        return float("nan")
    if present.max() == present.min():
        return 0.0
    return float(np.std(present, ddof=1))


def _ratio(numerator: float, denominator: float) -> float:
    with np.errstate(divide="ignore", invalid="ignore"):
        return float(np.divide(numerator, denominator))


def total_return(returns: np.ndarray) -> float:
    values = _values(returns)
    return float(np.nanprod(1.0 + values) - 1.0) if values.size else float("nan")


def annual_return(returns: np.ndarray, periods_per_year: float = TRADING_DAYS_PER_YEAR) -> float:
    values = _values(returns)
    if values.size == 0:
        return float("nan")
    return float((1.0 + total_return(values)) ** (periods_per_year / values.size) - 1.0)


def annual_volatility(
    returns: np.ndarray, periods_per_year: float = TRADING_DAYS_PER_YEAR
) -> float:
    values = _values(returns)
    if values.size < 2:
        return float("nan")
    return float(np.nanstd(values, ddof=1) * np.sqrt(periods_per_year))


def sharpe_ratio(
    returns: np.ndarray, risk_free: float = 0.0, periods_per_year: float = TRADING_DAYS_PER_YEAR
) -> float:
    values = _values(returns)
    if values.size < 2:
        return float("nan")
    excess = values - risk_free
    return float(_ratio(np.nanmean(excess), _std(excess)) * np.sqrt(periods_per_year))


def sortino_ratio(
    returns: np.ndarray,
    required_return: float = 0.0,
    periods_per_year: float = TRADING_DAYS_PER_YEAR,
) -> float:
    values = _values(returns)
    if values.size < 2:
        return float("nan")
    excess = values - required_return
    downside = np.sqrt(np.nanmean(np.square(np.clip(excess, -np.inf, 0.0))))
    return _ratio(np.nanmean(excess) * periods_per_year, downside * np.sqrt(periods_per_year))


def calmar_ratio(returns: np.ndarray, periods_per_year: float = TRADING_DAYS_PER_YEAR) -> float:
    drawdown = risk.max_drawdown(_values(returns))
    if not drawdown < 0:
        return float("nan")
    value = annual_return(returns, periods_per_year) / abs(drawdown)
    return float("nan") if np.isinf(value) else float(value)


def trade_statistics(trades: pd.DataFrame | None) -> dict[str, float]:
    """Win rate, average trade return, profit factor and count of a trades frame."""
    if trades is None:
        return {}
    if "return" not in trades.columns:
        raise BacktestInputError(
            "trades need a 'return' column (pnl over entry notional per round trip)"
        )
    returns = trades["return"].to_numpy(dtype=float)
    returns = returns[np.isfinite(returns)]
    pnl = trades["pnl"].to_numpy(dtype=float) if "pnl" in trades.columns else returns
    pnl = pnl[np.isfinite(pnl)]
    gains, losses = pnl[pnl > 0].sum(), -pnl[pnl < 0].sum()
    if losses > 0:
        profit_factor = float(gains / losses)
    else:
        profit_factor = float("inf") if gains > 0 else float("nan")
    return {
        "trade_count": float(returns.size),
        "win_rate": float(np.mean(returns > 0)) if returns.size else float("nan"),
        "avg_trade_return": float(np.mean(returns)) if returns.size else float("nan"),
        "profit_factor": profit_factor,
    }


def exposure_statistics(
    positions: pd.DataFrame | None, periods_per_year: float = TRADING_DAYS_PER_YEAR
) -> dict[str, float]:
    if positions is None:
        return {}
    missing = {"gross_exposure", "turnover"} - set(positions.columns)
    if missing:
        raise BacktestInputError(
            f"positions lack {sorted(missing)}: pass per-period gross_exposure and turnover "
            "as fractions of equity (BacktestResult.daily_positions() has them)"
        )
    return {
        "exposure": float(np.nanmean(positions["gross_exposure"].to_numpy(dtype=float))),
        "turnover": float(
            np.nanmean(positions["turnover"].to_numpy(dtype=float)) * periods_per_year
        ),
    }


def performance_metrics(
    returns: pd.Series | np.ndarray,
    benchmark: pd.Series | np.ndarray | None = None,
    *,
    periods_per_year: float = TRADING_DAYS_PER_YEAR,
    risk_free: float = 0.0,
    trades: pd.DataFrame | None = None,
    positions: pd.DataFrame | None = None,
) -> dict[str, float]:
    """All metrics of one return series (see the module docstring for the definitions).

    ``returns``: simple per-period returns (daily by default: ``periods_per_year=252``;
    for 1-minute bars use ``252 * 390``). ``benchmark``: the benchmark's returns on the
    same periods (Series are aligned on their index; arrays must have equal length).
    """
    values = _values(returns)
    ppy = periods_per_year
    out: dict[str, float] = {
        "periods": float(values.size),
        "total_return": total_return(values),
        "annual_return": annual_return(values, ppy),
        "annual_volatility": annual_volatility(values, ppy),
        "sharpe": sharpe_ratio(values, risk_free, ppy),
        "sortino": sortino_ratio(values, risk_free, ppy),
        "calmar": calmar_ratio(values, ppy),
        "max_drawdown": risk.max_drawdown(values),
        "max_drawdown_duration": float(risk.max_drawdown_duration(values)),
    }
    for level, tag in ((0.95, "95"), (0.99, "99")):
        out[f"var_{tag}"] = risk.historical_var(values, level)
        out[f"cvar_{tag}"] = risk.historical_cvar(values, level)
        out[f"parametric_var_{tag}"] = risk.parametric_var(values, level)
        out[f"parametric_cvar_{tag}"] = risk.parametric_cvar(values, level)
    if benchmark is not None:
        from signal_pipeline.backtest.benchmark import benchmark_block

        out.update(benchmark_block(returns, benchmark, periods_per_year=ppy, risk_free=risk_free))
    out.update(trade_statistics(trades))
    out.update(exposure_statistics(positions, ppy))
    return out
