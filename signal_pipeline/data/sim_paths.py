"""The generative core of the market simulator: volatility regimes, log returns with a
planted momentum signal, and the exact oracle of the next-horizon class.

Everything here works on ``(n_series, n_bars)`` float64 arrays of one continuous
1-minute bar sequence per series (trading days back to back); turning them into
prices, frames and option chains is done elsewhere. The model and the oracle's
definition are written out in ``docs/simulator.md``.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from scipy.special import ndtr

BARS_PER_DAY = 390

# Regime labels, in the order of the multiplier / duration / weight tuples.
REGIME_NAMES: tuple[str, str, str] = ("calm", "normal", "stressed")


@dataclass(frozen=True)
class RegimeModel:
    """A 3-state Markov chain on 1-minute bars: sojourns are geometric with the given
    mean length; on leaving a state the next one is drawn among the other two in
    proportion to ``jump_weights``."""

    multipliers: tuple[float, float, float]
    mean_duration_bars: tuple[float, float, float]
    jump_weights: tuple[float, float, float]


def simulate_regimes(rng: np.random.Generator, n_bars: int, model: RegimeModel) -> np.ndarray:
    """Regime index (0 calm, 1 normal, 2 stressed) of each of ``n_bars`` bars.

    Random numbers are consumed in fixed batches, segment after segment, so a longer
    path starts with exactly the shorter one (runs over more days extend, not reshuffle).
    """
    weights = np.asarray(model.jump_weights, dtype=float)
    weights = weights / weights.sum()
    out = np.empty(n_bars, dtype=np.int8)
    state = int(min(np.searchsorted(np.cumsum(weights), rng.random(), side="right"), 2))
    pos = 0
    while pos < n_bars:
        for dur_u, jump_u in rng.random((64, 2)):
            leave = 1.0 / model.mean_duration_bars[state]
            # Inverse-CDF geometric draw; 1 - u lies in (0, 1] so the log is finite.
            duration = 1 + int(np.log1p(-dur_u) / np.log1p(-leave)) if leave < 1 else 1
            out[pos : pos + duration] = state
            pos += duration
            if pos >= n_bars:
                break
            others = [s for s in range(3) if s != state]
            first_share = weights[others[0]] / (weights[others[0]] + weights[others[1]])
            state = others[0] if jump_u < first_share else others[1]
    return out


def lagged(values: np.ndarray, lag: int) -> np.ndarray:
    """``values`` shifted ``lag`` bars later along the last axis; the first ``lag``
    entries repeat the first value (the state before the path began)."""
    if lag <= 0:
        return values.copy()
    out = np.empty_like(values)
    out[..., lag:] = values[..., :-lag]
    out[..., :lag] = values[..., :1]
    return out


def intraday_vol_profile(n: int = BARS_PER_DAY) -> np.ndarray:
    """U-shaped volatility seasonality over the minutes of the session, scaled so the
    mean of its square is 1 (the base vol is the session's average per-minute vol)."""
    j = np.arange(n, dtype=float)
    raw = 0.75 + 0.9 * np.exp(-j / 25.0) + 0.35 * np.exp(-(n - 1 - j) / 30.0)
    return raw / np.sqrt(np.mean(raw**2))


def intraday_volume_profile(n: int = BARS_PER_DAY) -> np.ndarray:
    """U-shaped volume seasonality (heavy open, busy close), mean 1 over the session."""
    j = np.arange(n, dtype=float)
    raw = 0.6 + 2.0 * np.exp(-j / 20.0) + 1.2 * np.exp(-(n - 1 - j) / 15.0)
    return raw / raw.mean()


@dataclass(frozen=True)
class ReturnPaths:
    """Output of :func:`simulate_returns`, all ``(n_series, n_bars)``."""

    log_return: np.ndarray  # close-to-close log return of each bar (gap included)
    drift: np.ndarray  # planted conditional mean mu_i of each bar
    bar_sd: np.ndarray  # conditional sd of each bar's intraday return


def simulate_returns(
    *,
    market_return: np.ndarray,
    market_sd: np.ndarray,
    beta: np.ndarray,
    idio_sd: np.ndarray,
    idio_shock: np.ndarray,
    gap: np.ndarray,
    signal_strength: float,
    horizon: int,
    lookback: int,
    state_clip: float,
) -> ReturnPaths:
    """Log returns r_i = mu_i + beta * m_i + idio_sd_i * z_i + gap_i with the planted
    drift mu_i = signal_strength * s_{i-H} * bar_sd_i.

    The state s_t = clip(sum of the last ``lookback`` returns / sqrt(sum of their
    squares), +-state_clip) depends on past returns, which depend on the drift, so the
    path is built in blocks of H bars: a block's drifts use states of the block
    before, already known. Each block is one vectorised step over all series.
    """
    n_series, n_bars = idio_shock.shape
    bar_sd = np.sqrt((beta[:, None] * market_sd[None, :]) ** 2 + idio_sd**2)
    # Everything but the drift; the drift is added in place, block by block.
    log_return = beta[:, None] * market_return[None, :] + idio_sd * idio_shock + gap
    drift = np.zeros((n_series, n_bars))
    if signal_strength == 0.0:
        return ReturnPaths(log_return, drift, bar_sd)
    state = np.zeros((n_series, n_bars))
    csum = np.zeros((n_series, n_bars + 1))
    csq = np.zeros((n_series, n_bars + 1))
    for a in range(0, n_bars, horizon):
        b = min(a + horizon, n_bars)
        if a >= horizon:
            drift[:, a:b] = signal_strength * state[:, a - horizon : b - horizon] * bar_sd[:, a:b]
            log_return[:, a:b] += drift[:, a:b]
        block = log_return[:, a:b]
        csum[:, a + 1 : b + 1] = csum[:, a : a + 1] + np.cumsum(block, axis=1)
        csq[:, a + 1 : b + 1] = csq[:, a : a + 1] + np.cumsum(block**2, axis=1)
        _fill_state(state, csum, csq, lookback, state_clip, a, b)
    return ReturnPaths(log_return, drift, bar_sd)


def momentum_state(log_return: np.ndarray, lookback: int, state_clip: float) -> np.ndarray:
    """The observable state s_t of every bar, recomputed from finished returns (the
    same formula :func:`simulate_returns` applies block by block)."""
    n_series, n_bars = log_return.shape
    state = np.zeros((n_series, n_bars))
    csum = np.zeros((n_series, n_bars + 1))
    csq = np.zeros((n_series, n_bars + 1))
    np.cumsum(log_return, axis=1, out=csum[:, 1:])
    np.cumsum(log_return**2, axis=1, out=csq[:, 1:])
    _fill_state(state, csum, csq, lookback, state_clip, 0, n_bars)
    return state


def _fill_state(
    state: np.ndarray,
    csum: np.ndarray,
    csq: np.ndarray,
    lookback: int,
    clip: float,
    a: int,
    b: int,
) -> None:
    """Momentum z-scores of bars a..b-1 from running sums; 0 until ``lookback``
    returns exist."""
    lo = max(a, lookback - 1)
    if lo >= b:
        return
    num = csum[:, lo + 1 : b + 1] - csum[:, lo + 1 - lookback : b + 1 - lookback]
    sq = csq[:, lo + 1 : b + 1] - csq[:, lo + 1 - lookback : b + 1 - lookback]
    # A window of exact zeros cannot occur with Gaussian shocks; the floor only keeps
    # the division finite.
    state[:, lo:b] = np.clip(num / np.sqrt(np.maximum(sq, 1e-300)), -clip, clip)


@dataclass(frozen=True)
class Oracle:
    """The exact conditional law of each bar's next-horizon class, ``(n_series, n_bars)``.

    Entries whose horizon crosses the session close are NaN (``label`` -1)."""

    p_sell: np.ndarray
    p_hold: np.ndarray
    p_buy: np.ndarray
    label: np.ndarray  # int8: 0 SELL, 1 HOLD, 2 BUY, -1 no label
    expected_return: np.ndarray  # M_t
    return_sd: np.ndarray  # sqrt(V_t)
    threshold: np.ndarray  # theta_t = k * sqrt(V_t)
    forward_return: np.ndarray  # realised R_t = log(close_{t+H} / close_t)


def oracle_probabilities(
    paths: ReturnPaths, *, horizon: int, threshold_sd: float, bars_per_day: int = BARS_PER_DAY
) -> Oracle:
    """R_t = r_{t+1} + ... + r_{t+H} is N(M_t, V_t) given everything known at t, with
    M_t the sum of the planted drifts and V_t the sum of the bar variances of bars
    t+1..t+H; classes are R_t below -theta_t (SELL), above theta_t (BUY), else HOLD."""
    n_series, n_bars = paths.log_return.shape

    def forward_sum(x: np.ndarray) -> np.ndarray:
        c = np.zeros((n_series, n_bars + 1))
        np.cumsum(x, axis=1, out=c[:, 1:])
        out = np.full((n_series, n_bars), np.nan)
        out[:, : n_bars - horizon] = c[:, horizon + 1 :] - c[:, 1 : n_bars + 1 - horizon]
        return out

    minute = np.arange(n_bars) % bars_per_day
    crosses_close = minute > bars_per_day - 1 - horizon
    mean = forward_sum(paths.drift)
    sd = np.sqrt(forward_sum(paths.bar_sd**2))
    realised = forward_sum(paths.log_return)
    for arr in (mean, sd, realised):
        arr[:, crosses_close] = np.nan
    theta = threshold_sd * sd
    p_buy = ndtr((mean - theta) / sd)
    p_sell = ndtr((-theta - mean) / sd)
    p_hold = np.clip(1.0 - p_buy - p_sell, 0.0, 1.0)
    label = np.full((n_series, n_bars), -1, dtype=np.int8)
    known = ~np.isnan(realised)
    label[known] = np.where(
        realised[known] > theta[known], 2, np.where(realised[known] < -theta[known], 0, 1)
    )
    return Oracle(p_sell, p_hold, p_buy, label, mean, sd, theta, realised)
