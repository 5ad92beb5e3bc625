"""Tail risk and drawdowns of a return series.

Sign conventions follow empyrical-reloaded: VaR and CVaR are RETURN quantiles (a loss is
negative, e.g. ``var_95 = -0.021`` means a 5 % chance of losing more than 2.1 % in a
period) and drawdowns are ``<= 0``.

* Historical VaR at level c: ``percentile(r, 100 * (1 - c))`` (numpy linear
  interpolation), exactly ``empyrical.value_at_risk(r, cutoff=1 - c)``.
* Historical CVaR: the mean of the ``floor((n - 1) * (1 - c)) + 1`` lowest returns,
  exactly ``empyrical.conditional_value_at_risk``.
* Parametric (Gaussian) VaR: ``mu + sigma * z`` with ``z = Phi^-1(1 - c)``; CVaR
  ``mu - sigma * phi(z) / (1 - c)`` (the mean of a normal below its quantile); ``mu`` and
  ``sigma`` (ddof=1) of the per-period returns. empyrical has no parametric VaR.
* Drawdown: ``wealth / running_max(wealth) - 1`` with wealth starting at 1 before the
  first return, as empyrical's ``drawdown_series``. Its duration is counted in periods
  from the last peak to recovery (a new high), or to the end if never recovered.
"""

from __future__ import annotations

import numpy as np
from scipy import stats


def _clean(returns: np.ndarray) -> np.ndarray:
    values = np.asarray(returns, dtype=float)
    return values[~np.isnan(values)]


def historical_var(returns: np.ndarray, confidence: float = 0.95) -> float:
    values = _clean(returns)
    if values.size == 0:
        return float("nan")
    return float(np.percentile(values, 100.0 * (1.0 - confidence)))


def historical_cvar(returns: np.ndarray, confidence: float = 0.95) -> float:
    values = _clean(returns)
    if values.size == 0:
        return float("nan")
    k = int((values.size - 1) * (1.0 - confidence))
    return float(np.mean(np.partition(values, k)[: k + 1]))


def parametric_var(returns: np.ndarray, confidence: float = 0.95) -> float:
    values = _clean(returns)
    if values.size < 2:
        return float("nan")
    z = stats.norm.ppf(1.0 - confidence)
    return float(values.mean() + values.std(ddof=1) * z)


def parametric_cvar(returns: np.ndarray, confidence: float = 0.95) -> float:
    values = _clean(returns)
    if values.size < 2:
        return float("nan")
    tail = 1.0 - confidence
    z = stats.norm.ppf(tail)
    return float(values.mean() - values.std(ddof=1) * stats.norm.pdf(z) / tail)


def drawdown_series(returns: np.ndarray) -> np.ndarray:
    """Drawdown after each period (<= 0); NaN returns count as 0, as in empyrical."""
    values = np.nan_to_num(np.asarray(returns, dtype=float), nan=0.0)
    wealth = np.concatenate([[1.0], np.cumprod(1.0 + values)])
    peak = np.maximum.accumulate(wealth)
    return (wealth / peak - 1.0)[1:]


def max_drawdown(returns: np.ndarray) -> float:
    if np.size(returns) == 0:
        return float("nan")
    return float(np.min(drawdown_series(returns)))


def max_drawdown_duration(returns: np.ndarray) -> int:
    """Longest run of consecutive periods below the previous peak (0 if never under water)."""
    under = drawdown_series(returns) < 0
    if not under.any():
        return 0
    # Lengths of the runs of True: the gaps between the indices where a run starts/ends.
    edges = np.diff(np.concatenate([[0], under.astype(np.int8), [0]]))
    starts, ends = np.flatnonzero(edges == 1), np.flatnonzero(edges == -1)
    return int((ends - starts).max())
