"""Deflated Sharpe ratio (Bailey & López de Prado, 2014, "The Deflated Sharpe Ratio:
Correcting for Selection Bias, Backtest Overfitting and Non-Normality", J. Portfolio Mgmt).

All Sharpe ratios here are PER PERIOD (not annualised). With ``N`` trials whose Sharpe
ratios have variance ``V``, the expected maximum Sharpe of ``N`` unskilled trials is

    SR0 = sqrt(V) * ((1 - g) * Phi^-1(1 - 1/N) + g * Phi^-1(1 - 1/(N e)))

(``g`` = Euler-Mascheroni constant 0.5772...), and the deflated Sharpe ratio is the
probabilistic Sharpe ratio of the observed ``SR`` against that benchmark:

    DSR = Phi( (SR - SR0) * sqrt(T - 1) / sqrt(1 - skew * SR + (kurt - 1) / 4 * SR^2) )

with ``T`` returns of skewness ``skew`` and (non-excess) kurtosis ``kurt``. DSR is the
probability that the true Sharpe exceeds what selection alone would produce; 0.95 is
the usual bar.
"""

from __future__ import annotations

import math

import numpy as np
from scipy import stats

from signal_pipeline.backtest.errors import BacktestInputError

EULER_GAMMA = 0.5772156649015329


def expected_max_sharpe(sharpe_variance: float, n_trials: int) -> float:
    """SR0: the expected maximum per-period Sharpe of ``n_trials`` skill-less trials."""
    if n_trials < 1 or sharpe_variance < 0:
        raise BacktestInputError(
            f"n_trials={n_trials} must be >= 1 and sharpe_variance={sharpe_variance} >= 0"
        )
    if n_trials == 1:
        return 0.0  # one trial: no selection, nothing to deflate
    first = stats.norm.ppf(1.0 - 1.0 / n_trials)
    second = stats.norm.ppf(1.0 - 1.0 / (n_trials * math.e))
    return float(math.sqrt(sharpe_variance) * ((1 - EULER_GAMMA) * first + EULER_GAMMA * second))


def probabilistic_sharpe_ratio(
    sharpe: float, benchmark_sharpe: float, n_observations: int, skewness: float, kurtosis: float
) -> float:
    """PSR: probability that the true per-period Sharpe exceeds ``benchmark_sharpe``."""
    if n_observations < 2:
        return float("nan")
    variance_term = 1.0 - skewness * sharpe + (kurtosis - 1.0) / 4.0 * sharpe**2
    if not variance_term > 0:
        return float("nan")
    z = (sharpe - benchmark_sharpe) * math.sqrt(n_observations - 1) / math.sqrt(variance_term)
    return float(stats.norm.cdf(z))


def deflated_sharpe_ratio(
    sharpe: float,
    *,
    sharpe_variance: float,
    n_trials: int,
    n_observations: int,
    skewness: float = 0.0,
    kurtosis: float = 3.0,
) -> float:
    """DSR of a per-period ``sharpe`` selected among ``n_trials`` (see module docstring)."""
    sr0 = expected_max_sharpe(sharpe_variance, n_trials)
    return probabilistic_sharpe_ratio(sharpe, sr0, n_observations, skewness, kurtosis)


def deflated_sharpe_of_returns(returns: np.ndarray, trial_sharpes: np.ndarray) -> dict[str, float]:
    """DSR of a return series given the per-period Sharpe ratios of all trials tried."""
    values = np.asarray(returns, dtype=float)
    values = values[np.isfinite(values)]
    trials = np.asarray(trial_sharpes, dtype=float)
    trials = trials[np.isfinite(trials)]
    if values.size < 3 or trials.size < 1 or values.std() == 0:
        return {"deflated_sharpe": float("nan"), "expected_max_sharpe": float("nan")}
    sharpe = float(values.mean() / values.std(ddof=1))
    variance = float(trials.var(ddof=1)) if trials.size > 1 else 0.0
    sr0 = expected_max_sharpe(variance, int(trials.size))
    return {
        "deflated_sharpe": probabilistic_sharpe_ratio(
            sharpe,
            sr0,
            values.size,
            float(stats.skew(values)),
            float(stats.kurtosis(values, fisher=False)),
        ),
        "expected_max_sharpe": sr0,
        "observed_sharpe": sharpe,
        "n_trials": float(trials.size),
    }
