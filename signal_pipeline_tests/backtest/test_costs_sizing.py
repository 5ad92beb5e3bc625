"""Cost model and sizing formulas against hand arithmetic."""

from __future__ import annotations

import numpy as np
import pytest

from signal_pipeline.backtest import CostModel, volatility_target_weights
from signal_pipeline.backtest.costs import half_spread_from_quotes
from signal_pipeline.backtest.errors import BacktestConfigError


def test_commission_has_a_minimum_and_bps_part() -> None:
    costs = CostModel(commission_per_share=0.005, commission_bps=1.0, min_commission=1.0)
    delta = np.array([100.0, -10_000.0, 0.0])
    fill = np.array([50.0, 20.0, 10.0])
    # 100 sh: 0.5 + 1bp * 5_000 = 1.0 -> max(1, 1.0) = 1.0
    # 10_000 sh: 50 + 1bp * 200_000 = 70; nothing traded: 0.
    np.testing.assert_allclose(costs.commissions(delta, fill), [1.0, 70.0, 0.0])


def test_impact_combines_spread_volatility_and_participation() -> None:
    costs = CostModel(
        half_spread_bps=2.0, slippage_bps=1.0, volatility_coef=0.5, participation_coef=0.1
    )
    delta = np.array([1_000.0, -500.0])
    impact = costs.price_impact(
        delta, bar_range=np.array([0.004, 0.0]), volume=np.array([100_000.0, 0.0])
    )
    # 3 bps + 0.5 * 0.004 + 0.1 * 1_000 / 100_000 = 0.0003 + 0.002 + 0.001 = 0.0033;
    # zero volume adds no participation term: 0.0003.
    np.testing.assert_allclose(impact, [0.0033, 0.0003])
    # Buys pay up, sells receive less.
    np.testing.assert_allclose(
        costs.fill_prices(np.array([100.0, 100.0]), delta, impact), [100.33, 99.97]
    )


def test_quoted_half_spread_replaces_the_assumption() -> None:
    half = half_spread_from_quotes(np.array([99.9, 10.0]), np.array([100.1, 9.0]))
    # (100.1 - 99.9) / (100.1 + 99.9) = 0.001; a crossed quote gives NaN.
    assert half[0] == pytest.approx(0.001)
    assert np.isnan(half[1])
    costs = CostModel(half_spread_bps=5.0, slippage_bps=0.0)
    np.testing.assert_allclose(
        costs.price_impact(np.array([1.0, 1.0]), half_spread=half), [0.001, 0.0005]
    )


def test_negative_costs_are_refused() -> None:
    with pytest.raises(BacktestConfigError, match="commission_per_share"):
        CostModel(commission_per_share=-0.01)


def test_confidence_scaled_volatility_target() -> None:
    weights = volatility_target_weights(
        np.array([1.0, -1.0, 1.0, 1.0]),
        np.array([1.0, 2 / 3, 1 / 3, 1.0]),
        np.array([0.40, 0.40, 0.40, np.nan]),
        target_volatility=0.20,
        max_weight=0.25,
    )
    # min(0.25, 0.2 / 0.4) = 0.25; confidence 2/3 -> (2/3 - 1/3) / (2/3) = 0.5;
    # chance confidence -> 0; unknown volatility -> the 0.25 cap.
    np.testing.assert_allclose(weights, [0.25, -0.125, 0.0, 0.25])
