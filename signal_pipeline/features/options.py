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

import itertools
from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from numba import njit

from signal_pipeline.data.contracts import OPTION_COLUMNS, UTC_DTYPE
from signal_pipeline.data.validation import OptionChainError, validate_option_chains
from signal_pipeline.features.greeks import signed_greeks, solve_implied_volatility
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


_FLOAT_COLUMNS = ("strike", "bid", "ask", "last", "volume", "open_interest", "underlying_price")


def _in_contract_form(chains: pd.DataFrame) -> bool:
    """True when ``chains`` already is what ``validate_option_chains(sort=True)`` returns
    (contract dtypes, no rule broken, rows strictly sorted by the key), so validating it
    would only copy it. A conservative test: anything it does not recognise (other dtypes,
    odd text, a NaN it cannot judge) goes through the full validation, which raises."""
    if any(c not in chains.columns for c in OPTION_COLUMNS):
        return False
    floats = [*_FLOAT_COLUMNS, *(["implied_volatility"] if "implied_volatility" in chains else [])]
    if any(chains[c].dtype != np.float64 for c in floats):
        return False
    if chains["ts"].dtype != UTC_DTYPE or chains["expiry"].dtype != UTC_DTYPE:
        return False
    if chains["symbol"].dtype != object or chains["option_type"].dtype != object:
        return False
    if len(chains) == 0:
        return True
    symbol = chains["symbol"].to_numpy()
    first = symbol[0]
    if type(first) is not str or not first or first.strip() != first:
        return False
    if not (symbol == first).all():
        return False  # several symbols (or odd values): the full path names the rule
    kind = chains["option_type"].to_numpy()
    is_put = kind == "P"
    if not ((kind == "C") | is_put).all():
        return False
    col = {c: chains[c].to_numpy() for c in floats}
    ts = chains["ts"].array.asi8
    expiry = chains["expiry"].array.asi8
    nat = np.iinfo(np.int64).min
    with np.errstate(invalid="ignore"):
        finite = np.isfinite(
            np.stack([col[c] for c in ("strike", "bid", "ask", "underlying_price")])
        )
        if not finite.all() or (ts == nat).any() or (expiry == nat).any():
            return False
        if (col["strike"] <= 0).any() or (col["ask"] <= 0).any():
            return False
        if (col["underlying_price"] <= 0).any() or (col["bid"] < 0).any():
            return False
        if (col["last"] < 0).any() or (col["bid"] > col["ask"]).any() or (expiry < ts).any():
            return False
        if any((col[c] < 0).any() for c in floats if c in ("volume", "open_interest",
                                                            "implied_volatility")):  # fmt: skip
            return False
    # Strictly increasing (ts, expiry, option_type, strike): sorted, no duplicate key.
    put = is_put.view(np.int8)
    strike = col["strike"]
    later = (
        (ts[1:] > ts[:-1])
        | ((ts[1:] == ts[:-1])
           & ((expiry[1:] > expiry[:-1])
              | ((expiry[1:] == expiry[:-1])
                 & ((put[1:] > put[:-1]) | ((put[1:] == put[:-1]) & (strike[1:] > strike[:-1]))))))
    )  # fmt: skip
    return bool(later.all())


def _checked(chains: pd.DataFrame) -> pd.DataFrame:
    """Contract validation (raises :class:`OptionChainError`) plus this module's own rules:
    one symbol, and every contract still alive at its snapshot. A chain already in
    contract form (the simulator's, the warehouse's) is used as it is."""
    if _in_contract_form(chains):
        frame = chains
    else:
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
    snapshots, out = options_arrays(chains, params)
    if snapshots.size == 0:
        return pd.DataFrame(
            {"ts": pd.Series([], dtype="datetime64[ns, UTC]"), **{n: [] for n in out}}
        )
    return pd.DataFrame({"ts": pd.to_datetime(snapshots, utc=True), **out})


def options_arrays(
    chains: pd.DataFrame, params: Mapping[str, Any] | None = None
) -> tuple[np.ndarray, dict[str, np.ndarray]]:
    """:func:`options_features` as arrays: the snapshot stamps (UTC nanoseconds, sorted)
    and each feature's float64 values per snapshot, in :func:`options_feature_names` order."""
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
        return np.empty(0, dtype=np.int64), {n: np.empty(0) for n in names}

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
    is_call = frame["option_type"].to_numpy() == "C"
    bid, ask = frame["bid"].to_numpy(float), frame["ask"].to_numpy(float)
    mid = 0.5 * (bid + ask)
    quoted = bid > 0
    discount = np.exp(-r * years)

    carry = spot * np.exp((r - q) * years)
    forward = carry
    by_strike = np.lexsort((strike, slice_id))  # rows grouped by (slice, strike)
    if p["forward"] == "parity":
        implied = parity_forwards(
            slice_id, strike, is_call, mid, quoted, discount, n_slices, order=by_strike
        )[slice_id]
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
    # Slices are numbered in (ts, expiry) order: each snapshot's slices are one run.
    bounds = np.searchsorted(slice_snap, np.arange(len(snapshots) + 1))
    term_years = term_days / 365.0
    for s, (lo, hi) in enumerate(itertools.pairwise(bounds)):
        own = slice(lo, hi)
        term[s] = interpolate_atm_term(slice_years[own], atm[own], term_years)
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
    out.update(_flow_features(frame, snap_id, len(snapshots), ~is_call))
    # ITM contracts take their OTM twin's IV
    twin = _twin_iv(slice_id, strike, otm, iv, order=by_strike)
    fitted = np.maximum(
        fit.level[slice_id] + fit.slope[slice_id] * k + fit.curvature[slice_id] * k**2, _MIN_SIGMA
    )
    sigma = np.where(np.isfinite(twin), twin, fitted)
    q_implied = r - np.log(forward / spot) / years  # the carry that reproduces F from spot
    out.update(_greek_features(frame, snap_id, len(snapshots), years, r, q_implied, sigma, is_call))
    solved = np.bincount(
        snap_id, weights=(otm & np.isfinite(iv)).astype(float), minlength=len(snapshots)
    )
    strikes = np.bincount(snap_id, weights=otm.astype(float), minlength=len(snapshots))
    out["iv_solved_share"] = np.where(strikes > 0, solved / np.maximum(strikes, 1), np.nan)

    return snapshots, {name: np.asarray(out[name], dtype=np.float64) for name in names}


def _twin_iv(
    slice_id: np.ndarray,
    strike: np.ndarray,
    otm: np.ndarray,
    iv: np.ndarray,
    order: np.ndarray | None = None,
) -> np.ndarray:
    """Per contract: the IV solved at its (slice, strike), i.e. the OTM option's IV, which by
    put-call parity is the IV of the ITM option at the same strike too. ``order``: the rows
    sorted by (slice, strike), rows of one key in row order (``np.lexsort((strike,
    slice_id))``, computed when not given)."""
    if order is None:
        order = np.lexsort((strike, slice_id))
    twin = np.full(len(slice_id), np.nan)
    _twin_kernel(order, slice_id, strike, otm, iv, twin)
    return twin


@njit(cache=True)
def _twin_kernel(
    order: np.ndarray,
    slice_id: np.ndarray,
    strike: np.ndarray,
    otm: np.ndarray,
    iv: np.ndarray,
    twin: np.ndarray,
) -> None:
    """Each (slice, strike) group's first OTM row's IV, for every row of the group."""
    n = order.size
    i = 0
    while i < n:
        start = i
        sid, k = slice_id[order[i]], strike[order[i]]
        value = np.nan
        found = False
        while i < n and slice_id[order[i]] == sid and strike[order[i]] == k:
            if not found and otm[order[i]]:
                value, found = iv[order[i]], True
            i += 1
        for j in range(start, i):
            twin[order[j]] = value


def _iv_history_features(atm_iv: np.ndarray, p: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Rank and percentiles of ATM IV over the last ``iv_lookback`` snapshots (this one
    included), once ``iv_min_periods`` of them have a value. The window statistics are
    those of ``Series.rolling(iv_lookback, min_periods=iv_min_periods)``: min, max and
    ``quantile(q, interpolation="linear")``, bit for bit (tested)."""
    look, min_periods = int(p["iv_lookback"]), int(p["iv_min_periods"])
    if look < 1 or not 0 <= min_periods <= look:
        raise ValueError(
            f"options params: iv_lookback={look} and iv_min_periods={min_periods}: need "
            "iv_lookback >= 1 and 0 <= iv_min_periods <= iv_lookback"
        )
    values = np.ascontiguousarray(atm_iv, dtype=np.float64)
    fractions = np.array([q / 100.0 for q in p["iv_percentiles"]], dtype=np.float64)
    low, high, quantiles = _rolling_order_stats(values, look, min_periods, fractions)
    with np.errstate(invalid="ignore", divide="ignore"):
        rank = np.where(high > low, (values - low) / (high - low), np.nan)

    out = {
        f"iv_rank_{look}": rank,
        f"iv_pctl_rank_{look}": _share_below(values, look, min_periods),
    }
    for j, pct in enumerate(p["iv_percentiles"]):
        out[f"iv_pctl_{pct}_{look}"] = quantiles[j]
    return out


@njit(cache=True)
def _rolling_order_stats(
    values: np.ndarray, look: int, min_periods: int, fractions: np.ndarray
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Rolling min, max and linear-interpolation quantiles over the last ``look`` values
    (NaN and ±inf skipped, as pandas' rolling windows skip them; NaN until the window holds ``min_periods`` values, at least one), with
    pandas' arithmetic: at position ``h = q·(m − 1)`` of the m sorted values, the value
    itself when h is whole, else ``lo + (hi − lo)·(h − ⌊h⌋)``. The window's values are
    kept sorted (binary-search insert and delete), O(look) a step."""
    n = values.size
    low = np.full(n, np.nan)
    high = np.full(n, np.nan)
    quantiles = np.full((fractions.size, n), np.nan)
    window = np.empty(look + 1)  # the new value goes in before the oldest leaves
    m = 0
    for i in range(n):
        x = values[i]
        if np.isfinite(x):
            at = np.searchsorted(window[:m], x)
            window[at + 1 : m + 1] = window[at:m].copy()
            window[at] = x
            m += 1
        if i >= look:
            old = values[i - look]
            if np.isfinite(old):
                at = np.searchsorted(window[:m], old)
                window[at : m - 1] = window[at + 1 : m].copy()
                m -= 1
        if m < max(min_periods, 1):
            continue
        low[i], high[i] = window[0], window[m - 1]
        for j in range(fractions.size):
            if m == 1:
                quantiles[j, i] = window[0]
                continue
            position = fractions[j] * (m - 1)
            k = int(position)
            if position == k:
                quantiles[j, i] = window[k]
            else:
                lo, hi = window[k], window[k + 1]
                quantiles[j, i] = lo + (hi - lo) * (position - k)
    return low, high, quantiles


@njit(cache=True)
def _share_below(values: np.ndarray, look: int, min_periods: int) -> np.ndarray:
    """Per snapshot: the share of the finite past values in its ``look``-long window (this
    one excluded) that are below its own value; NaN when its value is not finite, no past
    value is, or the window holds fewer than ``min_periods`` finite values (the rule of
    ``Series.rolling(look, min_periods).apply``)."""
    out = np.full(values.size, np.nan)
    for i in range(values.size):
        lo = max(0, i - look + 1)
        present = 0  # pandas' rolling windows count finite values only (inf is NaN there)
        for j in range(lo, i + 1):
            present += np.isfinite(values[j])
        current = values[i]
        if present < max(min_periods, 1) or not np.isfinite(current):
            continue
        past, below = 0, 0
        for j in range(lo, i):
            if np.isfinite(values[j]):
                past += 1
                below += values[j] < current
        if past:
            out[i] = below / past
    return out


def _flow_features(
    frame: pd.DataFrame, snap_id: np.ndarray, n: int, is_put: np.ndarray
) -> dict[str, np.ndarray]:
    """Put/call ratios over all strikes and expiries of a snapshot (NaN with no call side)."""
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
    is_call: np.ndarray,
) -> dict[str, np.ndarray]:
    """Open-interest-weighted Greeks: ``net_gamma_1pct`` = Σ ±Γ·S·0.01·OI / ΣOI (calls +,
    puts −: the change in delta per contract for a 1 % move, net of puts), and
    ``net_delta_oi`` = Σ Δ·OI / ΣOI. Contracts without a σ are left out of both sums."""
    spot = frame["underlying_price"].to_numpy(float)
    strike = frame["strike"].to_numpy(float)
    sign = np.where(is_call, 1.0, -1.0)
    args = np.broadcast_arrays(spot, strike, years, np.float64(r), q, sigma)
    S, K, T, rate, carry, vol = (np.array(a, dtype=np.float64) for a in args)
    greeks = signed_greeks(S, K, T, rate, carry, vol, sign, ("delta", "gamma"))
    oi = frame["open_interest"].to_numpy(float)
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
