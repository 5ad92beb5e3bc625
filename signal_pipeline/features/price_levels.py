"""Price levels from recent bars: rolling volume profile, support/resistance and breakouts.

Both are causal: the value at row ``i`` uses rows ``<= i`` only, and each window is
computed on its own (no running state), so a short trailing buffer gives bit-identical
last-row values to the full history once it holds ``window`` (+1 for levels) bars.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numpy.lib.stride_tricks import sliding_window_view
from numpy.typing import NDArray

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
    prices = sliding_window_view(price, window)
    volumes = sliding_window_view(volume, window)
    for start in range(0, prices.shape[0], _BLOCK_ROWS):
        p = prices[start : start + _BLOCK_ROWS]
        v = volumes[start : start + _BLOCK_ROWS]
        lo = p.min(axis=1)
        hi = p.max(axis=1)
        width = hi - lo
        with np.errstate(invalid="ignore", divide="ignore"):
            scale = np.where(width > 0, bins / width, 0.0)  # a flat window: everything in bin 0
        which = ((p - lo[:, None]) * scale[:, None]).astype(np.intp)
        np.minimum(which, bins - 1, out=which)  # the window's maximum belongs to the top bin
        which += np.arange(p.shape[0])[:, None] * bins
        hist = np.bincount(which.ravel(), weights=v.ravel(), minlength=p.shape[0] * bins)
        hist = hist.reshape(p.shape[0], bins)
        total = hist.sum(axis=1)
        top = hist.argmax(axis=1)
        centre = lo + (top + 0.5) * width / bins
        traded = total > 0
        at = start + window - 1
        block = slice(at, at + p.shape[0])
        poc[block] = np.where(traded, np.where(width > 0, centre, lo), np.nan)
        with np.errstate(invalid="ignore", divide="ignore"):
            shares = hist / total[:, None]
        concentration[block] = np.where(traded, (shares**2).sum(axis=1), np.nan)
    return VolumeProfile(poc, concentration)


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
        resistance[window:] = sliding_window_view(high[:-1], window).max(axis=1)
        support[window:] = sliding_window_view(low[:-1], window).min(axis=1)
    known = ~np.isnan(resistance)
    up = np.where(known, (close > resistance).astype(float), np.nan)
    down = np.where(known, (close < support).astype(float), np.nan)
    return PriceLevels(close / support - 1.0, resistance / close - 1.0, up, down)
