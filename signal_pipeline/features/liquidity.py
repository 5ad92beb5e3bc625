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
from numba import njit
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@njit(cache=True)
def _block_sum(x: FloatArray, lo: int, n: int) -> float:
    """numpy's sum of ``x[lo : lo + n]`` for n <= 128: a plain loop below 8 values, else 8
    running partial sums combined pairwise, then the remainder."""
    if n < 8:
        res = 0.0
        for i in range(lo, lo + n):
            res += x[i]
        return res
    r0, r1, r2, r3 = x[lo], x[lo + 1], x[lo + 2], x[lo + 3]
    r4, r5, r6, r7 = x[lo + 4], x[lo + 5], x[lo + 6], x[lo + 7]
    stop = n - n % 8
    for i in range(8, stop, 8):
        j = lo + i
        r0 += x[j]
        r1 += x[j + 1]
        r2 += x[j + 2]
        r3 += x[j + 3]
        r4 += x[j + 4]
        r5 += x[j + 5]
        r6 += x[j + 6]
        r7 += x[j + 7]
    res = ((r0 + r1) + (r2 + r3)) + ((r4 + r5) + (r6 + r7))
    for i in range(lo + stop, lo + n):
        res += x[i]
    return res


@njit(cache=True)
def pairwise_sum(x: FloatArray, lo: int, n: int) -> float:
    """``x[lo : lo + n].sum()`` in numpy's own summation order (pairwise: blocks of up to
    128 values summed by :func:`_block_sum`, longer runs halved at a multiple of 8 and the
    halves' sums added), so the result is bit-identical to numpy's ``sum`` of that slice.
    The halving is walked with an explicit stack (compiled recursion does not cache)."""
    if n <= 128:
        return _block_sum(x, lo, n)
    node_lo = np.empty(64, dtype=np.int64)
    node_n = np.empty(64, dtype=np.int64)
    stage = np.empty(64, dtype=np.int64)
    sums = np.empty(64)
    depth, done = 1, 0
    node_lo[0], node_n[0], stage[0] = lo, n, 0
    while depth > 0:
        top = depth - 1
        start, size = node_lo[top], node_n[top]
        if size <= 128:
            sums[done] = _block_sum(x, start, size)
            done += 1
            depth -= 1
            continue
        half = size // 2
        half -= half % 8
        if stage[top] == 0:  # left half next
            stage[top] = 1
            node_lo[depth], node_n[depth], stage[depth] = start, half, 0
            depth += 1
        elif stage[top] == 1:  # then the right half
            stage[top] = 2
            node_lo[depth], node_n[depth], stage[depth] = start + half, size - half, 0
            depth += 1
        else:  # both halves summed: left + right
            sums[done - 2] = sums[done - 2] + sums[done - 1]
            done -= 1
            depth -= 1
    return sums[0]


@njit(cache=True)
def _rolling_sum(values: FloatArray, window: int) -> FloatArray:
    n = values.size
    out = np.full(n, np.nan)
    if n < window:
        return out
    if window < 8 or window > 128:
        for i in range(window - 1, n):
            out[i] = pairwise_sum(values, i - window + 1, window)
        return out
    # Windows of 8..128 values, numpy's order: partial sum k of the window starting at i is
    # x[i+k] + x[i+k+8] + ... (``blocks`` terms), i.e. ``lanes[i+k]`` below, shared by
    # the 8 windows that use it; then the pairwise combination and the tail, in order.
    blocks = window // 8
    stop = blocks * 8
    m = n - window + 1
    lanes = values[: m + 7].copy()
    for b in range(1, blocks):
        shift = 8 * b
        for j in range(m + 7):
            lanes[j] += values[j + shift]
    for i in range(m):
        res = ((lanes[i] + lanes[i + 1]) + (lanes[i + 2] + lanes[i + 3])) + (
            (lanes[i + 4] + lanes[i + 5]) + (lanes[i + 6] + lanes[i + 7])
        )
        for t in range(stop, window):
            res += values[i + t]
        out[i + window - 1] = res
    return out


def rolling_sum(values: FloatArray, window: int) -> FloatArray:
    """Sum over the last ``window`` rows; NaN until the window is full or if it holds a NaN.

    Each window is summed on its own (no running total), in numpy's summation order, so a
    value does not depend on where the series starts: a short trailing buffer gives the
    same last value (``values[-window:].sum()``) as the whole history, and no rounding error
    accumulates over long series."""
    values = np.ascontiguousarray(values, dtype=np.float64)
    if window < 1:
        raise ValueError(f"rolling window={window}: must be >= 1")
    return _rolling_sum(values, int(window))


def rolling_mean(values: FloatArray, window: int) -> FloatArray:
    """Mean over the last ``window`` rows (NaN as in :func:`rolling_sum`)."""
    return rolling_sum(values, window) / window


def rolling_cov(x: FloatArray, y: FloatArray, window: int) -> FloatArray:
    """Sample covariance (ddof = 1) of ``x`` and ``y`` over the last ``window`` rows, from
    the centred products (no cancellation of raw moments); NaN where a window holds a NaN."""
    x = np.ascontiguousarray(x, dtype=np.float64)
    y = np.ascontiguousarray(y, dtype=np.float64)
    if window <= 1:
        return np.full(x.shape, np.nan)
    return _rolling_cov(x, y, int(window))


@njit(cache=True)
def _rolling_cov(x: FloatArray, y: FloatArray, window: int) -> FloatArray:
    # The arithmetic of numpy's mean / centred product sum over each window, in its order.
    out = np.full(x.size, np.nan)
    products = np.empty(window)
    for i in range(window - 1, x.size):
        lo = i - window + 1
        mean_x = pairwise_sum(x, lo, window) / window
        mean_y = pairwise_sum(y, lo, window) / window
        for j in range(window):
            products[j] = (x[lo + j] - mean_x) * (y[lo + j] - mean_y)
        out[i] = pairwise_sum(products, 0, window) / (window - 1)
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
