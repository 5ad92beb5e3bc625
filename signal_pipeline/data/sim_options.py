"""Simulated daily option chains: an implied-volatility surface with skew and term
structure, Black-Scholes prices, quoted spreads, volume and open interest.

One snapshot per symbol per trading day at the 16:00 ET close. The surface is

    iv(k, T) = atm(T) + skew * k + curvature * k**2,   k = log(K / F) / sqrt(T)
    atm(T)   = long + (short - long) * exp(-T / term_decay)

where ``short`` follows the volatility regime in force at the close (so the term
structure is upward sloping in calm markets and inverted in stressed ones) and
``long`` is the symbol's normal-regime volatility; both carry a variance premium.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd
from scipy.special import ndtr

OPTION_TICK = 0.01
MIN_IV = 0.05  # floor of the surface; the smile's parabola can dip low far from spot
# Strike increments offered, as exchanges list them; a chain uses the one closest (in
# log terms) to spot / 40, which gives about 20 strikes across +-25 %.
_STRIKE_LADDER = np.array([0.5, 1.0, 2.5, 5.0, 10.0, 25.0, 50.0, 100.0])


@dataclass(frozen=True)
class ChainStyle:
    """Parameters of the option chains, shared by all symbols."""

    tenors_days: tuple[int, ...]
    strike_range: float  # strikes within spot * (1 +- strike_range)
    risk_free_rate: float
    dividend_yield: float
    iv_premium: float  # implied over realised vol ratio
    iv_skew: float
    iv_curvature: float
    iv_term_decay_days: float
    spread_fraction: float  # quoted spread as a fraction of the option price
    min_spread: float  # dollars


def black_scholes_price(
    spot: np.ndarray,
    strike: np.ndarray,
    years: np.ndarray,
    rate: float,
    dividend_yield: float,
    vol: np.ndarray,
    is_call: np.ndarray,
) -> np.ndarray:
    """Black-Scholes-Merton price of European options (continuous dividend yield).

    Private to the simulator: the feature layer has its own Greeks and IV code."""
    sqrt_t = np.sqrt(years)
    d1 = (np.log(spot / strike) + (rate - dividend_yield + 0.5 * vol**2) * years) / (vol * sqrt_t)
    d2 = d1 - vol * sqrt_t
    disc_s = spot * np.exp(-dividend_yield * years)
    disc_k = strike * np.exp(-rate * years)
    call = disc_s * ndtr(d1) - disc_k * ndtr(d2)
    put = disc_k * ndtr(-d2) - disc_s * ndtr(-d1)
    return np.where(is_call, call, put)


def expiry_dates(trading_days: pd.DatetimeIndex, tenors_days: tuple[int, ...]) -> np.ndarray:
    """Calendar expiry dates, shape (n_days, n_tenors): snapshot date + tenor, moved back
    to the Friday when that lands on a weekend (options do not expire on weekends)."""
    base = trading_days.normalize().values.astype("datetime64[D]")
    raw = base[:, None] + np.asarray(tenors_days, dtype="timedelta64[D]")[None, :]
    weekday = (raw.astype("int64") + 3) % 7  # 1970-01-01 was a Thursday; Monday = 0
    back = np.where(weekday == 5, 1, np.where(weekday == 6, 2, 0)).astype("timedelta64[D]")
    return raw - back


def expiry_stamps(
    trading_days: pd.DatetimeIndex, tenors_days: tuple[int, ...], session_tz: str
) -> np.ndarray:
    """UTC nanoseconds of 16:00 local time on each expiry date, (n_days, n_tenors)."""
    local = (expiry_dates(trading_days, tenors_days) + np.timedelta64(16, "h")).astype("M8[ns]")
    utc = pd.DatetimeIndex(local.ravel()).tz_localize(session_tz).tz_convert("UTC")
    return utc.asi8.reshape(len(trading_days), len(tenors_days))


def strike_grid(spot: float, strike_range: float) -> np.ndarray:
    """Listed strikes within spot * (1 +- strike_range) on an exchange-style increment."""
    target = spot / 40.0
    step = _STRIKE_LADDER[np.argmin(np.abs(np.log(_STRIKE_LADDER / target)))]
    lo = np.ceil(spot * (1.0 - strike_range) / step)
    hi = np.floor(spot * (1.0 + strike_range) / step)
    return np.round(np.arange(lo, hi + 1.0) * step, 4)


def simulate_chains(
    *,
    symbol: str,
    rng: np.random.Generator,
    snapshot_ns: np.ndarray,
    expiry_ns: np.ndarray,
    spot: np.ndarray,
    vol_now: np.ndarray,
    vol_long: float,
    base_open_interest: float,
    style: ChainStyle,
) -> dict[str, np.ndarray]:
    """Option chain rows of one symbol over all days, ordered by (ts, expiry,
    option_type, strike). ``snapshot_ns``, ``spot``, ``vol_now``: one per day;
    ``expiry_ns``: (n_days, n_tenors) UTC nanoseconds of 16:00 ET on each expiry.

    Random numbers are drawn day after day, so a run over more days begins with the
    same chains as a shorter one.
    """
    n_tenors = expiry_ns.shape[1]
    strikes = [strike_grid(s, style.strike_range) for s in spot]
    counts = np.array([2 * n_tenors * len(k) for k in strikes])
    day = np.repeat(np.arange(len(spot)), counts)
    pos = np.arange(counts.sum()) - np.repeat(np.cumsum(counts) - counts, counts)
    n_k = np.array([len(k) for k in strikes])[day]
    tenor = pos // (2 * n_k)
    is_call = (pos % (2 * n_k)) < n_k  # calls before puts: 'C' sorts before 'P'
    strike = np.concatenate([np.tile(np.tile(k, 2), n_tenors) for k in strikes])
    expiry = expiry_ns[day, tenor]
    years = (expiry - snapshot_ns[day]) / (365.0 * 86400e9)
    s = spot[day]
    forward = s * np.exp((style.risk_free_rate - style.dividend_yield) * years)
    k = np.log(strike / forward) / np.sqrt(years)
    short = vol_now[day] * style.iv_premium
    long = vol_long * style.iv_premium
    atm = long + (short - long) * np.exp(-years * 365.0 / style.iv_term_decay_days)
    iv = np.maximum(atm + style.iv_skew * k + style.iv_curvature * k**2, MIN_IV)
    price = black_scholes_price(
        s, strike, years, style.risk_free_rate, style.dividend_yield, iv, is_call
    )
    noise = rng.standard_normal((len(day), 3))
    spread = np.maximum(style.min_spread, style.spread_fraction * price)
    bid = np.maximum(np.floor((price - 0.5 * spread) / OPTION_TICK) * OPTION_TICK, 0.0)
    bid = np.round(bid, 2)
    ask = np.maximum(np.round(np.ceil((price + 0.5 * spread) / OPTION_TICK) * OPTION_TICK, 2), bid)
    ask = np.where(ask <= bid, bid + OPTION_TICK, ask)
    # Last trade: somewhere inside the quote, on the tick grid.
    last = np.round(bid + (0.25 + 0.5 * ndtr(noise[:, 0])) * (ask - bid), 2)
    last = np.maximum(last, OPTION_TICK)
    # Interest concentrates at the money (in sd units of moneyness) and near expiry.
    sd_moneyness = np.abs(np.log(strike / forward)) / (atm * np.sqrt(years))
    interest = (
        base_open_interest
        * np.exp(-1.2 * sd_moneyness)
        * (0.4 + np.exp(-years * 365.0 / 45.0))
        * np.exp(0.3 * noise[:, 1] - 0.045)
    )
    open_interest = np.round(interest)
    volume = np.round(interest * 0.15 * np.exp(-0.5 * sd_moneyness + 0.6 * noise[:, 2] - 0.18))
    return {
        "symbol": np.full(len(day), symbol, dtype=object),
        "ts": snapshot_ns[day],
        "expiry": expiry,
        "strike": strike,
        "option_type": np.where(is_call, "C", "P").astype(object),
        "bid": bid,
        "ask": ask,
        "last": last,
        "volume": volume,
        "open_interest": open_interest,
        "underlying_price": s,
        "implied_volatility": iv,
    }
