"""Order levels: target/stop from ATR multiples, volatility-targeted size (by hand)."""

from __future__ import annotations

import math

import pytest

from signal_pipeline.inference.confidence import (
    RANGE_TO_SIGMA,
    annual_volatility,
    confidence_edge,
    order_levels,
)
from signal_pipeline.labels import BUY, HOLD, SELL

KW = {"target_atr": 2.0, "stop_atr": 1.0, "target_annual_vol": 0.15, "max_position": 1.0}


def test_range_to_sigma_is_the_brownian_expected_range() -> None:
    # Feller (1951): E[max - min] of a Brownian path over unit time = sqrt(8 / pi).
    assert pytest.approx(math.sqrt(8 / math.pi), rel=1e-15) == RANGE_TO_SIGMA


def test_buy_levels_by_hand() -> None:
    # close 100, NATR 0.05 % -> ATR 0.05; sigma_1m = 0.0005 / 1.59577 = 3.1333e-4;
    # annualised over 98280 minutes: 3.1333e-4 * 313.496 = 0.098227; edge (0.7 - 1/3) / (2/3) = 0.55;
    # size = 0.55 * 0.15 / 0.098227 = 0.83989.
    levels = order_levels(BUY, 0.7, 100.0, 0.05, **KW)
    assert levels.target_price == pytest.approx(100.10, abs=1e-12)
    assert levels.stop_loss == pytest.approx(99.95, abs=1e-12)
    assert annual_volatility(0.05) == pytest.approx(0.098227, rel=1e-4)
    assert levels.position_size == pytest.approx(0.83989, rel=1e-4)


def test_sell_levels_mirror_buy() -> None:
    levels = order_levels(SELL, 0.7, 100.0, 0.05, **KW)
    assert levels.target_price == pytest.approx(99.90, abs=1e-12)
    assert levels.stop_loss == pytest.approx(100.05, abs=1e-12)


def test_size_is_capped_and_scales_with_confidence() -> None:
    calm = order_levels(BUY, 0.99, 100.0, 0.001, **KW)  # tiny volatility: capped
    assert calm.position_size == 1.0
    low = order_levels(BUY, 0.61, 100.0, 0.05, **KW).position_size
    high = order_levels(BUY, 0.9, 100.0, 0.05, **KW).position_size
    assert 0 < low < high


def test_hold_and_unknown_volatility_give_no_levels() -> None:
    assert order_levels(HOLD, 0.8, 100.0, 0.05, **KW).position_size == 0.0
    unknown = order_levels(BUY, 0.8, 100.0, float("nan"), **KW)
    assert unknown.target_price is None and unknown.position_size == 0.0


def test_confidence_edge() -> None:
    assert confidence_edge(1 / 3) == 0.0
    assert confidence_edge(1.0) == 1.0
    assert confidence_edge(0.2) == 0.0
