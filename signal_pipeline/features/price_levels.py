"""Price levels from recent bars: rolling volume profile, support/resistance and breakouts.

Both are causal: the value at row ``i`` uses rows ``<= i`` only, and each window is
computed on its own (no running state), so a short trailing buffer gives bit-identical
last-row values to the full history once it holds ``window`` (+1 for levels) bars.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

from signal_pipeline.features.liquidity import pairwise_sum

FloatArray = NDArray[np.float64]

# Windows evaluated per block: bounds memory at ~block × window × 8 bytes per array.
_BLOCK_ROWS = 8192


class VolumeProfile(NamedTuple):
    poc: FloatArray  # point-of-control price (centre of the busiest bin)
    concentration: FloatArray  # Herfindahl index of the bins' volume shares, 1/bins … 1


class PriceLevels(NamedTuple):
    support_dist: FloatArray  # close / support − 1 (>= 0 unless breaking down)
    resistance_dist: FloatArray  # resistance / close − 1 (>= 0 unless breaking out)
    breakout_up: FloatArray  # 1.0 when close > resistance, else 0.0
    breakout_down: FloatArray  # 1.0 when close < support, else 0.0


def trailing_extremes(values: FloatArray, window: int) -> tuple[FloatArray, FloatArray]:
    """(max, min) of each full trailing window: element ``j`` covers ``values[j : j +
    window]``. Monotonic queues (O(n), exact: extremes need no arithmetic); numpy over a
    strided view when a NaN could make the two disagree."""
    if values.size < window:
        return np.empty(0), np.empty(0)
    if not np.isfinite(values).all():
        view = sliding_window_view(values, window)
        return view.max(axis=1), view.min(axis=1)
    return _trailing_max_min(np.ascontiguousarray(values, dtype=np.float64), window)


@njit(cache=True)
def _trailing_max_min(values: FloatArray, window: int) -> tuple[FloatArray, FloatArray]:
    """Sliding max and min of finite values: each queue keeps the positions of the window's
    candidates (values strictly decreasing for the max, increasing for the min)."""
    n = values.size
    highest = np.empty(n - window + 1)
    lowest = np.empty(n - window + 1)
    up = np.empty(n, dtype=np.int64)
    down = np.empty(n, dtype=np.int64)
    up_head = up_tail = down_head = down_tail = 0
    for i in range(n):
        x = values[i]
        while up_tail > up_head and values[up[up_tail - 1]] <= x:
            up_tail -= 1
        up[up_tail] = i
        up_tail += 1
        while down_tail > down_head and values[down[down_tail - 1]] >= x:
            down_tail -= 1
        down[down_tail] = i
        down_tail += 1
        if up[up_head] <= i - window:
            up_head += 1
        if down[down_head] <= i - window:
            down_head += 1
        if i >= window - 1:
            highest[i - window + 1] = values[up[up_head]]
            lowest[i - window + 1] = values[down[down_head]]
    return highest, lowest


def volume_profile(price: FloatArray, volume: FloatArray, window: int, bins: int) -> VolumeProfile:
    """Rolling volume-at-price profile of the last ``window`` bars.

    Each window's price range [min, max] is cut into ``bins`` equal bins (the top edge
    belongs to the last bin) and each bar's volume goes to the bin of its price (bar VWAP or
    typical price). The point of control (POC; Steidlmayer's Market Profile) is the centre
    of the bin with the most volume (the lowest such bin on a tie); a window whose prices are
    all equal has its POC at that price. ``concentration`` = Σ share_b², the Herfindahl
    index of the volume shares: 1/bins for volume spread evenly, 1 for one price cluster.
    Rows before the first full window, and windows with no volume, are NaN.
    """
    n = price.size
    poc = np.full(n, np.nan)
    concentration = np.full(n, np.nan)
    if n < window:
        return VolumeProfile(poc, concentration)
    price = np.ascontiguousarray(price, dtype=np.float64)
    volume = np.ascontiguousarray(volume, dtype=np.float64)
    if not (np.isfinite(price).all() and np.isfinite(volume).all()):
        return _volume_profile_numpy(price, volume, window, bins)
    highest, lowest = trailing_extremes(price, window)
    width = highest - lowest
    with np.errstate(invalid="ignore", divide="ignore"):
        scale = np.where(width > 0, bins / width, 0.0)  # a flat window: everything in bin 0
    # Whole-number volumes (shares) whose total stays below 2**53 sum exactly in any order,
    # so a window's histogram can then be updated bar by bar instead of rebuilt.
    whole = bool((volume >= 0).all() and (volume == np.floor(volume)).all())
    whole = whole and float(volume.sum()) < 2.0**53
    _profile_kernel(price, volume, lowest, width, scale, window, bins, whole, poc, concentration)
    return VolumeProfile(poc, concentration)


@njit(cache=True)
def _profile_kernel(
    price: FloatArray,
    volume: FloatArray,
    lo: FloatArray,
    width: FloatArray,
    scale: FloatArray,
    window: int,
    bins: int,
    whole: bool,
    poc: FloatArray,
    concentration: FloatArray,
) -> None:
    """:func:`volume_profile` of finite prices and volumes, window by window, with the
    arithmetic (and summation order) of :func:`_volume_profile_numpy`: each bar's volume
    added to the bin of its truncated ``(price − lo)·scale`` in bar order, then the
    numpy-ordered sums of the bins and of the squared shares. With ``whole`` volumes
    (exact sums in any order) a window with the same range as the one before takes its
    histogram, less the bar that left and plus the one that came: the same numbers."""
    hist = np.empty(bins)
    squares = np.empty(bins)
    for i in range(lo.size):
        if whole and i > 0 and lo[i] == lo[i - 1] and scale[i] == scale[i - 1]:
            gone = int((price[i - 1] - lo[i]) * scale[i])
            hist[min(gone, bins - 1)] -= volume[i - 1]
            last = i + window - 1
            came = int((price[last] - lo[i]) * scale[i])
            hist[min(came, bins - 1)] += volume[last]
        else:
            hist[:] = 0.0
            for j in range(i, i + window):
                which = int((price[j] - lo[i]) * scale[i])
                hist[min(which, bins - 1)] += volume[j]
        total = _block_total(hist)
        if not total > 0:
            continue  # no volume traded in the window: NaN
        top = 0
        for b in range(1, bins):
            if hist[b] > hist[top]:
                top = b
        row = i + window - 1
        poc[row] = lo[i] + (top + 0.5) * width[i] / bins if width[i] > 0 else lo[i]
        for b in range(bins):
            share = hist[b] / total
            squares[b] = share * share
        concentration[row] = _block_total(squares)


@njit(cache=True)
def _block_total(values: FloatArray) -> float:
    return pairwise_sum(values, 0, values.size)


def _profile_stats(
    hist: FloatArray,
    lo: FloatArray,
    width: FloatArray,
    bins: int,
    poc: FloatArray,
    concentration: FloatArray,
    at: int,
) -> None:
    """POC and concentration of the window histograms ``hist``, written from row ``at``."""
    total = hist.sum(axis=1)
    top = hist.argmax(axis=1)
    centre = lo + (top + 0.5) * width / bins
    traded = total > 0
    block = slice(at, at + hist.shape[0])
    poc[block] = np.where(traded, np.where(width > 0, centre, lo), np.nan)
    with np.errstate(invalid="ignore", divide="ignore"):
        shares = hist / total[:, None]
    concentration[block] = np.where(traded, (shares**2).sum(axis=1), np.nan)


def _volume_profile_numpy(
    price: FloatArray, volume: FloatArray, window: int, bins: int
) -> VolumeProfile:
    """:func:`volume_profile` with numpy only: the path for prices or volumes that are not
    all finite (the compiled histogram needs a finite bin index)."""
    n = price.size
    poc = np.full(n, np.nan)
    concentration = np.full(n, np.nan)
    highest, lowest = trailing_extremes(price, window)
    for start in range(0, highest.size, _BLOCK_ROWS):
        m = min(_BLOCK_ROWS, highest.size - start)
        lo = lowest[start : start + m]
        width = highest[start : start + m] - lo
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = np.where(width > 0, bins / width, 0.0)  # a flat window: everything in bin 0
        # Histograms of m windows at once, one window position j per pass: each pass puts
        # one bar into every window's histogram (no two in the same cell), adding the bars
        # in the same order as a per-window bincount, with m-sized temporaries only.
        hist = np.zeros(m * bins)
        cell = np.arange(m) * bins
        offset = np.empty(m)
        which = np.empty(m, dtype=np.intp)
        for j in range(window):
            at = slice(start + j, start + j + m)
            np.subtract(price[at], lo, out=offset)
            np.multiply(offset, scale, out=offset)
            np.copyto(which, offset, casting="unsafe")  # truncation, as astype(intp)
            np.minimum(which, bins - 1, out=which)  # the window's maximum: the top bin
            which += cell
            np.add.at(hist, which, volume[at])
        _profile_stats(hist.reshape(m, bins), lo, width, bins, poc, concentration,
                       start + window - 1)  # fmt: skip
    return VolumeProfile(poc, concentration)


def volume_profile_last(price: FloatArray, volume: FloatArray, bins: int) -> tuple[float, float]:
    """(POC, concentration) of ONE window, ``price``/``volume`` being exactly its bars: the
    last row of :func:`volume_profile` with the same arithmetic, for streaming updates."""
    lo, hi = float(price.min()), float(price.max())
    width = hi - lo
    scale = bins / width if width > 0 else 0.0
    which = ((price - lo) * scale).astype(np.intp)
    np.minimum(which, bins - 1, out=which)
    hist = np.bincount(which, weights=volume, minlength=bins)
    total = float(hist.sum())
    if not total > 0:
        return float("nan"), float("nan")
    top = int(hist.argmax())
    poc = lo + (top + 0.5) * width / bins if width > 0 else lo
    return poc, float(((hist / total) ** 2).sum())


def support_resistance(
    high: FloatArray, low: FloatArray, close: FloatArray, window: int
) -> PriceLevels:
    """Support = lowest low and resistance = highest high of the ``window`` bars BEFORE the
    current one (so the current bar can break through them); distances are fractions of
    price; a breakout is a close beyond the level. Warm-up: ``window + 1`` bars (NaN before).
    """
    resistance = np.full(high.shape, np.nan)
    support = np.full(low.shape, np.nan)
    if high.size > window:
        # Window ending at the previous bar: extremes of rows i-window .. i-1 for row i.
        resistance[window:] = trailing_extremes(high[:-1], window)[0]
        support[window:] = trailing_extremes(low[:-1], window)[1]
    known = ~np.isnan(resistance)
    up = np.where(known, (close > resistance).astype(float), np.nan)
    down = np.where(known, (close < support).astype(float), np.nan)
    return PriceLevels(close / support - 1.0, resistance / close - 1.0, up, down)
