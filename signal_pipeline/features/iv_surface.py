"""Implied-volatility surface pieces: implied forwards, per-expiry smile fits, ATM volatility
and interpolation across expiries. numpy on flat per-contract arrays, the per-slice searches
compiled (numba; the same numbers as the pandas joins/groupbys they replaced, tested); a
"slice" is one (snapshot, expiry) pair, identified by an integer id.

Conventions:

- Moneyness ``k = ln(K/F)/√T`` (log-moneyness over the square root of time, so a smile with
  constant coefficients in k has the same shape in standard deviations at every expiry).
- The smile of a slice is the least-squares fit ``σ(k) = level + slope·k + curvature·k²``
  over all its strikes with an implied volatility (the spec's polynomial skew, all strikes).
- ATM volatility of a slice: linear interpolation of σ in k between the two strikes that
  bracket the forward (k = 0); the nearest strike's σ when all strikes are on one side.
- Across expiries, ATM volatility is interpolated linearly in total variance σ²T (which
  keeps the interpolated total variance between its neighbours, as no-calendar-arbitrage
  requires) and held flat in volatility outside the listed expiries.
"""

from __future__ import annotations

from typing import NamedTuple

import numpy as np
from numba import njit
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]


class SmileFit(NamedTuple):
    level: FloatArray  # σ at k = 0
    slope: FloatArray  # dσ/dk at k = 0 (negative = puts richer than calls)
    curvature: FloatArray  # coefficient of k² (positive = smile)


def parity_forwards(
    slice_id: IntArray,
    strike: FloatArray,
    is_call: NDArray[np.bool_],
    mid: FloatArray,
    quoted: NDArray[np.bool_],
    discount: FloatArray,
    n_slices: int,
    order: IntArray | None = None,
) -> FloatArray:
    """Forward of each slice from put-call parity, ``F = K + (C − P)/D`` at the strike where
    |C − P| is smallest among strikes with both a quoted call and put (the CBOE VIX white
    paper's choice: the strike nearest the money, where parity is least distorted by
    spreads). ``discount`` is e^{−rT} per contract. NaN for slices with no such pair.
    ``order``: the rows sorted by (slice, strike), rows of one key in row order (as
    ``np.lexsort((strike, slice_id))`` gives it; computed when not given)."""
    forwards = np.full(n_slices, np.nan)
    if len(slice_id):
        if order is None:
            order = np.lexsort((strike, slice_id))
        _parity_kernel(order, slice_id, strike, is_call, mid, quoted, discount, forwards)
    return forwards


@njit(cache=True)
def _parity_kernel(
    order: IntArray,
    slice_id: IntArray,
    strike: FloatArray,
    is_call: NDArray[np.bool_],
    mid: FloatArray,
    quoted: NDArray[np.bool_],
    discount: FloatArray,
    forwards: FloatArray,
) -> None:
    """For each (slice, strike) in ``order`` with a quoted call and put: its gap |C − P|;
    per slice, the forward at the smallest gap (the lowest strike on a tie)."""
    best = np.full(forwards.size, np.inf)
    n = order.size
    i = 0
    while i < n:
        first = order[i]
        sid, k = slice_id[first], strike[first]
        call, put = -1, -1
        while i < n and slice_id[order[i]] == sid and strike[order[i]] == k:
            row = order[i]
            if quoted[row]:
                if is_call[row]:
                    call = row if call < 0 else call
                elif put < 0:
                    put = row
            i += 1
        if call >= 0 and put >= 0:
            gap = abs(mid[call] - mid[put])
            if gap < best[sid]:
                best[sid] = gap
                forwards[sid] = k + (mid[call] - mid[put]) / discount[call]


def fit_smiles(slice_id: IntArray, k: FloatArray, iv: FloatArray, n_slices: int) -> SmileFit:
    """Least-squares quadratic ``σ = a0 + a1·k + a2·k²`` per slice via its 3×3 normal
    equations (one batched solve for all slices). Slices with fewer than 3 distinct strikes
    with a volatility, or an ill-conditioned design, get NaN."""
    ok = np.isfinite(iv) & np.isfinite(k)
    sid, kk, y = slice_id[ok], k[ok], iv[ok]

    def total(weights: FloatArray) -> FloatArray:
        return np.bincount(sid, weights=weights, minlength=n_slices)

    s = [total(kk**p) for p in range(5)]  # Σk^0 … Σk^4
    rhs = np.stack([total(y), total(kk * y), total(kk**2 * y)], axis=1)
    normal = np.stack(
        [
            np.stack([s[0], s[1], s[2]], 1),
            np.stack([s[1], s[2], s[3]], 1),
            np.stack([s[2], s[3], s[4]], 1),
        ],
        axis=1,
    )
    coef = np.full((n_slices, 3), np.nan)
    by_slice = np.lexsort((kk, sid))
    s_sorted, k_sorted = sid[by_slice], kk[by_slice]
    new_value = np.ones(s_sorted.size, dtype=bool)
    new_value[1:] = (s_sorted[1:] != s_sorted[:-1]) | (k_sorted[1:] != k_sorted[:-1])
    distinct = np.bincount(s_sorted[new_value], minlength=n_slices)  # distinct k per slice
    usable = distinct >= 3
    if usable.any():
        cond = np.linalg.cond(normal[usable])
        good = np.flatnonzero(usable)[cond < 1e12]
        if good.size:
            coef[good] = np.linalg.solve(normal[good], rhs[good][:, :, None])[:, :, 0]
    return SmileFit(coef[:, 0], coef[:, 1], coef[:, 2])


def atm_vols(slice_id: IntArray, k: FloatArray, iv: FloatArray, n_slices: int) -> FloatArray:
    """σ at k = 0 per slice by linear interpolation between the nearest strikes either side
    of the forward; the nearest strike's σ when every strike lies on one side."""
    k_lo, iv_lo = np.full(n_slices, np.nan), np.full(n_slices, np.nan)
    k_hi, iv_hi = np.full(n_slices, np.nan), np.full(n_slices, np.nan)
    _bracket_kernel(slice_id, k, iv, k_lo, iv_lo, k_hi, iv_hi)
    with np.errstate(invalid="ignore", divide="ignore"):
        weight = -k_lo / (k_hi - k_lo)
        both = iv_lo + weight * (iv_hi - iv_lo)
    return np.where(np.isnan(k_lo), iv_hi, np.where(np.isnan(k_hi), iv_lo, both))


@njit(cache=True)
def _bracket_kernel(
    slice_id: IntArray,
    k: FloatArray,
    iv: FloatArray,
    k_lo: FloatArray,
    iv_lo: FloatArray,
    k_hi: FloatArray,
    iv_hi: FloatArray,
) -> None:
    """Per slice, among strikes with finite k and σ: the largest k < 0 and the smallest
    k >= 0 with their σ (the first such row on a tie); NaN where a side has none."""
    for row in range(slice_id.size):
        x, vol = k[row], iv[row]
        if not (np.isfinite(x) and np.isfinite(vol)):
            continue
        sid = slice_id[row]
        if x < 0:
            if np.isnan(k_lo[sid]) or x > k_lo[sid]:
                k_lo[sid], iv_lo[sid] = x, vol
        elif np.isnan(k_hi[sid]) or x < k_hi[sid]:
            k_hi[sid], iv_hi[sid] = x, vol


def interpolate_atm_term(years: FloatArray, vol: FloatArray, targets: FloatArray) -> FloatArray:
    """ATM volatility at ``targets`` (years) from one snapshot's expiries: linear in total
    variance σ²T between the bracketing expiries, flat volatility outside them. NaN if no
    expiry has a volatility."""
    ok = np.isfinite(vol) & np.isfinite(years) & (years > 0)
    if not ok.any():
        return np.full(targets.shape, np.nan)
    order = np.argsort(years[ok], kind="stable")
    t, v = years[ok][order], vol[ok][order]
    w = v**2 * t
    inside = np.sqrt(np.interp(targets, t, w) / targets)
    return np.where(targets <= t[0], v[0], np.where(targets >= t[-1], v[-1], inside))


def interpolate_linear(years: FloatArray, values: FloatArray, targets: FloatArray) -> FloatArray:
    """Linear interpolation in time to expiry, flat outside the listed expiries (used for
    smile coefficients). NaN if no expiry has a value."""
    ok = np.isfinite(values) & np.isfinite(years)
    if not ok.any():
        return np.full(targets.shape, np.nan)
    order = np.argsort(years[ok], kind="stable")
    return np.interp(targets, years[ok][order], values[ok][order])
