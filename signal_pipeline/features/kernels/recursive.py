"""Streaming kernels of the recursive TA-Lib indicators: chained EMAs (DEMA, TEMA, T3, TRIX,
MACD), adaptive and stop-and-reverse averages (KAMA, SAR), Wilder smoothing (RSI, CMO,
STOCHRSI, the ADX family, NATR) and the volume lines (OBV, AD, ADOSC).

Each kernel replays the installed TA-Lib's (C 0.8.x) computation on the whole series from
its first bar: the same lookback (NaN exactly where TA-Lib has no value), the same seeds
(SMA seeds of the EMAs, sums over the first period for Wilder smoothing, TA-Lib's
first-bar conventions for SAR, KAMA, ADOSC, OBV) and the same floating-point operations
in the same order. That includes what 0.8 changed from the classic sources: fused
multiply-adds in the smoothers (EMA, T3, KAMA, SAR, NATR, ADOSC), NATR's
``atr * (p-1)/p + tr * (1 - (p-1)/p)`` form, RSI's multiplication by 1/p, a 1e-14 TA_IS_ZERO,
``> 0`` tests for RSI/CMO/DI denominators, STOCHF's relative zero-range test and KAMA's
reset of its change sum after a flat window. On the test paths of ``test_kernels.py``
(which asserts 1e-9 relative) the outputs were bit-identical to the registry columns,
flat prices, zero volume and gaps included. The state vector holds the recursion variables, the parameters and,
where a finite window is still needed (KAMA's efficiency ratio, the OBV/AD window change,
the volume SUM/SMA, STOCHRSI's min/max and %D, ADXR's lagged ADX), a ring of the last
inputs (value ``j``, counted from the first, in slot ``j % size``).
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


@njit(cache=True)
def _is_zero(x):
    # TA-Lib 0.8's TA_IS_ZERO (the library's constants are +-1e-14; older releases
    # used 1e-8)
    return -1e-14 < x < 1e-14


@njit(cache=True)
def _ema_feed(s, i, x, period, k):
    """One input into an SMA-seeded EMA stage held at ``s[i:i+3]`` = [inputs seen (stops
    at period), seed sum, ema] (TA-Lib's INT_EMA: ema = fma(x - ema, k, ema)). True once
    the EMA has a value."""
    if s[i] >= period:
        s[i + 2] = _fma(x - s[i + 2], k, s[i + 2])
        return True
    n = s[i] + 1.0
    s[i] = n
    if n < period:
        s[i + 1] += x
        return False
    s[i + 2] = (s[i + 1] + x) / period
    return True


def _k(period: int) -> float:
    return 2.0 / (period + 1)


def _number(name: str, key: str, value: object, lo: float, hi: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not lo <= value <= hi:
        raise ValueError(f"{name} kernel: {key} must be a number in [{lo}, {hi}], got {value!r}")
    return float(value)


# ------------------------------------------------------------------------------ EMA
# State: [ema stage x3, period, k]; the registry's % distance of the close.
@njit(cache=True)
def _ema_step(s, o, h, l, c, v, out, at):  # noqa: E741
    if _ema_feed(s, 0, c, s[3], s[4]):
        out[at] = 100.0 * (c - s[2]) / c
    else:
        out[at] = NAN


@kernel("ema")
def _ema(period):
    p = _length("ema", "period", period)
    return _ema_step, [0.0, 0.0, 0.0, float(p), _k(p)], 1


# ------------------------------------------------------------------------ DEMA / TEMA
# State: [ema1 stage x3, ema2 stage x3, (ema3 stage x3,) period, k].
@njit(cache=True)
def _dema_step(s, o, h, l, c, v, out, at):  # noqa: E741
    p = s[6]
    k = s[7]
    if _ema_feed(s, 0, c, p, k) and _ema_feed(s, 3, s[2], p, k):
        out[at] = 100.0 * (c - (2.0 * s[2] - s[5])) / c
    else:
        out[at] = NAN


@kernel("dema")
def _dema(period: int):
    period = _length("dema", "period", period)
    return _dema_step, [0.0] * 6 + [float(period), _k(period)], 1


@njit(cache=True)
def _tema_step(s, o, h, l, c, v, out, at):  # noqa: E741
    p = s[9]
    k = s[10]
    if _ema_feed(s, 0, c, p, k) and _ema_feed(s, 3, s[2], p, k) and _ema_feed(s, 6, s[5], p, k):
        out[at] = 100.0 * (c - (s[8] + (3.0 * s[2] - 3.0 * s[5]))) / c
    else:
        out[at] = NAN


@kernel("tema")
def _tema(period: int):
    period = _length("tema", "period", period)
    return _tema_step, [0.0] * 9 + [float(period), _k(period)], 1


# ------------------------------------------------------------------------------- TRIX
# 1-bar rate of change (TA-Lib ROC, percent) of a triple EMA. State: [3 EMA stages x3,
# previous ema3, has previous, period, k].
@njit(cache=True)
def _trix_step(s, o, h, l, c, v, out, at):  # noqa: E741
    p = s[11]
    k = s[12]
    if _ema_feed(s, 0, c, p, k) and _ema_feed(s, 3, s[2], p, k) and _ema_feed(s, 6, s[5], p, k):
        cur = s[8]
        if s[10] > 0.0:
            prev = s[9]
            out[at] = ((cur / prev) - 1.0) * 100.0 if prev != 0.0 else 0.0
        else:
            out[at] = NAN
        s[9] = cur
        s[10] = 1.0
    else:
        out[at] = NAN


@kernel("trix")
def _trix(period: int):
    period = _length("trix", "period", period)
    return _trix_step, [0.0] * 11 + [float(period), _k(period)], 1


# --------------------------------------------------------------------------------- T3
# Six chained EMAs (e = fma(e, 1-k, k*x)), each seeded by the mean of its first ``period``
# inputs, as TA-Lib's T3. State: [bars, e1..e6, seed sum, c1..c4, k, 1-k, period,
# seeded depth, inputs in the current seed].
@njit(cache=True)
def _t3_step(s, o, h, l, c, v, out, at):  # noqa: E741
    p = s[14]
    k = s[12]
    omk = s[13]
    d = int(s[15])
    if d == 0:
        n = s[0] + 1.0
        s[0] = n
        s[7] = c if n == 1.0 else s[7] + c
        if n == p:
            s[1] = s[7] / p
            s[7] = s[1]
            s[15] = 1.0
        out[at] = NAN
        return
    s[1] = _fma(s[1], omk, k * c)
    for j in range(2, d + 1):
        s[j] = _fma(s[j], omk, k * s[j - 1])
    if d < 6:
        s[7] += s[d]
        s[16] += 1.0
        if s[16] == p - 1.0:
            s[d + 1] = s[7] / p
            s[7] = s[d + 1]
            s[16] = 0.0
            d += 1
            s[15] = d
    if d == 6:
        t3 = _fma(s[8], s[6], s[9] * s[5])
        t3 = _fma(s[10], s[4], t3)
        t3 = _fma(s[11], s[3], t3)
        out[at] = 100.0 * (c - t3) / c
    else:
        out[at] = NAN


@kernel("t3")
def _t3(period: int, vfactor: float):
    period = _length("t3", "period", period)
    vf = _number("t3", "vfactor", vfactor, 0.0, 1.0)
    k = 2.0 / (period + 1.0)
    sq = vf * vf
    c1 = 0 - sq * vf
    c2 = 3.0 * (sq - c1)
    c3 = (0 - 6.0) * sq - 3.0 * (vf - c1)
    c4 = 1.0 + 3.0 * vf - c1 + 3.0 * sq
    state = [0.0] * 8 + [c1, c2, c3, c4, k, 1.0 - k, float(period), 0.0, 0.0]
    return _t3_step, state, 1


# ------------------------------------------------------------------------------- KAMA
# TA-Lib 0.8's KAMA: the efficiency ratio is 1 where the summed |1-bar change| is <= 0 or
# not above the period change, else min(1, |change / sum|); the running sum is reset to
# exactly 0 once the last ``period`` changes are all 0 (no rounding residue survives a
# flat stretch). State: [bars, sum of |1-bar change| over the period, kama, period,
# fastest sc, sc span, run of zero changes, ring of the last period+1 closes].
@njit(cache=True)
def _kama_step(s, o, h, l, c, v, out, at):  # noqa: E741
    t = int(s[0])
    s[0] += 1.0
    pf = s[3]
    p = int(pf)
    r = p + 1
    if t == 0:
        s[7] = c
        out[at] = NAN
        return
    prev = s[7 + (t - 1) % r]
    if t <= p:
        s[1] += abs(prev - c)
        s[7 + t % r] = c
        if t < p:
            out[at] = NAN
            return
        kama = prev
        roc = c - s[7]
    else:
        gone = s[7 + t % r]  # close t-p-1, leaving the window
        trail = s[7 + (t - p) % r]
        roc = c - trail
        change = c - prev
        s[1] -= abs(gone - trail)
        s[1] += abs(change)
        s[6] = s[6] + 1.0 if change == 0.0 else 0.0
        if s[6] >= pf:
            s[1] = 0.0
        s[7 + t % r] = c
        kama = s[2]
    total = s[1]
    er = 1.0 if total <= 0.0 or roc >= total else min(1.0, abs(roc / total))
    sc = _fma(er, s[5], s[4])
    sc *= sc
    kama = _fma(c - kama, sc, kama)
    s[2] = kama
    out[at] = 100.0 * (c - kama) / c


@kernel("kama")
def _kama(period: int):
    period = _length("kama", "period", period)
    fastest = 2.0 / (30.0 + 1.0)
    span = 2.0 / (2.0 + 1.0) - fastest
    state = [0.0, 0.0, 0.0, float(period), fastest, span, 0.0]
    return _kama_step, state + [0.0] * (period + 1), 1


# -------------------------------------------------------------------------------- SAR
# State: [bars, is long, af, ep, sar, last high, last low, acceleration, maximum].
@njit(cache=True)
def _sar_step(s, o, h, l, c, v, out, at):  # noqa: E741
    t = s[0]
    s[0] = t + 1.0
    if t == 0.0:
        s[5] = h
        s[6] = l
        out[at] = NAN
        return
    acc = s[7]
    mx = s[8]
    if t == 1.0:
        # Direction from bar 1's -DM (TA-Lib MINUS_DM, period 1): short when positive.
        diff_p = h - s[5]
        diff_m = s[6] - l
        long_ = not (diff_m > 0 and diff_p < diff_m)
        s[1] = 1.0 if long_ else 0.0
        if long_:
            s[3] = h
            s[4] = s[6]
        else:
            s[3] = l
            s[4] = s[5]
        s[2] = acc
        prev_h = h
        prev_l = l
    else:
        prev_h = s[5]
        prev_l = s[6]
    s[5] = h
    s[6] = l
    af = s[2]
    ep = s[3]
    sar = s[4]
    if s[1] == 1.0:
        if l <= sar:
            s[1] = 0.0
            sar = ep
            if sar < prev_h:
                sar = prev_h
            if sar < h:
                sar = h
            res = sar
            af = acc
            ep = l
            sar = _fma(ep - sar, af, sar)
            if sar < prev_h:
                sar = prev_h
            if sar < h:
                sar = h
        else:
            res = sar
            if h > ep:
                ep = h
                af += acc
                if af > mx:
                    af = mx
            sar = _fma(ep - sar, af, sar)
            if sar > prev_l:
                sar = prev_l
            if sar > l:
                sar = l
    elif h >= sar:
        s[1] = 1.0
        sar = ep
        if sar > prev_l:
            sar = prev_l
        if sar > l:
            sar = l
        res = sar
        af = acc
        ep = h
        sar = _fma(ep - sar, af, sar)
        if sar > prev_l:
            sar = prev_l
        if sar > l:
            sar = l
    else:
        res = sar
        if l < ep:
            ep = l
            af += acc
            if af > mx:
                af = mx
        sar = _fma(ep - sar, af, sar)
        if sar < prev_h:
            sar = prev_h
        if sar < h:
            sar = h
    s[2] = af
    s[3] = ep
    s[4] = sar
    out[at] = 100.0 * (c - res) / c


@kernel("sar")
def _sar(acceleration: float, maximum: float):
    mx = _number("sar", "maximum", maximum, 0.0, math.inf)
    acc = min(_number("sar", "acceleration", acceleration, 0.0, math.inf), mx)  # as TA-Lib
    return _sar_step, [0.0] * 7 + [acc, mx], 1


# -------------------------------------------------------------------------------- MACD
# TA-Lib MACD: slow EMA from bar 0, fast EMA from bar slow-fast so both first exist at
# bar slow-1, signal = EMA of their difference. State: [slow stage x3, fast stage x3,
# signal stage x3, bars, fast, slow, signal, k fast, k slow, k signal].
@njit(cache=True)
def _macd_step(s, o, h, l, c, v, out, at):  # noqa: E741
    t = s[9]
    s[9] = t + 1.0
    fast = s[10]
    slow = s[11]
    if t >= slow - fast:
        _ema_feed(s, 3, c, fast, s[13])
    if _ema_feed(s, 0, c, slow, s[14]):
        m = s[5] - s[2]
        if _ema_feed(s, 6, m, s[12], s[15]):
            sig = s[8]
            out[at] = 100.0 * m / c
            out[at + 1] = 100.0 * sig / c
            out[at + 2] = 100.0 * (m - sig) / c
            return
    out[at] = NAN
    out[at + 1] = NAN
    out[at + 2] = NAN


@kernel("macd")
def _macd(fast: int, slow: int, signal: int):
    fast = _length("macd", "fast", fast)
    slow = _length("macd", "slow", slow)
    signal = _length("macd", "signal", signal)
    if slow < fast:  # TA-Lib swaps them
        fast, slow = slow, fast
    state = [0.0] * 10 + [float(fast), float(slow), float(signal)]
    return _macd_step, [*state, _k(fast), _k(slow), _k(signal)], 3


# ------------------------------------------------------------------ RSI / CMO / STOCHRSI
@njit(cache=True)
def _gain_loss_feed(s, c, p, recip):
    """Wilder-smoothed mean gain and loss at ``s[2]``, ``s[3]`` (``s[0]`` bars, ``s[1]``
    last close), seeded by the means over bars 1..p (TA-Lib's non-Metastock RSI/CMO).
    True once they exist (bar p). TA-Lib's RSI scales by a precomputed 1/p where its CMO
    divides by p (``recip`` > 0 selects the former: the two round differently)."""
    t = s[0]
    s[0] = t + 1.0
    if t == 0.0:
        s[1] = c
        return False
    diff = c - s[1]
    s[1] = c
    if t <= p:
        if diff < 0:
            s[3] -= diff
        else:
            s[2] += diff
        if t < p:
            return False
    elif recip > 0.0:
        up = diff if diff > 0.0 else 0.0
        s[2] = (s[2] * (p - 1.0) + up) * recip
        s[3] = ((up - diff) + s[3] * (p - 1.0)) * recip
        return True
    else:
        s[3] *= p - 1.0
        s[2] *= p - 1.0
        if diff < 0:
            s[3] -= diff
        else:
            s[2] += diff
    if recip > 0.0:
        s[3] *= recip
        s[2] *= recip
    else:
        s[3] /= p
        s[2] /= p
    return True


@njit(cache=True)
def _rsi_value(s):
    total = s[2] + s[3]
    return s[2] / total * 100.0 if total > 0.0 else 0.0


# State: [bars, last close, gain, loss, period, overbought, oversold, 1/period].
@njit(cache=True)
def _rsi_step(s, o, h, l, c, v, out, at):  # noqa: E741
    if _gain_loss_feed(s, c, s[4], s[7]):
        rsi = _rsi_value(s)
        out[at] = rsi
        out[at + 1] = 1.0 if rsi >= s[5] else 0.0
        out[at + 2] = 1.0 if rsi <= s[6] else 0.0
    else:
        out[at] = NAN
        out[at + 1] = NAN
        out[at + 2] = NAN


@kernel("rsi")
def _rsi(period: int, overbought: float, oversold: float):
    period = _length("rsi", "period", period)
    ob = _number("rsi", "overbought", overbought, 0.0, 100.0)
    os_ = _number("rsi", "oversold", oversold, 0.0, 100.0)
    state = [0.0] * 4 + [float(period), ob, os_, 1.0 / period]
    return _rsi_step, state, 3


@njit(cache=True)
def _cmo_step(s, o, h, l, c, v, out, at):  # noqa: E741
    if _gain_loss_feed(s, c, s[4], 0.0):
        total = s[2] + s[3]
        out[at] = (s[2] - s[3]) / total * 100.0 if total > 0.0 else 0.0
    else:
        out[at] = NAN


@kernel("cmo")
def _cmo(period: int):
    period = _length("cmo", "period", period)
    return _cmo_step, [0.0] * 4 + [float(period)], 1


# STOCHRSI = STOCHF (fast %K over k_period, %D = SMA over d_period) of RSI(period).
# TA-Lib's %K is 0 where the RSI range is below 1e-14 of |highest| + |lowest| (a flat RSI
# differs only by rounding). State: [RSI core x4, period, k_period, d_period, RSI values
# seen, %D running sum, %K values seen, 1/period, ring of k_period RSI values, ring of
# d_period %K values].
@njit(cache=True)
def _stochrsi_step(s, o, h, l, c, v, out, at):  # noqa: E741
    out[at] = NAN
    out[at + 1] = NAN
    if not _gain_loss_feed(s, c, s[4], s[10]):
        return
    rsi = _rsi_value(s)
    kp = int(s[5])
    dp = int(s[6])
    j = int(s[7])
    s[7] = j + 1
    s[11 + j % kp] = rsi
    if j < kp - 1:
        return
    hi = s[11]
    lo = s[11]
    for i in range(12, 11 + kp):
        x = s[i]
        if x > hi:
            hi = x
        if x < lo:
            lo = x
    diff = hi - lo
    fk = (rsi - lo) / diff * 100.0 if (abs(hi) + abs(lo)) * 1e-14 < abs(diff) else 0.0
    m = int(s[9])
    s[9] = m + 1
    base = 11 + kp
    s[base + m % dp] = fk
    s[8] += fk
    if m < dp - 1:
        return
    total = s[8]
    s[8] -= s[base + (m + 1) % dp]
    out[at] = fk
    out[at + 1] = total / dp


@kernel("stochrsi")
def _stochrsi(period: int, k_period: int, d_period: int):
    period = _length("stochrsi", "period", period)
    k_period = _length("stochrsi", "k_period", k_period)
    d_period = _length("stochrsi", "d_period", d_period)
    state = [0.0] * 4 + [float(period), float(k_period), float(d_period), 0.0, 0.0, 0.0]
    state.append(1.0 / period)
    return _stochrsi_step, state + [0.0] * (k_period + d_period), 2


# ------------------------------------------------------------------------- ADX family
# Directional movement and true range, Wilder-smoothed after a plain sum over bars
# 1..period-1, as TA-Lib's PLUS_DI/MINUS_DI/DX/ADX. State: [bars, last high, last low,
# last close, +DM, -DM, TR, period, ...indicator's own].
@njit(cache=True)
def _dm_feed(s, h, l, c):  # noqa: E741
    t = s[0]
    s[0] = t + 1.0
    if t == 0.0:
        s[1] = h
        s[2] = l
        s[3] = c
        return False
    p = s[7]
    diff_p = h - s[1]
    s[1] = h
    diff_m = s[2] - l
    s[2] = l
    pc = s[3]
    tr = true_range(h, l, pc)
    s[3] = c
    if t < p:
        if diff_m > 0 and diff_p < diff_m:
            s[5] += diff_m
        elif diff_p > 0 and diff_p > diff_m:
            s[4] += diff_p
        s[6] += tr
        return False
    s[5] -= s[5] / p
    s[4] -= s[4] / p
    if diff_m > 0 and diff_p < diff_m:
        s[5] += diff_m
    elif diff_p > 0 and diff_p > diff_m:
        s[4] += diff_p
    s[6] = s[6] - s[6] / p + tr
    return True


@njit(cache=True)
def _dx_of(s, prev):
    """DX from the smoothed DM/TR, or ``prev`` where TA-Lib keeps the previous value."""
    tr = s[6]
    if not tr > 0.0:
        return prev, False
    minus_di = 100.0 * (s[5] / tr)
    plus_di = 100.0 * (s[4] / tr)
    total = minus_di + plus_di
    if _is_zero(total):
        return prev, False
    return 100.0 * (abs(minus_di - plus_di) / total), True


@njit(cache=True)
def _plus_di_step(s, o, h, l, c, v, out, at):  # noqa: E741
    if _dm_feed(s, h, l, c):
        out[at] = s[4] / s[6] * 100.0 if s[6] > 0.0 else 0.0
    else:
        out[at] = NAN


@njit(cache=True)
def _minus_di_step(s, o, h, l, c, v, out, at):  # noqa: E741
    if _dm_feed(s, h, l, c):
        out[at] = s[5] / s[6] * 100.0 if s[6] > 0.0 else 0.0
    else:
        out[at] = NAN


# DX: extra [last DX] (the first DX is 0 where undefined, later ones repeat the last).
@njit(cache=True)
def _dx_step(s, o, h, l, c, v, out, at):  # noqa: E741
    if _dm_feed(s, h, l, c):
        dx, _ = _dx_of(s, s[8])
        s[8] = dx
        out[at] = dx
    else:
        out[at] = NAN


@njit(cache=True)
def _adx_feed(s, h, l, c):  # noqa: E741
    """ADX at ``s[8]`` (the DX sum until bar 2*period-1); True once it exists."""
    if not _dm_feed(s, h, l, c):
        return False
    p = s[7]
    dx, ok = _dx_of(s, 0.0)
    t = s[0] - 1.0
    if t < 2.0 * p - 1.0:
        if ok:
            s[8] += dx
        return False
    if t == 2.0 * p - 1.0:
        if ok:
            s[8] += dx
        s[8] = s[8] / p
    elif ok:
        s[8] = (s[8] * (p - 1.0) + dx) / p
    return True


@njit(cache=True)
def _adx_step(s, o, h, l, c, v, out, at):  # noqa: E741
    out[at] = s[8] if _adx_feed(s, h, l, c) else NAN


# ADXR: extra [ADX, ADX values seen, ring of the last period ADX values].
@njit(cache=True)
def _adxr_step(s, o, h, l, c, v, out, at):  # noqa: E741
    out[at] = NAN
    if not _adx_feed(s, h, l, c):
        return
    p = int(s[7])
    j = int(s[9])
    s[9] = j + 1
    adx = s[8]
    s[10 + j % p] = adx
    if j >= p - 1:
        out[at] = (adx + s[10 + (j + 1) % p]) / 2.0


def _dm_state(name: str, period: int, extra: int) -> list[float]:
    period = _length(name, "period", period)
    return [0.0] * 7 + [float(period)] + [0.0] * extra


@kernel("plus_di")
def _plus_di(period: int):
    return _plus_di_step, _dm_state("plus_di", period, 0), 1


@kernel("minus_di")
def _minus_di(period: int):
    return _minus_di_step, _dm_state("minus_di", period, 0), 1


@kernel("dx")
def _dx(period: int):
    return _dx_step, _dm_state("dx", period, 1), 1


@kernel("adx")
def _adx(period: int):
    return _adx_step, _dm_state("adx", period, 1), 1


@kernel("adxr")
def _adxr(period: int):
    period = _length("adxr", "period", period)
    return _adxr_step, _dm_state("adxr", period, 2 + period), 1


# -------------------------------------------------------------------------------- NATR
# TA-Lib 0.8's NATR smooths as atr * (p-1)/p + tr * (1 - (p-1)/p) after the mean of the
# first p true ranges, and gives 0 where the close is exactly 0. State: [bars, last close,
# TR sum then ATR, period, (p-1)/p, 1-(p-1)/p].
@njit(cache=True)
def _natr_step(s, o, h, l, c, v, out, at):  # noqa: E741
    t = s[0]
    s[0] = t + 1.0
    pc = s[1]
    s[1] = c
    out[at] = NAN
    if t == 0.0:
        return
    p = s[3]
    tr = true_range(h, l, pc)
    if t < p:
        s[2] += tr
        return
    if t == p:
        s[2] = (s[2] + tr) / p
    else:
        s[2] = _fma(s[2], s[4], tr * s[5])
    out[at] = s[2] / c * 100.0 if c != 0.0 else 0.0


@kernel("atr")
def _atr(period: int):
    period = _length("atr", "period", period)
    keep = float(period - 1) / float(period)
    return _natr_step, [0.0, 0.0, 0.0, float(period), keep, 1.0 - keep], 1


# ------------------------------------------------------------------------ volume lines
@njit(cache=True)
def _ad_add(ad, h, l, c, v):  # noqa: E741
    rng = h - l
    if rng > 0.0:
        ad += (c - l - (h - c)) / rng * v
    return ad


@njit(cache=True)
def _sum_feed(s, i, ring, t, x, p):
    """TA-Lib SUM's running total at ``s[i]`` over a ring of ``p`` inputs at ``s[ring:]``;
    the window sum once ``t >= p - 1``, else NaN."""
    s[ring + t % p] = x
    s[i] += x
    if t < p - 1:
        return NAN
    total = s[i]
    s[i] -= s[ring + (t + 1) % p]
    return total


@njit(cache=True)
def _window_change_step(s, c, v, line, out, at):
    """Shared tail of OBV and AD: change of ``line`` over ``period`` bars / volume SUM.
    State: [bars, line, last close, volume sum, period, ring of line, ring of volume]."""
    t = int(s[0]) - 1
    p = int(s[4])
    vol = _sum_feed(s, 3, 5 + p, t, v, p)
    slot = 5 + t % p
    if t < p:
        s[slot] = line
        out[at] = NAN
        return
    change = line - s[slot]
    s[slot] = line
    out[at] = change / vol if vol != 0.0 else 0.0


@njit(cache=True)
def _obv_step(s, o, h, l, c, v, out, at):  # noqa: E741
    t = s[0]
    s[0] = t + 1.0
    if t == 0.0:
        s[1] = v
    elif c > s[2]:
        s[1] += v
    elif c < s[2]:
        s[1] -= v
    s[2] = c
    _window_change_step(s, c, v, s[1], out, at)


@njit(cache=True)
def _ad_step(s, o, h, l, c, v, out, at):  # noqa: E741
    s[0] += 1.0
    s[1] = _ad_add(s[1], h, l, c, v)
    _window_change_step(s, c, v, s[1], out, at)


@kernel("obv")
def _obv(period: int):
    period = _length("obv", "period", period)
    return _obv_step, [0.0] * 4 + [float(period)] + [0.0] * (2 * period), 1


@kernel("ad")
def _ad(period: int):
    period = _length("ad", "period", period)
    return _ad_step, [0.0] * 4 + [float(period)] + [0.0] * (2 * period), 1


# ADOSC: EMAs (e = fma(e, 1-k, k*ad)) of the A/D line both seeded with its first value, fast -
# slow from bar max(fast, slow)-1, divided by SMA(volume, slow) (0 where that is 0).
# State: [bars, ad, fast ema, slow ema, volume sum, k fast, 1-k fast, k slow, 1-k slow,
# first output bar, slow, ring of slow volumes].
@njit(cache=True)
def _adosc_step(s, o, h, l, c, v, out, at):  # noqa: E741
    t = int(s[0])
    s[0] = t + 1
    ad = _ad_add(s[1], h, l, c, v)
    s[1] = ad
    if t == 0:
        s[2] = ad
        s[3] = ad
    else:
        s[2] = _fma(s[2], s[6], s[5] * ad)
        s[3] = _fma(s[3], s[8], s[7] * ad)
    p = int(s[10])
    vol = _sum_feed(s, 4, 11, t, v, p)
    if t < s[9]:
        out[at] = NAN
        return
    sma = vol / p
    out[at] = (s[2] - s[3]) / sma if sma != 0.0 else 0.0


@kernel("adosc")
def _adosc(fast: int, slow: int):
    fast = _length("adosc", "fast", fast)
    slow = _length("adosc", "slow", slow)
    fk = 2.0 / (float(fast) + 1.0)
    sk = 2.0 / (float(slow) + 1.0)
    first = float(max(fast, slow) - 1)
    state = [0.0] * 5 + [fk, 1.0 - fk, sk, 1.0 - sk, first, float(slow)]
    return _adosc_step, state + [0.0] * slow, 1
