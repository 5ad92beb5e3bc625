"""Liquidity measures from bars: Corwin–Schultz and Roll spread estimators and Amihud
illiquidity. Each is causal (row ``i`` uses rows ``<= i``) and counts windows in bars.

Sources:

- Corwin & Schultz (2012), "A Simple Way to Estimate Bid-Ask Spreads from Daily High and
  Low Prices", *Journal of Finance* 67(2), eqs. (14), (18), (19), with the paper's
  overnight-gap adjustment and negative two-bar estimates set to zero.
- Roll (1984), "A Simple Implicit Measure of the Effective Bid-Ask Spread in an Efficient
  Market", *Journal of Finance* 39(4): ``spread = 2·sqrt(−cov(r_t, r_{t−1}))``, zero
  when the serial covariance is positive.
- Amihud (2002), "Illiquidity and stock returns: cross-section and time-series effects",
  *Journal of Financial Markets* 5(1): mean of ``|r_t| / (close_t · volume_t)``.
"""

from __future__ import annotations

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


def rolling_sum(values: FloatArray, window: int) -> FloatArray:
    """Sum over the last ``window`` rows; NaN until the window is full or if it holds a NaN.

    Each window is summed on its own (a strided view, no running total), so a value does
    not depend on where the series starts: a short trailing buffer gives the same last
    value as the whole history, and no rounding error accumulates over long series."""
    out = np.full(values.shape, np.nan)
    if values.size >= window:
        out[window - 1 :] = sliding_window_view(values, window).sum(axis=1)
    return out


def rolling_mean(values: FloatArray, window: int) -> FloatArray:
    """Mean over the last ``window`` rows (NaN as in :func:`rolling_sum`)."""
    return rolling_sum(values, window) / window


def rolling_cov(x: FloatArray, y: FloatArray, window: int) -> FloatArray:
    """Sample covariance (ddof = 1) of ``x`` and ``y`` over the last ``window`` rows, from
    the centred products (no cancellation of raw moments); NaN where a window holds a NaN."""
    out = np.full(x.shape, np.nan)
    if x.size >= window and window > 1:
        xs = sliding_window_view(x, window)
        ys = sliding_window_view(y, window)
        dx = xs - xs.mean(axis=1, keepdims=True)
        dy = ys - ys.mean(axis=1, keepdims=True)
        out[window - 1 :] = (dx * dy).sum(axis=1) / (window - 1)
    return out


def corwin_schultz_spread(
    high: FloatArray, low: FloatArray, close: FloatArray, window: int
) -> FloatArray:
    """Corwin–Schultz (2012) relative spread, averaged over the last ``window`` bar pairs.

    For the pair of bars (t−1, t), after shifting bar t's high and low by any gap that opens
    between bar t−1's close and bar t's range (the paper's overnight adjustment)::

        β = ln(H_{t−1}/L_{t−1})² + ln(H_t/L_t)²
        γ = ln(max(H_{t−1}, H_t) / min(L_{t−1}, L_t))²
        α = (√(2β) − √β)/(3 − 2√2) − √(γ/(3 − 2√2))
        S = 2(e^α − 1)/(1 + e^α), floored at 0

    The value at row t is the mean of the ``window`` pair estimates ending at t (warm-up:
    ``window + 1`` bars). Result is a fraction of price (0.001 = 10 bp).
    """
    return rolling_mean(corwin_schultz_pairs(high, low, close), window)


def corwin_schultz_pairs(high: FloatArray, low: FloatArray, close: FloatArray) -> FloatArray:
    """The two-bar estimates S of :func:`corwin_schultz_spread` (NaN for the first bar)."""
    pair = np.full(close.shape, np.nan)  # the first bar has no predecessor
    if close.size < 2:
        return pair
    prev_close, prev_high, prev_low = close[:-1], high[:-1], low[:-1]
    high, low = high[1:], low[1:]
    # Gap adjustment: a bar whose whole range lies above (below) the previous close is moved
    # down (up) by the gap, so a price jump between bars is not read as spread.
    up_gap = np.maximum(low - prev_close, 0.0)
    down_gap = np.maximum(prev_close - high, 0.0)
    shift = up_gap - down_gap
    adj_high = high - shift
    adj_low = low - shift
    beta = np.log(prev_high / prev_low) ** 2 + np.log(adj_high / adj_low) ** 2
    gamma = np.log(np.maximum(prev_high, adj_high) / np.minimum(prev_low, adj_low)) ** 2
    denom = 3.0 - 2.0 * np.sqrt(2.0)
    alpha = (np.sqrt(2.0 * beta) - np.sqrt(beta)) / denom - np.sqrt(gamma / denom)
    pair[1:] = np.maximum(2.0 * (np.exp(alpha) - 1.0) / (1.0 + np.exp(alpha)), 0.0)
    return pair


def roll_spread(close: FloatArray, window: int) -> FloatArray:
    """Roll (1984) relative spread ``2·√(−cov(r_t, r_{t−1}))`` from log returns.

    ``cov`` is the sample covariance (ddof = 1) of the last ``window`` pairs of consecutive
    log returns; a non-negative covariance (no bid-ask bounce visible) gives 0. Warm-up:
    ``window + 2`` bars.
    """
    ret = np.full(close.shape, np.nan)
    ret[1:] = np.diff(np.log(close))
    lagged = np.full(close.shape, np.nan)
    lagged[1:] = ret[:-1]
    cov = rolling_cov(ret, lagged, window)
    with np.errstate(invalid="ignore"):
        return np.where(np.isnan(cov), np.nan, 2.0 * np.sqrt(np.maximum(-cov, 0.0)))


def amihud_illiquidity(close: FloatArray, volume: FloatArray, window: int) -> FloatArray:
    """Amihud (2002) illiquidity: mean over the last ``window`` bars of ``|r_t| / (close_t ·
    volume_t)``, scaled by 1e6 (absolute return per million of traded value). Bars with no
    volume have no ratio and are left out of the mean; NaN if none in the window traded.
    Warm-up: ``window + 1`` bars."""
    ret = np.full(close.shape, np.nan)
    ret[1:] = np.abs(np.diff(np.log(close)))
    dollar_volume = close * volume
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(dollar_volume > 0, ret / dollar_volume * 1e6, np.nan)
    ratio[:1] = np.nan
    started = np.zeros(close.shape)
    started[1:] = 1.0  # rows with a return, traded or not: the window must be full of them
    filled = rolling_sum(np.nan_to_num(ratio), window)
    counted = rolling_sum((~np.isnan(ratio)).astype(float), window)
    full = rolling_sum(started, window) == window
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(full & (counted > 0), filled / counted, np.nan)
