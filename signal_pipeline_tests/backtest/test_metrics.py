"""performance_metrics against empyrical-reloaded (1e-9) and hand-computed values."""

from __future__ import annotations

import empyrical
import numpy as np
import pandas as pd
import pytest
from scipy import stats

from signal_pipeline.backtest import performance_metrics
from signal_pipeline.backtest.risk import drawdown_series, max_drawdown_duration

TOL = 1e-9


def _cases() -> dict[str, tuple[np.ndarray, np.ndarray]]:
    rng = np.random.default_rng(42)
    market = rng.normal(0.0004, 0.011, 750)
    return {
        "positive_drift": (rng.normal(0.0008, 0.012, 750), market),
        "negative_drift": (rng.normal(-0.0015, 0.02, 750), market),
        "fat_tails": (rng.standard_t(3, 500) * 0.01, market[:500]),
        "correlated": (0.8 * market + rng.normal(0, 0.004, 750), market),
        "with_flat_days": (
            np.where(rng.random(400) < 0.4, 0.0, rng.normal(0, 0.01, 400)),
            market[:400],
        ),
        "short_series": (np.array([0.01, -0.02, 0.015]), np.array([0.005, -0.01, 0.0])),
    }


@pytest.mark.parametrize("name", list(_cases()))
@pytest.mark.parametrize("periods_per_year", [252, 252 * 390])
def test_metrics_equal_empyrical(name: str, periods_per_year: int) -> None:
    returns, benchmark = _cases()[name]
    ours = performance_metrics(returns, benchmark, periods_per_year=periods_per_year)
    a = {"annualization": periods_per_year}
    reference = {
        "total_return": empyrical.cum_returns_final(returns),
        "annual_return": empyrical.annual_return(returns, **a),
        "annual_volatility": empyrical.annual_volatility(returns, **a),
        "sharpe": empyrical.sharpe_ratio(returns, **a),
        "sortino": empyrical.sortino_ratio(returns, **a),
        "calmar": empyrical.calmar_ratio(returns, **a),
        "max_drawdown": empyrical.max_drawdown(returns),
        "var_95": empyrical.value_at_risk(returns, cutoff=0.05),
        "var_99": empyrical.value_at_risk(returns, cutoff=0.01),
        "cvar_95": empyrical.conditional_value_at_risk(returns, cutoff=0.05),
        "cvar_99": empyrical.conditional_value_at_risk(returns, cutoff=0.01),
        "alpha": empyrical.alpha(returns, benchmark, **a),
        "beta": empyrical.beta(returns, benchmark),
        # empyrical's excess Sharpe is per period; ours is annualised.
        "information_ratio": empyrical.excess_sharpe(returns, benchmark)
        * np.sqrt(periods_per_year),
    }
    for key, expected in reference.items():
        assert ours[key] == pytest.approx(expected, rel=TOL, abs=TOL, nan_ok=True), key


def test_risk_free_rate_is_handled_as_empyrical() -> None:
    returns, benchmark = _cases()["positive_drift"]
    rf = 0.0001
    ours = performance_metrics(returns, benchmark, risk_free=rf)
    assert ours["sharpe"] == pytest.approx(empyrical.sharpe_ratio(returns, risk_free=rf), rel=TOL)
    assert ours["sortino"] == pytest.approx(
        empyrical.sortino_ratio(returns, required_return=rf), rel=TOL
    )
    assert ours["alpha"] == pytest.approx(
        empyrical.alpha(returns, benchmark, risk_free=rf), rel=TOL
    )


def test_flat_returns_give_undefined_ratios_like_empyrical() -> None:
    flat = np.zeros(50)
    ours = performance_metrics(flat)
    assert np.isnan(ours["sharpe"]) and np.isnan(empyrical.sharpe_ratio(flat))
    assert np.isnan(ours["calmar"]) and np.isnan(empyrical.calmar_ratio(flat))
    assert ours["max_drawdown"] == empyrical.max_drawdown(flat) == 0.0
    assert ours["total_return"] == 0.0


def test_nan_returns_are_ignored_like_empyrical() -> None:
    returns = _cases()["positive_drift"][0].copy()
    returns[[3, 77, 400]] = np.nan
    ours = performance_metrics(pd.Series(returns))
    assert ours["sharpe"] == pytest.approx(empyrical.sharpe_ratio(returns), rel=TOL)
    assert ours["annual_return"] == pytest.approx(empyrical.annual_return(returns), rel=TOL)
    assert ours["max_drawdown"] == pytest.approx(empyrical.max_drawdown(returns), rel=TOL)
    assert ours["cvar_95"] == pytest.approx(empyrical.conditional_value_at_risk(returns), rel=TOL)


def test_parametric_var_and_cvar_by_hand() -> None:
    returns = np.array([0.01, -0.02, 0.015, 0.005, -0.01])
    mu, sigma = returns.mean(), returns.std(ddof=1)  # 0.0, 0.0141421356...
    ours = performance_metrics(returns)
    # Gaussian: VaR = mu + sigma * z, z = Phi^-1(0.05) = -1.6448536...
    assert ours["parametric_var_95"] == pytest.approx(mu + sigma * -1.6448536269514722)
    # CVaR = mu - sigma * phi(z) / 0.05, phi(-1.6449) = 0.1031356...
    assert ours["parametric_cvar_95"] == pytest.approx(
        mu - sigma * stats.norm.pdf(-1.6448536269514722) / 0.05
    )
    assert ours["parametric_var_99"] < ours["parametric_var_95"] < 0


def test_drawdown_duration_by_hand() -> None:
    # Wealth: 1.1, 0.99, 1.089, 1.1979 (new high), 1.07811, 1.07811
    returns = np.array([0.10, -0.10, 0.10, 0.10, -0.10, 0.0])
    np.testing.assert_allclose(
        drawdown_series(returns), [0, -0.1, -0.01, 0, -0.1, -0.1], atol=1e-12
    )
    # Under water for 2 periods (rows 1-2), then 2 more at the end (rows 4-5): longest 2.
    assert max_drawdown_duration(returns) == 2
    assert max_drawdown_duration(np.array([0.01, 0.02])) == 0


def test_tracking_error_and_excess_return_by_hand() -> None:
    r = np.array([0.02, -0.01, 0.03, 0.00])
    b = np.array([0.01, -0.02, 0.01, 0.01])
    ours = performance_metrics(r, b, periods_per_year=4)
    active = r - b  # 0.01, 0.01, 0.02, -0.01: mean 0.0075, sample std 0.0125830...
    assert ours["tracking_error"] == pytest.approx(active.std(ddof=1) * 2)
    assert ours["information_ratio"] == pytest.approx(active.mean() / active.std(ddof=1) * 2)
    # Four periods = one year: annual return = total return; 1.0404... - 1.00959... .
    assert ours["excess_return"] == pytest.approx(np.prod(1 + r) - np.prod(1 + b))


def test_benchmark_series_are_aligned_on_the_index() -> None:
    dates = pd.date_range("2024-01-01", periods=5)
    r = pd.Series([0.01, 0.02, -0.01, 0.0, 0.01], index=dates)
    b = pd.Series([0.02, -0.01, 0.0, 0.01], index=dates[1:])  # one day shorter
    ours = performance_metrics(r, b)
    assert ours["beta"] == pytest.approx(empyrical.beta(r.iloc[1:].to_numpy(), b.to_numpy()))


def test_trade_and_exposure_statistics() -> None:
    trades = pd.DataFrame(
        {"return": [0.02, -0.01, 0.03, -0.02], "pnl": [200.0, -100.0, 300.0, -250.0]}
    )
    positions = pd.DataFrame(
        {"gross_exposure": [0.5, 1.0, 0.0, 0.5], "turnover": [0.1, 0.0, 0.2, 0.1]}
    )
    ours = performance_metrics(
        np.array([0.01, -0.01, 0.02, 0.0]), trades=trades, positions=positions, periods_per_year=252
    )
    assert ours["trade_count"] == 4
    assert ours["win_rate"] == 0.5
    assert ours["avg_trade_return"] == pytest.approx(0.005)
    assert ours["profit_factor"] == pytest.approx(500.0 / 350.0)
    assert ours["exposure"] == pytest.approx(0.5)
    assert ours["turnover"] == pytest.approx(0.1 * 252)
