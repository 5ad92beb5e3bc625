"""Deflated Sharpe ratio against the worked example of Bailey & López de Prado (2014)."""

from __future__ import annotations

import math

import numpy as np
import pytest

from signal_pipeline.backtest.deflated_sharpe import (
    deflated_sharpe_of_returns,
    deflated_sharpe_ratio,
    expected_max_sharpe,
)


def test_paper_example() -> None:
    # Section 4 of the paper: 100 trials with annualised Sharpe variance 1/2, an annualised
    # Sharpe of 2.5 over 1250 daily returns (250 a year), skewness -3, kurtosis 10.
    # Per period: SR = 2.5 / sqrt(250) = 0.158114, V = 0.5 / 250 = 0.002.
    # SR0 = sqrt(0.002) * (0.42278 * Phi^-1(0.99) + 0.57722 * Phi^-1(1 - 1 / (100 e)))
    #     = 0.044721 * (0.42278 * 2.326348 + 0.57722 * 2.679940) = 0.1132 (paper: 0.1132)
    assert expected_max_sharpe(0.5 / 250, 100) == pytest.approx(0.1132, abs=5e-5)
    # DSR = Phi((0.158114 - 0.113172) * sqrt(1249)
    #           / sqrt(1 + 3 * 0.158114 + 9 / 4 * 0.158114^2)) = Phi(1.2830) = 0.9004
    dsr = deflated_sharpe_ratio(
        2.5 / math.sqrt(250),
        sharpe_variance=0.5 / 250,
        n_trials=100,
        n_observations=1250,
        skewness=-3.0,
        kurtosis=10.0,
    )
    assert dsr == pytest.approx(0.9004, abs=5e-4)


def test_single_trial_is_the_probabilistic_sharpe_against_zero() -> None:
    # N = 1: SR0 = 0; normal returns (skew 0, kurt 3): Phi(SR * sqrt(T - 1) / sqrt(1 + SR^2/2))
    # with SR = 0.1, T = 101: 0.1 * 10 / sqrt(1.005) = 0.997509;
    # Phi(0.997509) = Phi(1) - 0.002491 * phi(1) = 0.841345 - 0.002491 * 0.241971 = 0.840742.
    dsr = deflated_sharpe_ratio(0.1, sharpe_variance=0.0, n_trials=1, n_observations=101)
    assert dsr == pytest.approx(0.840742, abs=2e-6)


def test_more_trials_deflate_more() -> None:
    rng = np.random.default_rng(0)
    returns = rng.normal(0.001, 0.01, 500)
    few = deflated_sharpe_of_returns(returns, rng.normal(0, 0.02, 5))
    many = deflated_sharpe_of_returns(returns, rng.normal(0, 0.02, 500))
    assert many["expected_max_sharpe"] > few["expected_max_sharpe"]
    assert many["deflated_sharpe"] < few["deflated_sharpe"]
