"""Options features of one symbol, one row per chain snapshot: ATM implied volatility and
its term structure, IV rank/percentiles, skew, put/call ratios and open-interest Greeks.

Implied volatilities are solved here (:mod:`.greeks`) from mid prices; a vendor
``implied_volatility`` column is ignored. Every feature at snapshot ``ts`` uses snapshots
``<= ts`` only. Conventions and formulas: :mod:`.iv_surface` and
``docs/options-and-microstructure.md``.

What enters the volatility surface, per (snapshot, expiry) slice:

1. the forward F from put-call parity at the strike nearest the money (``forward="parity"``,
   default), or ``S·e^{(r−q)T}`` (``forward="carry"``, also the fallback for slices without
   a call and a put quoted at one strike);
2. at each strike, the out-of-the-money option (put below F, call at or above) with a
   two-sided quote (bid > 0): its IV from the mid price. A zero bid is a valid quote (the
   contract says so) but it gives no price to invert; those strikes still count in the
   put/call ratios and take the smile's fitted σ for the Greeks, and the share of strikes
   with a solved IV is reported as ``iv_solved_share``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from signal_pipeline.data.validation import OptionChainError, validate_option_chains
from signal_pipeline.features.greeks import bsm_greeks, solve_implied_volatility
from signal_pipeline.features.iv_surface import (
    atm_vols,
    fit_smiles,
    interpolate_atm_term,
    interpolate_linear,
    parity_forwards,
)

DEFAULT_OPTIONS_PARAMS: dict[str, Any] = {
    "risk_free_rate": 0.04,  # continuously compounded; pass the rate in force for real data
    "dividend_yield": 0.0,  # only used by forward="carry" and its fallback
    "forward": "parity",  # "parity" or "carry"
    "term_days": (7, 14, 30, 60, 90),  # ATM IV term-structure points
    "skew_days": 30,  # tenor of the skew (smile) coefficients
    "iv_lookback": 252,  # snapshots in the IV rank / percentile window
    "iv_min_periods": 20,  # snapshots needed before rank / percentiles are given
    "iv_percentiles": (10, 25, 50, 75, 90),
}

_DAY_NS = 86_400 * 10**9
_MIN_SIGMA = 0.01  # floor of fitted smile σ used for Greeks (a parabola can dip below 0)


def options_feature_names(params: Mapping[str, Any] | None = None) -> list[str]:
    """Feature columns :func:`options_features` returns (besides ``ts``), in order."""
    p = {**DEFAULT_OPTIONS_PARAMS, **(params or {})}
    days, skew, look = list(p["term_days"]), p["skew_days"], p["iv_lookback"]
    return [
        *(f"atm_iv_{d}d" for d in days),
        f"iv_term_slope_{days[0]}_{days[-1]}",
        f"iv_skew_level_{skew}d",
        f"iv_skew_slope_{skew}d",
        f"iv_skew_curvature_{skew}d",
        f"iv_rank_{look}",
        f"iv_pctl_rank_{look}",
        *(f"iv_pctl_{q}_{look}" for q in p["iv_percentiles"]),
        "put_call_volume_ratio",
        "put_call_oi_ratio",
        "net_gamma_1pct",
        "net_delta_oi",
        "iv_solved_share",
    ]


def _checked(chains: pd.DataFrame) -> pd.DataFrame:
    """Contract validation (raises :class:`OptionChainError`) plus this module's own rules:
    one symbol, and every contract still alive at its snapshot."""
    frame = validate_option_chains(chains, source="option chain", sort=True)
    symbols = frame["symbol"].unique()
    if len(symbols) > 1:
        raise OptionChainError(
            f"option chain: holds {len(symbols)} symbols {list(symbols[:5])} (rule: one_symbol); "
            "call options_features once per symbol (e.g. chains.groupby('symbol'))",
            source="option chain",
            rule="one_symbol",
        )
    expired = np.flatnonzero((frame["expiry"] <= frame["ts"]).to_numpy())
    if expired.size:
        first = frame.iloc[expired[0]]
        raise OptionChainError(
            f"option chain: {expired.size} contracts expire at or before their snapshot "
            f"(rule: expiry_not_after_ts) at rows {expired[:10].tolist()}, e.g. expiry "
            f"{first['expiry']} <= ts {first['ts']}; they have no time value and no implied "
            "volatility: remove them (chains[chains.expiry > chains.ts]) before calling",
            source="option chain",
            rule="expiry_not_after_ts",
            rows=expired,
        )
    return frame


def options_features(chains: pd.DataFrame, params: Mapping[str, Any] | None = None) -> pd.DataFrame:
    """Options features of ONE symbol's chain snapshots (option-chain contract).

    Returns one row per snapshot, sorted by ``ts``: column ``ts`` then
    :func:`options_feature_names`. Invalid chains raise
    :class:`~signal_pipeline.data.validation.OptionChainError`.
    """
    p = {**DEFAULT_OPTIONS_PARAMS, **(params or {})}
    unknown = sorted(set(p) - set(DEFAULT_OPTIONS_PARAMS))
    if unknown or p["forward"] not in ("parity", "carry"):
        raise ValueError(
            f"options params: unknown keys {unknown} or forward={p['forward']!r}; known keys "
            f"are {sorted(DEFAULT_OPTIONS_PARAMS)} and forward is 'parity' or 'carry'"
        )
    names = options_feature_names(p)
    frame = _checked(chains)
    if frame.empty:
        return pd.DataFrame(
            {"ts": pd.Series([], dtype="datetime64[ns, UTC]"), **{n: [] for n in names}}
        )

    r, q = float(p["risk_free_rate"]), float(p["dividend_yield"])
    ts_ns = pd.DatetimeIndex(frame["ts"]).asi8
    expiry_ns = pd.DatetimeIndex(frame["expiry"]).asi8
    snapshots, snap_id = np.unique(ts_ns, return_inverse=True)
    # Slices = distinct (ts, expiry) pairs, numbered in (ts, expiry) order.
    order = np.lexsort((expiry_ns, ts_ns))
    ts_sorted, exp_sorted = ts_ns[order], expiry_ns[order]
    starts = np.r_[True, (np.diff(ts_sorted) != 0) | (np.diff(exp_sorted) != 0)]
    slice_id = np.empty(len(order), dtype=np.int64)
    slice_id[order] = np.cumsum(starts) - 1
    slice_keys = np.stack([ts_sorted[starts], exp_sorted[starts]], 1)
    n_slices = len(slice_keys)
    years = (expiry_ns - ts_ns) / (365.0 * _DAY_NS)
    strike = frame["strike"].to_numpy(float)
    spot = frame["underlying_price"].to_numpy(float)
    is_call = (frame["option_type"] == "C").to_numpy()
    bid, ask = frame["bid"].to_numpy(float), frame["ask"].to_numpy(float)
    mid = 0.5 * (bid + ask)
    quoted = bid > 0
    discount = np.exp(-r * years)

    carry = spot * np.exp((r - q) * years)
    forward = carry
    if p["forward"] == "parity":
        implied = parity_forwards(slice_id, strike, is_call, mid, quoted, discount, n_slices)[
            slice_id
        ]
        forward = np.where(np.isfinite(implied), implied, carry)
    otm = np.where(is_call, strike >= forward, strike < forward)
    use = otm & quoted
    iv = np.full(len(frame), np.nan)
    if use.any():
        iv[use] = solve_implied_volatility(
            mid[use], forward[use] * discount[use], strike[use], years[use], r, 0.0,
            np.where(is_call[use], "C", "P"),
        ).iv  # fmt: skip
    k = np.log(strike / forward) / np.sqrt(years)
    fit = fit_smiles(slice_id, k, iv, n_slices)
    atm = atm_vols(slice_id, k, iv, n_slices)

    out: dict[str, np.ndarray] = {}
    slice_snap = np.searchsorted(snapshots, slice_keys[:, 0])
    slice_years = (slice_keys[:, 1] - slice_keys[:, 0]) / (365.0 * _DAY_NS)
    term_days = np.asarray(p["term_days"], dtype=float)
    term = np.full((len(snapshots), term_days.size), np.nan)
    skew = np.full((len(snapshots), 3), np.nan)
    skew_t = np.array([p["skew_days"] / 365.0])
    for s in range(len(snapshots)):
        own = slice_snap == s
        term[s] = interpolate_atm_term(slice_years[own], atm[own], term_days / 365.0)
        for j, coef in enumerate(fit):
            skew[s, j] = interpolate_linear(slice_years[own], coef[own], skew_t)[0]
    for j, d in enumerate(p["term_days"]):
        out[f"atm_iv_{d}d"] = term[:, j]
    span = (term_days[-1] - term_days[0]) / 365.0
    out[f"iv_term_slope_{p['term_days'][0]}_{p['term_days'][-1]}"] = (
        term[:, -1] - term[:, 0]
    ) / span
    for j, part in enumerate(("level", "slope", "curvature")):
        out[f"iv_skew_{part}_{p['skew_days']}d"] = skew[:, j]

    anchor = 30 if 30 in p["term_days"] else p["term_days"][len(term_days) // 2]
    out.update(_iv_history_features(out[f"atm_iv_{anchor}d"], p))
    out.update(_flow_features(frame, snap_id, len(snapshots)))
    twin = _twin_iv(slice_id, strike, otm, iv)  # ITM contracts take their OTM twin's IV
    fitted = np.maximum(
        fit.level[slice_id] + fit.slope[slice_id] * k + fit.curvature[slice_id] * k**2, _MIN_SIGMA
    )
    sigma = np.where(np.isfinite(twin), twin, fitted)
    q_implied = r - np.log(forward / spot) / years  # the carry that reproduces F from spot
    out.update(_greek_features(frame, snap_id, len(snapshots), years, r, q_implied, sigma))
    solved = np.bincount(
        snap_id, weights=(otm & np.isfinite(iv)).astype(float), minlength=len(snapshots)
    )
    strikes = np.bincount(snap_id, weights=otm.astype(float), minlength=len(snapshots))
    out["iv_solved_share"] = np.where(strikes > 0, solved / np.maximum(strikes, 1), np.nan)

    result = pd.DataFrame({"ts": pd.to_datetime(snapshots, utc=True)})
    for name in names:
        result[name] = np.asarray(out[name], dtype=np.float64)
    return result


def _twin_iv(
    slice_id: np.ndarray, strike: np.ndarray, otm: np.ndarray, iv: np.ndarray
) -> np.ndarray:
    """Per contract: the IV solved at its (slice, strike), i.e. the OTM option's IV, which by
    put-call parity is the IV of the ITM option at the same strike too."""
    key = pd.MultiIndex.from_arrays([slice_id, strike])
    solved = pd.Series(iv[otm], index=key[otm])
    solved = solved[~solved.index.duplicated()]
    return solved.reindex(key).to_numpy()


def _iv_history_features(atm_iv: np.ndarray, p: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Rank and percentiles of ATM IV over the last ``iv_lookback`` snapshots (this one
    included), once ``iv_min_periods`` of them have a value."""
    look, min_periods = int(p["iv_lookback"]), int(p["iv_min_periods"])
    series = pd.Series(atm_iv)
    window = series.rolling(look, min_periods=min_periods)
    low, high = window.min().to_numpy(), window.max().to_numpy()
    with np.errstate(invalid="ignore", divide="ignore"):
        rank = np.where(high > low, (atm_iv - low) / (high - low), np.nan)

    def share_below(values: np.ndarray) -> float:
        current = values[-1]
        past = values[:-1][np.isfinite(values[:-1])]
        if not np.isfinite(current) or past.size == 0:
            return np.nan
        return float(np.mean(past < current))

    out = {
        f"iv_rank_{look}": rank,
        f"iv_pctl_rank_{look}": window.apply(share_below, raw=True).to_numpy(),
    }
    for pct in p["iv_percentiles"]:
        out[f"iv_pctl_{pct}_{look}"] = window.quantile(
            pct / 100.0, interpolation="linear"
        ).to_numpy()
    return out


def _flow_features(frame: pd.DataFrame, snap_id: np.ndarray, n: int) -> dict[str, np.ndarray]:
    """Put/call ratios over all strikes and expiries of a snapshot (NaN with no call side)."""
    is_put = (frame["option_type"] == "P").to_numpy()
    out = {}
    for name, column in (
        ("put_call_volume_ratio", "volume"),
        ("put_call_oi_ratio", "open_interest"),
    ):
        values = frame[column].to_numpy(float)
        puts = np.bincount(snap_id, weights=np.where(is_put, values, 0.0), minlength=n)
        calls = np.bincount(snap_id, weights=np.where(is_put, 0.0, values), minlength=n)
        with np.errstate(invalid="ignore", divide="ignore"):
            out[name] = np.where(calls > 0, puts / calls, np.nan)
    return out


def _greek_features(
    frame: pd.DataFrame,
    snap_id: np.ndarray,
    n: int,
    years: np.ndarray,
    r: float,
    q: np.ndarray,
    sigma: np.ndarray,
) -> dict[str, np.ndarray]:
    """Open-interest-weighted Greeks: ``net_gamma_1pct`` = Σ ±Γ·S·0.01·OI / ΣOI (calls +,
    puts −: the change in delta per contract for a 1 % move, net of puts), and
    ``net_delta_oi`` = Σ Δ·OI / ΣOI. Contracts without a σ are left out of both sums."""
    spot = frame["underlying_price"].to_numpy(float)
    greeks = bsm_greeks(
        spot, frame["strike"].to_numpy(float), years, r, sigma, q, frame["option_type"].to_numpy()
    )
    oi = frame["open_interest"].to_numpy(float)
    sign = np.where(frame["option_type"].to_numpy() == "C", 1.0, -1.0)
    known = np.isfinite(greeks["gamma"]) & np.isfinite(greeks["delta"])
    weight = np.where(known, oi, 0.0)
    total = np.bincount(snap_id, weights=weight, minlength=n)
    gamma = np.bincount(
        snap_id,
        weights=np.where(known, sign * greeks["gamma"] * spot * 0.01 * oi, 0.0),
        minlength=n,
    )
    delta = np.bincount(snap_id, weights=np.where(known, greeks["delta"] * oi, 0.0), minlength=n)
    with np.errstate(invalid="ignore", divide="ignore"):
        return {
            "net_gamma_1pct": np.where(total > 0, gamma / total, np.nan),
            "net_delta_oi": np.where(total > 0, delta / total, np.nan),
        }
