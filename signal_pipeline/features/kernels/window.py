"""Streaming kernels of the finite-window indicators: moving windows (SMA, WMA, TRIMA,
MIDPOINT/MIDPRICE, linear regression, Bollinger bands, STDDEV, CORREL), oscillators
over the last ``period`` bars (WILLR, CCI, STOCH/STOCHF, AROON, MOM/ROC, MFI, APO/PPO,
ULTOSC), one-bar transforms (BOP, TRANGE, price transforms) and five candlestick
patterns.

Each kernel keeps a ring of its last inputs in the state vector (bar ``j`` of a ring,
counted from the kernel's first bar, sits in slot ``j % size``) and reproduces the
installed TA-Lib's (0.8.x) arithmetic for the new bar. Where TA-Lib keeps running sums
the kernel keeps the same sums, added to and subtracted from in TA-Lib's order, with
TA-Lib's rebuilds from the window (the shifted-sum variance of VAR/STDDEV/BBANDS/CORREL
and its reseed rules, WMA's rebuild every 8 * period bars and the linear regression's
every 32 * period, MFI's reset after a period of zero flows), so the degenerate cases
TA-Lib decides on those sums (a flat window whose variance is a rounding residue, a zero
range, no volume) come out the same. Zero tests follow TA-Lib: a fixed 1e-14 band (CCI,
PPO, ULTOSC) or one relative to the operands (STOCH/WILLR range, MFI price change).
Where TA-Lib rescans the window (highest/lowest, CCI, AROON) the kernel rescans its
ring. Started on TA-Lib's first bar, the outputs are bit-identical to the registry
columns on the test paths; realized_vol can differ in the last bits where NumPy's
vectorised ``log`` and libm's differ (~1e-14 relative).

State layouts are documented at each kernel; ``s[0]`` is always the number of bars seen.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from signal_pipeline.features.kernels import check_length as _length
from signal_pipeline.features.kernels import kernel
from signal_pipeline.features.kernels._arith import fma as _fma
from signal_pipeline.features.kernels._arith import true_range

NAN = np.nan
# TA-Lib's zero band (TA_EPSILON in ta_utility.h): TA_IS_ZERO(v) is |v| < EPS,
# TA_IS_ZERO_OR_NEG(v) is v < EPS.
_EPS = 1e-14


# ------------------------------------------------------------------ shared helpers
@njit(cache=True)
def _sma_push(s, b, p, x):
    """TA-Lib's SMA (running total: add the new value, divide, drop the oldest) on the
    sub-state ``s[b]`` = count, ``s[b+1]`` = total, ``s[b+2 : b+2+p]`` = ring.
    Returns the average, NaN during the first ``p - 1`` values."""
    i = int(s[b])
    s[b] = i + 1
    s[b + 2 + i % p] = x
    if i < p - 1:
        s[b + 1] += x
        return NAN
    total = s[b + 1] + x
    s[b + 1] = total - s[b + 2 + (i + 1) % p]
    return total / p


@njit(cache=True)
def _push(s, b, p, x):
    """Store ``x`` as bar ``s[0] - 1`` in the ring ``s[b : b+p]``."""
    s[b + (int(s[0]) - 1) % p] = x


@njit(cache=True)
def _ring_max(s, b, p):
    m = s[b]
    for k in range(1, p):
        if s[b + k] > m:
            m = s[b + k]
    return m


@njit(cache=True)
def _ring_min(s, b, p):
    m = s[b]
    for k in range(1, p):
        if s[b + k] < m:
            m = s[b + k]
    return m


@njit(cache=True)
def _dist(level, c):
    return 100.0 * (c - level) / c


# --------------------------------------------------------------------------- SMA
# State: [n, period, count, total, ring(period)] (the SMA sub-state starts at 2).
@njit(cache=True)
def _sma_step(s, o, h, l, c, v, out, at):  # noqa: E741
    s[0] += 1.0
    m = _sma_push(s, 2, int(s[1]), c)
    out[at] = NAN if math.isnan(m) else _dist(m, c)


@kernel("sma")
def _sma(period: int):
    p = _length("sma", "period", period)
    return _sma_step, [0.0, float(p), 0.0, 0.0] + [0.0] * p, 1


# volume / SMA(volume), 1 where the average is 0. Same layout as SMA.
@njit(cache=True)
def _volume_ratio_step(s, o, h, l, c, v, out, at):  # noqa: E741
    s[0] += 1.0
    m = _sma_push(s, 2, int(s[1]), v)
    if math.isnan(m):
        out[at] = NAN
    else:
        out[at] = v / m if m != 0.0 else 1.0


@kernel("volume_ratio")
def _volume_ratio(period: int):
    p = _length("volume_ratio", "period", period)
    return _volume_ratio_step, [0.0, float(p), 0.0, 0.0] + [0.0] * p, 1


# --------------------------------------------------------------------------- WMA
# TA-Lib WMA: a running weighted sum and a running plain sum (the weighted sum drops the
# plain sum each bar, shifting every weight down by one), rebuilt from the window every
# 8 * period bars. State: [n, period, plain sum, weighted sum, trailing value, bars to
# the rebuild, ring(period)].
@njit(cache=True)
def _wma_step(s, o, h, l, c, v, out, at):  # noqa: E741
    i = int(s[0])
    s[0] = i + 1
    p = int(s[1])
    r = 6
    s[r + i % p] = c
    if i < p - 1:
        s[2] += c
        s[3] += c * float(i + 1)
        out[at] = NAN
        return
    if i == p - 1:
        s[5] = 8.0 * p
    s[2] += c
    s[2] -= s[4]
    s[3] += c * float(p)
    s[5] -= 1.0
    if s[5] <= 0.0:
        s[5] = 8.0 * p
        sub = 0.0
        total = 0.0
        for k in range(p):  # oldest first, weights 1..p
            x = s[r + (i + 1 + k) % p]
            sub += x
            total += x * float(k + 1)
        s[2] = sub
        s[3] = total
    s[4] = s[r + (i + 1) % p]
    w = s[3] / (float(p) * (p + 1) / 2.0)
    s[3] -= s[2]
    out[at] = _dist(w, c)


@kernel("wma")
def _wma(period: int):
    p = _length("wma", "period", period)
    return _wma_step, [0.0, float(p), 0.0, 0.0, 0.0, 0.0] + [0.0] * p, 1


# ------------------------------------------------------------------------- TRIMA
# Triangular weights 1, 2, ..., 2, 1 (odd period: one peak weight of (p+1)/2; even: two
# of p/2), as TA-Lib slides them: the numerator moves by the sum of the older part of the
# window (the first (p+1)//2 bars; it loses one weight each) and the newer part (gains
# one), each part a running sum; the bar at the boundary moves from the newer part to the
# older. State: [n, period, numerator, older-part sum, newer-part sum, trailing value,
# ring(period)].
@njit(cache=True)
def _trima_step(s, o, h, l, c, v, out, at):  # noqa: E741
    i = int(s[0])
    s[0] = i + 1
    p = int(s[1])
    r = 6
    s[r + i % p] = c
    if i < p - 1:
        out[at] = NAN
        return
    half = p >> 1
    odd = p % 2 == 1
    older = half + 1 if odd else half  # bars in the older part
    if i == p - 1:
        num = 0.0
        sub = 0.0
        for j in range(older - 1, -1, -1):  # newest of the older part first
            sub += s[r + j]
            num += sub
        add = 0.0
        for j in range(older, p):
            add += s[r + j]
            num += add
        s[3] = sub
        s[4] = add
    else:
        num = s[2] - s[3]
        mid = s[r + (i + older) % p]  # moves from the newer part to the older
        s[3] = s[3] - s[5] + mid
        if odd:
            num += s[4]
            s[4] -= mid
        else:
            s[4] -= mid
            num += s[4]
        s[4] += c
        num += c
    s[2] = num
    s[5] = s[r + (i + 1) % p]
    factor = 1.0 / (float(half + 1) * (half + 1) if odd else float(half) * (half + 1))
    out[at] = _dist(num * factor, c)


@kernel("trima")
def _trima(period: int):
    p = _length("trima", "period", period)
    return _trima_step, [0.0, float(p), 0.0, 0.0, 0.0, 0.0] + [0.0] * p, 1


# ------------------------------------------------------------- MIDPOINT / MIDPRICE
# State: [n, period, ring(period)].
@njit(cache=True)
def _midpoint_step(s, o, h, l, c, v, out, at):  # noqa: E741
    s[0] += 1.0
    p = int(s[1])
    _push(s, 2, p, c)
    if s[0] < p:
        out[at] = NAN
        return
    out[at] = _dist((_ring_max(s, 2, p) + _ring_min(s, 2, p)) / 2.0, c)


@kernel("midpoint")
def _midpoint(period: int):
    p = _length("midpoint", "period", period)
    return _midpoint_step, [0.0, float(p)] + [0.0] * p, 1


# State: [n, period, highs(period), lows(period)].
@njit(cache=True)
def _midprice_step(s, o, h, l, c, v, out, at):  # noqa: E741
    s[0] += 1.0
    p = int(s[1])
    _push(s, 2, p, h)
    _push(s, 2 + p, p, l)
    if s[0] < p:
        out[at] = NAN
        return
    out[at] = _dist((_ring_max(s, 2, p) + _ring_min(s, 2 + p, p)) / 2.0, c)


@kernel("midprice")
def _midprice(period: int):
    p = _length("midprice", "period", period)
    return _midprice_step, [0.0, float(p)] + [0.0] * (2 * p), 1


# ------------------------------------------------------------- linear regression
@njit(cache=True)
def _linreg_prime(s, r, p, i):
    """Fresh window sums for the window ending at bar ``i``: sum of y and of x * y with
    x = bars back from the newest (p-1 for the oldest .. 0), oldest first."""
    sum_xy = 0.0
    sum_y = 0.0
    for k in range(p - 1, -1, -1):
        y = s[r + (i - k) % p]
        sum_y += y
        sum_xy += float(k) * y
    s[3] = sum_xy
    s[4] = sum_y


# TA-Lib slides the two window sums (each retained value's weight rises by one: add the
# plain sum, drop the departing value at full weight) and rebuilds them from the window
# every 32 * period bars (its rebuild when a large outlier leaves the window is not
# reproduced: it changes only rounding). ``kind``: 0 LINEARREG (end value), 1 slope, 2 intercept, 3 TSF.
# State: [n, period, kind, sum x*y, sum y, trailing value, bars to the rebuild,
# ring(period)].
@njit(cache=True)
def _linreg_step(s, o, h, l, c, v, out, at):  # noqa: E741
    i = int(s[0])
    s[0] = i + 1
    p = int(s[1])
    r = 7
    s[r + i % p] = c
    if i < p - 1:
        out[at] = NAN
        return
    fp = float(p)
    if i == p - 1:
        _linreg_prime(s, r, p, i)
        s[6] = 32.0 * p
    else:
        s[3] = s[3] + s[4] - fp * s[5]
        s[4] = s[4] - s[5] + c
        s[6] -= 1.0
        if s[6] <= 0.0:
            s[6] = 32.0 * p
            _linreg_prime(s, r, p, i)
    s[5] = s[r + (i + 1) % p]
    sum_x = fp * (p - 1) * 0.5
    sum_x2 = fp * (p - 1) * (2 * p - 1) / 6.0
    divisor = sum_x * sum_x - fp * sum_x2
    m = (fp * s[3] - sum_x * s[4]) / divisor
    b = (s[4] - m * sum_x) / fp
    kind = int(s[2])
    if kind == 1:
        out[at] = 100.0 * m / c
    elif kind == 2:
        out[at] = _dist(b, c)
    elif kind == 3:
        out[at] = _dist(_fma(m, fp, b), c)
    else:
        out[at] = _dist(_fma(m, fp - 1.0, b), c)


def _linreg_factory(name: str, kind: int):
    def factory(period: int):
        p = _length(name, "period", period)
        return _linreg_step, [0.0, float(p), float(kind), 0.0, 0.0, 0.0, 0.0] + [0.0] * p, 1

    kernel(name)(factory)


_linreg_factory("linearreg", 0)
_linreg_factory("linearreg_slope", 1)
_linreg_factory("linearreg_intercept", 2)
_linreg_factory("tsf", 3)


# ------------------------------------------------- shifted-sum variance (TA_VAR)
# TA-Lib's VAR (and STDDEV, BBANDS, CORREL) keeps running sums of the inputs' deviations
# from a shift (first the window's first value, later the window mean) and rebuilds them
# with a fresh two-pass over the window (a "reseed") when the variance has shrunk below
# 1e-6 of the mean squared deviation, when the value leaving the window dwarfs the rest,
# or every 32 windows. A reseeded variance below 1e-12 of its mean square is 0.
_RESEED_BARS = 32


@njit(cache=True)
def _var_push(s, b, p, x):
    """TA-Lib's variance on the sub-state ``s[b]`` = count, ``s[b+1]`` = shift,
    ``s[b+2]`` = sum of deviations, ``s[b+3]`` = sum of squared deviations,
    ``s[b+4]`` = windows until the next reseed, ``s[b+5 : b+5+p]`` = ring.
    Returns the variance, NaN during the first ``p - 1`` values."""
    j = int(s[b])
    s[b] = j + 1
    r = b + 5
    s[r + j % p] = x
    if j == 0:
        s[b + 1] = x
    if j < p - 1:
        d = x - s[b + 1]
        s[b + 2] += d
        s[b + 3] += d * d
        return NAN
    if j == p - 1:
        s[b + 4] = _RESEED_BARS * p
    inv = 1.0 / p
    shift = s[b + 1]
    d = x - shift
    t1 = s[b + 2] + d
    t2 = s[b + 3] + d * d
    mean = t1 * inv
    var = t2 * inv - mean * mean
    oldest = s[r + (j + 1) % p]
    d = oldest - shift
    t1 -= d
    d *= d
    t2 -= d
    s[b + 4] -= 1.0
    if var < 0.000001 * (t2 * inv) or d > 1000000.0 * t2 or s[b + 4] <= 0.0:
        s[b + 4] = _RESEED_BARS * p
        total = 0.0
        for k in range(p):
            total += s[r + (j + 1 + k) % p]
        shift = total * inv
        t1 = 0.0
        t2 = 0.0
        for k in range(p):
            d = s[r + (j + 1 + k) % p] - shift
            t1 += d
            t2 += d * d
        mean = t1 * inv
        var = t2 * inv - mean * mean
        if var < 0.000000000001 * (t2 * inv):
            var = 0.0
        d = oldest - shift
        t1 -= d
        t2 -= d * d
        s[b + 1] = shift
    s[b + 2] = t1
    s[b + 3] = t2
    return var


_VAR_STATE = 5  # sub-state size before the ring


# ------------------------------------------------------------------------ BBANDS
# SMA middle band (running total) and the standard deviation of the same window (TA_VAR
# above); %B = (close - lower) / (upper - lower), 0.5 for zero-width bands; width in %
# of the middle band. State: [n, period, nbdev, SMA (2 + period), VAR (5 + period)].
@njit(cache=True)
def _bbands_step(s, o, h, l, c, v, out, at):  # noqa: E741
    s[0] += 1.0
    p = int(s[1])
    mid = _sma_push(s, 3, p, c)
    var = _var_push(s, 5 + p, p, c)
    if math.isnan(mid):
        out[at] = NAN
        out[at + 1] = NAN
        return
    dev = (math.sqrt(var) if var != 0.0 else 0.0) * s[2]
    upper = mid + dev
    lower = mid - dev
    width = upper - lower
    out[at] = (c - lower) / width if width != 0.0 else 0.5
    out[at + 1] = 100.0 * width / mid


@kernel("bbands")
def _bbands(period: int, nbdev: float):
    p = _length("bbands", "period", period)
    if not isinstance(nbdev, int | float) or isinstance(nbdev, bool) or not nbdev > 0:
        raise ValueError(f"bbands kernel: nbdev must be a number > 0, got {nbdev!r}")
    return _bbands_step, [0.0, float(p), float(nbdev)] + [0.0] * (2 + _VAR_STATE + 2 * p), 2


# ------------------------------------------------------------------------ STDDEV
# State: [n, period, VAR (5 + period)].
@njit(cache=True)
def _stddev_step(s, o, h, l, c, v, out, at):  # noqa: E741
    s[0] += 1.0
    var = _var_push(s, 2, int(s[1]), c)
    out[at] = NAN if math.isnan(var) else 100.0 * math.sqrt(var) / c


@kernel("stddev")
def _stddev(period: int):
    p = _length("stddev", "period", period)
    return _stddev_step, [0.0, float(p)] + [0.0] * (_VAR_STATE + p), 1


# Population std of 100 * ln(c_t / c_{t-1}); the first bar has no return.
# State: [n, period, previous close, VAR (5 + period)].
@njit(cache=True)
def _realized_vol_step(s, o, h, l, c, v, out, at):  # noqa: E741
    s[0] += 1.0
    prev = s[2]
    s[2] = c
    if s[0] == 1.0:
        out[at] = NAN
        return
    var = _var_push(s, 3, int(s[1]), 100.0 * (math.log(c) - math.log(prev)))
    out[at] = NAN if math.isnan(var) else math.sqrt(var)


@kernel("realized_vol")
def _realized_vol(period: int):
    p = _length("realized_vol", "period", period)
    return _realized_vol_step, [0.0, float(p), 0.0] + [0.0] * (_VAR_STATE + p), 1


# ------------------------------------------------------------------------ CORREL
# Pearson correlation of close (x) and volume (y) from shifted running sums with TA_VAR's
# reseed rules (either sum of squares below 1e-6 of its raw sum, a leaving squared
# deviation over 1e6 times the sum, or every 32 windows); 0 when either sum of squares
# is within 1e-14 of its raw sum, clamped to [-1, 1].
# State: [n, period, shift x, shift y, sx, sy, sxx, syy, sxy, leaving x^2, leaving y^2,
# windows to reseed, closes(period), volumes(period)].
@njit(cache=True)
def _correl_step(s, o, h, l, c, v, out, at):  # noqa: E741
    i = int(s[0])
    s[0] = i + 1
    p = int(s[1])
    rx = 12
    ry = 12 + p
    s[rx + i % p] = c
    s[ry + i % p] = v
    if i == 0:
        s[2] = c
        s[3] = v
    x = c - s[2]
    y = v - s[3]
    s[4] += x
    s[6] += x * x
    s[8] += x * y
    s[5] += y
    s[7] += y * y
    if i < p - 1:
        out[at] = NAN
        return
    if i == p - 1:
        s[11] = _RESEED_BARS * p
    inv = 1.0 / p
    ssx = s[6] - ((s[4] * s[4]) * inv)
    ssy = s[7] - ((s[5] * s[5]) * inv)
    spxy = s[8] - ((s[4] * s[5]) * inv)
    s[11] -= 1.0
    if (
        ssx < 0.000001 * s[6]
        or ssy < 0.000001 * s[7]
        or s[9] > 1000000.0 * s[6]
        or s[10] > 1000000.0 * s[7]
        or s[11] <= 0.0
    ):
        s[11] = _RESEED_BARS * p
        tx = 0.0
        ty = 0.0
        for k in range(p):
            tx += s[rx + (i + 1 + k) % p]
            ty += s[ry + (i + 1 + k) % p]
        s[2] = tx * inv
        s[3] = ty * inv
        sx = 0.0
        sy = 0.0
        sxx = 0.0
        syy = 0.0
        sxy = 0.0
        for k in range(p):
            x = s[rx + (i + 1 + k) % p] - s[2]
            sx += x
            sxx += x * x
            y = s[ry + (i + 1 + k) % p] - s[3]
            sxy += x * y
            sy += y
            syy += y * y
        s[4] = sx
        s[5] = sy
        s[6] = sxx
        s[7] = syy
        s[8] = sxy
        ssx = sxx - ((sx * sx) * inv)
        ssy = syy - ((sy * sy) * inv)
        spxy = sxy - ((sx * sy) * inv)
        if ssx < 0.0:
            ssx = 0.0
        if ssy < 0.0:
            ssy = 0.0
    tx = s[rx + (i + 1) % p] - s[2]
    ty = s[ry + (i + 1) % p] - s[3]
    if ssx > 0.00000000000001 * s[6] and ssy > 0.00000000000001 * s[7]:
        r = spxy / math.sqrt(ssx * ssy)
        out[at] = 1.0 if r > 1.0 else (-1.0 if r < -1.0 else r)
    else:
        out[at] = 0.0
    s[9] = tx * tx
    s[10] = ty * ty
    s[4] -= tx
    s[6] -= s[9]
    s[8] -= tx * ty
    s[5] -= ty
    s[7] -= s[10]


@kernel("correl")
def _correl(period: int):
    p = _length("correl", "period", period)
    return _correl_step, [0.0, float(p)] + [0.0] * (10 + 2 * p), 1


# ----------------------------------------------------------------- WILLR / STOCH(F)
@njit(cache=True)
def _flat(rng, hi, lo):
    """TA-Lib's scale-relative zero test of a window's range (TA_IS_ZERO_SCALED)."""
    return abs(rng) <= _EPS * (abs(hi) + abs(lo))


# %R = (highest - close) / (highest - lowest) * -100, 0 for a flat window.
# State: [n, period, highs(period), lows(period)].
@njit(cache=True)
def _willr_step(s, o, h, l, c, v, out, at):  # noqa: E741
    s[0] += 1.0
    p = int(s[1])
    _push(s, 2, p, h)
    _push(s, 2 + p, p, l)
    if s[0] < p:
        out[at] = NAN
        return
    hi = _ring_max(s, 2, p)
    lo = _ring_min(s, 2 + p, p)
    rng = hi - lo
    out[at] = 0.0 if _flat(rng, hi, lo) else (hi - c) / rng * -100.0


@kernel("willr")
def _willr(period: int):
    p = _length("willr", "period", period)
    return _willr_step, [0.0, float(p)] + [0.0] * (2 * p), 1


@njit(cache=True)
def _fast_k(s, p, h, l, c):  # noqa: E741
    """Fast %K over the high/low rings at ``s[3 : 3+2p]``; NaN before ``p`` bars."""
    _push(s, 3, p, h)
    _push(s, 3 + p, p, l)
    if s[0] < p:
        return NAN
    hi = _ring_max(s, 3, p)
    lo = _ring_min(s, 3 + p, p)
    rng = hi - lo
    return 0.0 if _flat(rng, hi, lo) else (c - lo) / rng * 100.0


# Slow stochastic: SMA(d) of fast %K, and SMA(d) of that.
# State: [n, k_period, d_period, highs(k), lows(k), SMA sub-state of %K (2 + d),
# SMA sub-state of slow %K (2 + d)].
@njit(cache=True)
def _stoch_step(s, o, h, l, c, v, out, at):  # noqa: E741
    s[0] += 1.0
    p = int(s[1])
    d = int(s[2])
    fk = _fast_k(s, p, h, l, c)
    out[at] = NAN
    out[at + 1] = NAN
    if math.isnan(fk):
        return
    b1 = 3 + 2 * p
    sk = _sma_push(s, b1, d, fk)
    if math.isnan(sk):
        return
    sd = _sma_push(s, b1 + 2 + d, d, sk)
    if math.isnan(sd):
        return
    out[at] = sk
    out[at + 1] = sd


@kernel("stoch")
def _stoch(k_period: int, d_period: int):
    p = _length("stoch", "k_period", k_period)
    d = _length("stoch", "d_period", d_period)
    return _stoch_step, [0.0, float(p), float(d)] + [0.0] * (2 * p + 2 * (2 + d)), 2


# Fast stochastic: %K and SMA(d) of it. State: [n, k_period, d_period, highs(k),
# lows(k), SMA sub-state of %K (2 + d)].
@njit(cache=True)
def _stochf_step(s, o, h, l, c, v, out, at):  # noqa: E741
    s[0] += 1.0
    p = int(s[1])
    d = int(s[2])
    fk = _fast_k(s, p, h, l, c)
    out[at] = NAN
    out[at + 1] = NAN
    if math.isnan(fk):
        return
    fd = _sma_push(s, 3 + 2 * p, d, fk)
    if math.isnan(fd):
        return
    out[at] = fk
    out[at + 1] = fd


@kernel("stochf")
def _stochf(k_period: int, d_period: int):
    p = _length("stochf", "k_period", k_period)
    d = _length("stochf", "d_period", d_period)
    return _stochf_step, [0.0, float(p), float(d)] + [0.0] * (2 * p + 2 + d), 2


# -------------------------------------------------------------------------- AROON
# Window of period + 1 bars; the newest bar holding the extreme wins ties (TA-Lib scans
# with >= / <=). ``kind`` 0: [up, down]; 1: oscillator up - down.
# State: [n, period, kind, highs(period+1), lows(period+1)].
@njit(cache=True)
def _aroon_step(s, o, h, l, c, v, out, at):  # noqa: E741
    i = int(s[0])
    s[0] = i + 1
    p = int(s[1])
    w = p + 1
    s[3 + i % w] = h
    s[3 + w + i % w] = l
    if i < p:
        out[at] = NAN
        if s[2] == 0.0:
            out[at + 1] = NAN
        return
    hi = -np.inf
    lo = np.inf
    hi_age = 0
    lo_age = 0
    for age in range(p, -1, -1):  # oldest first
        slot = (i - age) % w
        x = s[3 + slot]
        if x >= hi:
            hi = x
            hi_age = age
        y = s[3 + w + slot]
        if y <= lo:
            lo = y
            lo_age = age
    factor = 100.0 / p
    if s[2] == 0.0:
        out[at] = factor * (p - hi_age)
        out[at + 1] = factor * (p - lo_age)
    else:
        out[at] = factor * (lo_age - hi_age)


@kernel("aroon")
def _aroon(period: int):
    p = _length("aroon", "period", period)
    return _aroon_step, [0.0, float(p), 0.0] + [0.0] * (2 * (p + 1)), 2


@kernel("aroonosc")
def _aroonosc(period: int):
    p = _length("aroonosc", "period", period)
    return _aroon_step, [0.0, float(p), 1.0] + [0.0] * (2 * (p + 1)), 1


# ---------------------------------------------------------------------------- CCI
# TA-Lib recomputes the mean and mean deviation of the typical price from its circular
# buffer (summed in buffer-slot order) on every bar; 0 when either term is in the zero
# band.
# State: [n, period, ring(period)].
@njit(cache=True)
def _cci_step(s, o, h, l, c, v, out, at):  # noqa: E741
    i = int(s[0])
    s[0] = i + 1
    p = int(s[1])
    tp = (h + l + c) / 3.0
    s[2 + i % p] = tp
    if i < p - 1:
        out[at] = NAN
        return
    avg = 0.0
    for k in range(p):
        avg += s[2 + k]
    avg /= p
    dev = 0.0
    for k in range(p):
        dev += abs(s[2 + k] - avg)
    diff = tp - avg
    if abs(diff) >= _EPS and abs(dev) >= _EPS:
        out[at] = diff / (0.015 * (dev / p))
    else:
        out[at] = 0.0


@kernel("cci")
def _cci(period: int):
    p = _length("cci", "period", period)
    return _cci_step, [0.0, float(p)] + [0.0] * p, 1


# ------------------------------------------------------------------- MOM / ROC
# ``kind`` 0: momentum % of close; 1: rate of change in percent.
# State: [n, period, kind, ring(period + 1)].
@njit(cache=True)
def _lag_step(s, o, h, l, c, v, out, at):  # noqa: E741
    i = int(s[0])
    s[0] = i + 1
    p = int(s[1])
    w = p + 1
    s[3 + i % w] = c
    if i < p:
        out[at] = NAN
        return
    prev = s[3 + (i - p) % w]
    if s[2] == 0.0:
        out[at] = 100.0 * (c - prev) / c
    else:
        out[at] = (c / prev - 1.0) * 100.0 if prev != 0.0 else 0.0


@kernel("mom")
def _mom(period: int):
    p = _length("mom", "period", period, 1)
    return _lag_step, [0.0, float(p), 0.0] + [0.0] * (p + 1), 1


@kernel("roc")
def _roc(period: int):
    p = _length("roc", "period", period, 1)
    return _lag_step, [0.0, float(p), 1.0] + [0.0] * (p + 1), 1


# ---------------------------------------------------------------------- BOP, TRANGE
@njit(cache=True)
def _bop_step(s, o, h, l, c, v, out, at):  # noqa: E741
    s[0] += 1.0
    rng = h - l
    out[at] = 0.0 if rng <= 0.0 else (c - o) / rng


@kernel("bop")
def _bop():
    return _bop_step, [0.0], 1


# True range % of close. State: [n, previous close].
@njit(cache=True)
def _trange_step(s, o, h, l, c, v, out, at):  # noqa: E741
    s[0] += 1.0
    prev = s[1]
    s[1] = c
    if s[0] == 1.0:
        out[at] = NAN
        return
    tr = true_range(h, l, prev)
    out[at] = 100.0 * tr / c


@kernel("trange")
def _trange():
    return _trange_step, [0.0, 0.0], 1


# ---------------------------------------------------------------- price transforms
# ``kind`` 0 AVGPRICE, 1 MEDPRICE, 2 TYPPRICE, 3 WCLPRICE. State: [n, kind].
@njit(cache=True)
def _price_step(s, o, h, l, c, v, out, at):  # noqa: E741
    s[0] += 1.0
    kind = s[1]
    if kind == 0.0:
        level = (h + l + c + o) / 4.0
    elif kind == 1.0:
        level = (h + l) / 2.0
    elif kind == 2.0:
        level = (h + l + c) / 3.0
    else:
        level = (h + l + c * 2.0) / 4.0
    out[at] = _dist(level, c)


def _price_factory(name: str, kind: int):
    def factory():
        return _price_step, [0.0, float(kind)], 1

    kernel(name)(factory)


_price_factory("avgprice", 0)
_price_factory("medprice", 1)
_price_factory("typprice", 2)
_price_factory("wclprice", 3)


# ---------------------------------------------------------------------------- MFI
# Money flow index from running sums of positive and negative money flow, as TA-Lib
# keeps them (drop the flow leaving the window, add the new one). A typical-price change
# within 1e-14 of the two prices' magnitude is no move (flow 0); after a full period of
# zero flows both sums are reset to exactly 0; 0 when the total flow is <= 0.
# State: [n, period, previous typical price, positive sum, negative sum, zero-flow run,
# positive flows(period), negative flows(period)].
@njit(cache=True)
def _mfi_step(s, o, h, l, c, v, out, at):  # noqa: E741
    i = int(s[0])
    s[0] = i + 1
    p = int(s[1])
    tp = (h + l + c) / 3.0
    prev = s[2]
    s[2] = tp
    if i == 0:
        out[at] = NAN
        return
    j = i - 1  # index of this flow
    pos = 6 + j % p
    neg = pos + p
    if j >= p:
        s[3] -= s[pos]
        s[4] -= s[neg]
    diff = tp - prev
    flow = 0.0 if abs(diff) <= _EPS * (abs(tp) + abs(prev)) else tp * v
    s[pos] = 0.0 if diff < 0.0 else flow
    s[neg] = flow if diff < 0.0 else 0.0
    s[3] += s[pos]
    s[4] += s[neg]
    s[5] = s[5] + 1.0 if flow == 0.0 else 0.0
    if s[5] >= p:
        s[5] = p
        s[3] = 0.0
        s[4] = 0.0
    if j < p - 1:
        out[at] = NAN
        return
    total = s[3] + s[4]
    if total <= 0.0:
        out[at] = 0.0
    else:
        pos_sum = 0.0 if s[3] < 0.0 else min(s[3], total)
        out[at] = 100.0 * (pos_sum / total)


@kernel("mfi")
def _mfi(period: int):
    p = _length("mfi", "period", period)
    return _mfi_step, [0.0, float(p), 0.0, 0.0, 0.0, 0.0] + [0.0] * (2 * p), 1


# --------------------------------------------------------------------- APO / PPO
# Two SMAs with their own running totals from the first bar. ``kind`` 0: APO % of
# close; 1: PPO (0 for a slow average within TA-Lib's zero band, or over a window of
# exact zeros). State: [n, kind, fast, slow, fast SMA (2 + fast), slow SMA (2 + slow),
# run of zero closes].
@njit(cache=True)
def _po_step(s, o, h, l, c, v, out, at):  # noqa: E741
    s[0] += 1.0
    fast = int(s[2])
    slow = int(s[3])
    zero_run = min(s[8 + fast + slow] + 1.0, slow) if c == 0.0 else 0.0
    s[8 + fast + slow] = zero_run
    f = _sma_push(s, 4, fast, c)
    sl = _sma_push(s, 6 + fast, slow, c)
    if math.isnan(sl):
        out[at] = NAN
        return
    if s[1] == 0.0:
        out[at] = 100.0 * (f - sl) / c
    elif zero_run >= slow:  # a window of exact zeros: 0, not its running-sum residue
        out[at] = 0.0
    else:
        out[at] = ((f - sl) / sl) * 100.0 if abs(sl) >= _EPS else 0.0


def _po_factory(name: str, kind: int):
    def factory(fast: int, slow: int):
        f = _length(name, "fast", fast)
        sl = _length(name, "slow", slow)
        if sl < f:  # TA-Lib swaps them
            f, sl = sl, f
        return _po_step, [0.0, float(kind), float(f), float(sl)] + [0.0] * (5 + f + sl), 1

    kernel(name)(factory)


_po_factory("apo", 0)
_po_factory("ppo", 1)


# ------------------------------------------------------------------------- ULTOSC
# Williams' ultimate oscillator: for each of the three periods (sorted, the shortest
# weighted 4, then 2, then 1) running sums of close - true low and of true range.
# State: [n, p1, p2, p3, previous close, a1, b1, a2, b2, a3, b3,
#         buying pressure ring(p3), true range ring(p3)].
@njit(cache=True)
def _ultosc_step(s, o, h, l, c, v, out, at):  # noqa: E741
    i = int(s[0])
    s[0] = i + 1
    prev = s[4]
    s[4] = c
    out[at] = NAN
    if i == 0:
        return
    p3 = int(s[3])
    true_low = l if l < prev else prev
    bp = c - true_low
    tr = true_range(h, l, prev)
    s[11 + i % p3] = bp
    s[11 + p3 + i % p3] = tr
    for k in range(3):
        p = int(s[1 + k])
        if i > p3 - p:  # inside this period's priming window or later
            s[5 + 2 * k] += bp
            s[6 + 2 * k] += tr
    if i < p3:
        return
    total = 0.0
    if abs(s[6]) >= _EPS:
        total += 4.0 * (s[5] / s[6])
    if abs(s[8]) >= _EPS:
        total += 2.0 * (s[7] / s[8])
    if abs(s[10]) >= _EPS:
        total += s[9] / s[10]
    for k in range(3):
        p = int(s[1 + k])
        slot = (i - p + 1) % p3
        s[5 + 2 * k] -= s[11 + slot]
        s[6 + 2 * k] -= s[11 + p3 + slot]
    out[at] = 100.0 * (total / 7.0)


@kernel("ultosc")
def _ultosc(period1: int, period2: int, period3: int):
    ps = sorted(
        _length("ultosc", key, value)
        for key, value in (("period1", period1), ("period2", period2), ("period3", period3))
    )
    return _ultosc_step, [0.0, *map(float, ps), 0.0] + [0.0] * (6 + 2 * ps[2]), 1


# ------------------------------------------------------------------ candlesticks
# TA-Lib's default candle settings: (range type, bars averaged, factor). Range types:
# 0 real body |c - o|, 1 high - low, 2 upper + lower shadow. An average over 0 bars is
# the current candle's own range. Each average covers the ``bars`` candles before the
# one it is applied to, as a running total that TA-Lib seeds on the bars just before its
# first output (lookback - offset - bars .. lookback - offset - 1) and then moves with
# ``total += range(new) - range(oldest)``.
_BODY_LONG = (0, 10, 1.0)
_BODY_SHORT = (0, 10, 1.0)
_BODY_DOJI = (1, 10, 0.1)
_SHADOW_LONG = (0, 0, 1.0)
_SHADOW_VERY_SHORT = (1, 10, 0.1)
_NEAR = (1, 5, 0.2)
_CANDLE_RING = 12  # bars kept: the oldest a total drops is 11 bars back


@njit(cache=True)
def _crange(kind, o, h, l, c):  # noqa: E741
    if kind == 0:
        return abs(c - o)
    if kind == 1:
        return h - l
    top = c if c >= o else o
    bottom = o if c >= o else c
    return (h - top) + (bottom - l)


@njit(cache=True)
def _cbar_range(s, i, kind):
    """Range of bar ``i`` from the OHLC ring at ``s[1 : 1 + 4 * _CANDLE_RING]``."""
    r = 1 + 4 * (i % _CANDLE_RING)
    return _crange(kind, s[r], s[r + 1], s[r + 2], s[r + 3])


@njit(cache=True)
def _cavg(s, t, kind, bars, factor, o, h, l, c):  # noqa: E741
    """TA-Lib's candle average from the running total ``s[t]``."""
    x = s[t] / bars if bars != 0 else _crange(kind, o, h, l, c)
    return factor * x / (2.0 if kind == 2 else 1.0)


@njit(cache=True)
def _ctotal(s, t, i, lookback, offset, kind, bars):
    """Advance the running total ``s[t]`` past bar ``i`` (after the pattern test)."""
    if bars == 0:
        return
    j = i - offset
    if i < lookback:
        if j >= lookback - offset - bars:
            s[t] += _cbar_range(s, j, kind)
    else:
        s[t] += _cbar_range(s, j, kind) - _cbar_range(s, j - bars, kind)


@njit(cache=True)
def _cstore(s, o, h, l, c):  # noqa: E741
    """Count the bar and store it in the ring; returns its index."""
    i = int(s[0])
    s[0] = i + 1
    r = 1 + 4 * (i % _CANDLE_RING)
    s[r] = o
    s[r + 1] = h
    s[r + 2] = l
    s[r + 3] = c
    return i


@njit(cache=True)
def _cprev(s, i, k):
    """Field ``k`` (0 open, 1 high, 2 low, 3 close) of bar ``i``."""
    return s[1 + 4 * (i % _CANDLE_RING) + k]


_T = 1 + 4 * _CANDLE_RING  # first running total in a candle state


def _candle_state(totals: int) -> list[float]:
    return [0.0] * (_T + totals)


# Doji: |c - o| <= 0.1 * mean high-low range of the previous 10 bars. Lookback 10.
@njit(cache=True)
def _cdl_doji_step(s, o, h, l, c, v, out, at):  # noqa: E741
    i = _cstore(s, o, h, l, c)
    kind, bars, factor = _BODY_DOJI
    if i < bars:
        out[at] = NAN
    else:
        out[at] = 1.0 if abs(c - o) <= _cavg(s, _T, kind, bars, factor, o, h, l, c) else 0.0
    _ctotal(s, _T, i, bars, 0, kind, bars)


@kernel("cdl_doji")
def _cdl_doji():
    return _cdl_doji_step, _candle_state(1), 1


# Engulfing: the body of bar i engulfs the opposite-colour body of bar i-1 (one end may
# match: 0.8 instead of 1). Lookback 2.
@njit(cache=True)
def _cdl_engulfing_step(s, o, h, l, c, v, out, at):  # noqa: E741
    i = _cstore(s, o, h, l, c)
    if i < 2:
        out[at] = NAN
        return
    po = _cprev(s, i - 1, 0)
    pc = _cprev(s, i - 1, 3)
    color = 1 if c >= o else -1
    pcolor = 1 if pc >= po else -1
    white = color == 1 and pcolor == -1 and ((c >= po and o < pc) or (c > po and o <= pc))
    black = color == -1 and pcolor == 1 and ((o >= pc and c < po) or (o > pc and c <= po))
    hit = white or black
    if not hit:
        out[at] = 0.0
    elif o != pc and c != po:
        out[at] = float(color)
    else:
        out[at] = color * 0.8


@kernel("cdl_engulfing")
def _cdl_engulfing():
    return _cdl_engulfing_step, _candle_state(0), 1


# Hammer: small body, lower shadow longer than the body, very short upper shadow, body
# near or below the previous low. Lookback 11. Totals: body short, very short shadow,
# near (on the previous bar).
@njit(cache=True)
def _cdl_hammer_step(s, o, h, l, c, v, out, at):  # noqa: E741
    i = _cstore(s, o, h, l, c)
    lb = 11
    if i < lb:
        out[at] = NAN
    else:
        body = abs(c - o)
        top = c if c >= o else o
        bottom = o if c >= o else c
        po = _cprev(s, i - 1, 0)
        ph = _cprev(s, i - 1, 1)
        pl = _cprev(s, i - 1, 2)
        pc = _cprev(s, i - 1, 3)
        k, b, f = _BODY_SHORT
        small = body < _cavg(s, _T, k, b, f, o, h, l, c)
        k, b, f = _SHADOW_LONG
        long_lower = bottom - l > _cavg(s, _T, k, b, f, o, h, l, c)
        k, b, f = _SHADOW_VERY_SHORT
        short_upper = h - top < _cavg(s, _T + 1, k, b, f, o, h, l, c)
        k, b, f = _NEAR
        near = min(c, o) <= pl + _cavg(s, _T + 2, k, b, f, po, ph, pl, pc)
        out[at] = 1.0 if small and long_lower and short_upper and near else 0.0
    k, b, f = _BODY_SHORT
    _ctotal(s, _T, i, lb, 0, k, b)
    k, b, f = _SHADOW_VERY_SHORT
    _ctotal(s, _T + 1, i, lb, 0, k, b)
    k, b, f = _NEAR
    _ctotal(s, _T + 2, i, lb, 1, k, b)


@kernel("cdl_hammer")
def _cdl_hammer():
    return _cdl_hammer_step, _candle_state(3), 1


# Shooting star: body gapping up from the previous body, small body, upper shadow longer
# than the body, very short lower shadow. Lookback 11. Totals: body short, very short
# shadow.
@njit(cache=True)
def _cdl_shootingstar_step(s, o, h, l, c, v, out, at):  # noqa: E741
    i = _cstore(s, o, h, l, c)
    lb = 11
    if i < lb:
        out[at] = NAN
    else:
        body = abs(c - o)
        top = c if c >= o else o
        bottom = o if c >= o else c
        po = _cprev(s, i - 1, 0)
        pc = _cprev(s, i - 1, 3)
        gap_up = min(o, c) > max(po, pc)
        k, b, f = _BODY_SHORT
        small = body < _cavg(s, _T, k, b, f, o, h, l, c)
        k, b, f = _SHADOW_LONG
        long_upper = h - top > _cavg(s, _T, k, b, f, o, h, l, c)
        k, b, f = _SHADOW_VERY_SHORT
        short_lower = bottom - l < _cavg(s, _T + 1, k, b, f, o, h, l, c)
        out[at] = -1.0 if gap_up and small and long_upper and short_lower else 0.0
    k, b, f = _BODY_SHORT
    _ctotal(s, _T, i, lb, 0, k, b)
    k, b, f = _SHADOW_VERY_SHORT
    _ctotal(s, _T + 1, i, lb, 0, k, b)


@kernel("cdl_shootingstar")
def _cdl_shootingstar():
    return _cdl_shootingstar_step, _candle_state(2), 1


# Harami: a long body (bar i-1) followed by a short body inside it (0.8 when one end
# matches); sign opposite to the first candle's colour. Lookback 11. Totals: body long
# (on the previous bar), body short.
@njit(cache=True)
def _cdl_harami_step(s, o, h, l, c, v, out, at):  # noqa: E741
    i = _cstore(s, o, h, l, c)
    lb = 11
    if i < lb:
        out[at] = NAN
    else:
        po = _cprev(s, i - 1, 0)
        ph = _cprev(s, i - 1, 1)
        pl = _cprev(s, i - 1, 2)
        pc = _cprev(s, i - 1, 3)
        out[at] = 0.0
        k, b, f = _BODY_LONG
        if abs(pc - po) > _cavg(s, _T, k, b, f, po, ph, pl, pc):
            k, b, f = _BODY_SHORT
            if abs(c - o) <= _cavg(s, _T + 1, k, b, f, o, h, l, c):
                pcolor = 1.0 if pc >= po else -1.0
                hi, lo = max(c, o), min(c, o)
                phi, plo = max(pc, po), min(pc, po)
                if hi < phi and lo > plo:
                    out[at] = -pcolor
                elif hi <= phi and lo >= plo:
                    out[at] = -pcolor * 0.8
    k, b, f = _BODY_LONG
    _ctotal(s, _T, i, lb, 1, k, b)
    k, b, f = _BODY_SHORT
    _ctotal(s, _T + 1, i, lb, 0, k, b)


@kernel("cdl_harami")
def _cdl_harami():
    return _cdl_harami_step, _candle_state(2), 1
