"""Turning simulated log returns into 1-minute OHLCV bars and top-of-book quotes.

All inputs and outputs are ``(n_series, n_bars)`` float64 arrays. Random inputs are
standard normals drawn on demand through ``noise(field)`` (one stream per series and
use, so each symbol is reproducible on its own, and each array is freed after use).
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

from signal_pipeline.data.sim_paths import BARS_PER_DAY, intraday_volume_profile

PRICE_TICK = 0.01  # US equities quote in cents

# The uses of random noise in :func:`bar_arrays`; the order fixes each one's stream.
NOISE_FIELDS: tuple[str, ...] = (
    "high",
    "low",
    "volume",
    "vwap",
    "trades",
    "bid_size",
    "ask_size",
)


@dataclass(frozen=True)
class BarStyle:
    """Per-series scale parameters of the bar and quote construction."""

    start_price: np.ndarray  # (n_series,) previous close before the first bar
    minute_volume: np.ndarray  # (n_series,) average shares per minute
    trade_size: np.ndarray  # (n_series,) average shares per trade
    excursion_scale: float  # high/low excursion beyond the body, in bar sds
    volume_noise: float  # sd of the log-normal volume noise
    volume_return_sensitivity: float  # c in (1 + c * |r| / sd)
    spread_bps: float  # base quoted spread, basis points of price
    spread_vol_coef: float  # extra spread per unit of bar sd (in bps of bps)


def bar_arrays(
    log_return: np.ndarray,
    gap: np.ndarray,
    bar_sd: np.ndarray,
    noise: Callable[[str], np.ndarray],
    style: BarStyle,
) -> dict[str, np.ndarray]:
    """OHLC, volume, vwap, trades and the closing quote of every bar.

    open = previous close (times exp(gap) on a day's first bar); close compounds the
    log returns; high/low extend max/min(open, close) by a half-normal excursion
    scaled by the bar's sd, so low <= min(open, close) <= max(open, close) <= high.
    """
    n_bars = log_return.shape[1]
    log_close = np.log(style.start_price)[:, None] + np.cumsum(log_return, axis=1)
    close = np.exp(log_close)
    del log_close
    prev_close = np.empty_like(close)
    prev_close[:, 0] = style.start_price
    prev_close[:, 1:] = close[:, :-1]
    open_ = prev_close * np.exp(gap)
    del prev_close
    body_hi = np.maximum(open_, close)
    body_lo = np.minimum(open_, close)
    high = body_hi * np.exp(style.excursion_scale * bar_sd * np.abs(noise("high")))
    low = body_lo * np.exp(-style.excursion_scale * bar_sd * np.abs(noise("low")))
    del body_hi, body_lo
    # vwap: a random point of the bar's range, centred, so it always lies in [low, high].
    weight = 0.2 + 0.6 * ndtr(noise("vwap"))
    vwap = low + weight * (high - low)
    del weight

    profile = np.tile(intraday_volume_profile(BARS_PER_DAY), n_bars // BARS_PER_DAY + 1)[:n_bars]
    sigma_v = style.volume_noise
    activity = 1.0 + style.volume_return_sensitivity * np.abs(log_return) / bar_sd
    volume = np.round(
        style.minute_volume[:, None]
        * profile[None, :]
        * np.exp(sigma_v * noise("volume") - 0.5 * sigma_v**2)
        * activity
    )
    del activity
    trades = np.where(
        volume > 0,
        np.maximum(
            1.0,
            np.round(volume / style.trade_size[:, None] * np.exp(0.2 * noise("trades") - 0.02)),
        ),
        0.0,
    )
    bid, ask = _closing_quote(close, bar_sd, style)
    bid_size = 100.0 * np.maximum(1.0, np.round(3.0 * np.exp(0.7 * noise("bid_size"))))
    ask_size = 100.0 * np.maximum(1.0, np.round(3.0 * np.exp(0.7 * noise("ask_size"))))
    return {
        "open": open_,
        "high": high,
        "low": low,
        "close": close,
        "volume": volume,
        "vwap": vwap,
        "trades": trades,
        "bid": bid,
        "ask": ask,
        "bid_size": bid_size,
        "ask_size": ask_size,
    }


def _closing_quote(
    close: np.ndarray, bar_sd: np.ndarray, style: BarStyle
) -> tuple[np.ndarray, np.ndarray]:
    """Bid and ask around the close: the spread widens with the bar's volatility and
    is at least one tick, both sides rounded outwards to the cent."""
    spread_bps = style.spread_bps + style.spread_vol_coef * bar_sd * 1e4
    half = close * spread_bps * 0.5e-4
    bid = np.floor((close - half) / PRICE_TICK) * PRICE_TICK
    ask = np.ceil((close + half) / PRICE_TICK) * PRICE_TICK
    # Rounding to cents leaves float dust (12.339999...); snap to the grid again.
    bid = np.maximum(np.round(bid, 2), PRICE_TICK)
    ask = np.maximum(np.round(ask, 2), bid + PRICE_TICK)
    return bid, ask
