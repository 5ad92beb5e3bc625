"""Streaming kernels of Ehlers' Hilbert-transform family (HT_*) and MAMA.

All seven share one engine, advanced one bar at a time exactly as TA-Lib runs it over a
whole array from its first bar:

* a 4-bar weighted smoother of the close (weights 1-2-3-4 over 10), kept as TA-Lib's
  running ``sum``/``sub`` pair with the close three bars back as the trailing value;
* from a fixed bar on (bar 12 for HT_DCPERIOD, HT_PHASOR and MAMA; bar 37 for
  HT_DCPHASE, HT_SINE, HT_TRENDLINE and HT_TRENDMODE, which skip 25 more bars) the
  adaptive Hilbert transform: four chained 7-tap filters (detrender, Q1, jI, jQ), each
  with separate odd-bar and even-bar rings of 3 taps sharing one ring index that moves
  after even bars, their gain scaled by ``0.075 * period + 0.54``;
* the homodyne period (atan of Im/Re), clamped to [0.67, 1.5] times the previous period
  and to [6, 50], smoothed 0.2/0.8, then 0.33/0.67 into the dominant-cycle period.

On top of it: the dominant-cycle phase (a DFT of the last ``int(period + 0.5)``
smoothed prices), the trendline (mean of the last ``int(period + 0.5)`` closes, weighted
4-3-2-1 with the three previous means), the trend mode and MAMA's phase-rate alpha. The
arithmetic follows TA-Lib's operation order, so outputs equal TA-Lib's to the last bit
(TA-Lib computes the recursive smoothings ``a * x + b * y`` with explicit ``fma()``
calls; :func:`_fma` does the same). Outputs are NaN until TA-Lib's lookback: 32 bars
(HT_DCPERIOD, HT_PHASOR, MAMA) or 63 (the others).

The sines and cosines of the phase DFT come from a table filled with the same
expressions TA-Lib evaluates (``i * 2pi / n``, the C library's sin/cos), so a bar costs
one pass over at most 50 stored prices instead of 100 transcendental calls.
"""

from __future__ import annotations

import math

import numpy as np
from numba import njit

from signal_pipeline.features.kernels import kernel
from signal_pipeline.features.kernels._arith import fma as _fma

NAN = np.nan

# Hilbert filter coefficients and TA-Lib's constants (45/atan(1) == 180/pi to the bit).
_A = 0.0962
_B = 0.5769
_RAD2DEG = 45.0 / math.atan(1.0)
_DEG2RAD = 1.0 / _RAD2DEG  # HT_TRENDMODE's own sine
_DEG_TO_RAD = math.pi / 180.0  # the registry's ht_sine transform (numpy side)
_TWO_PI = math.atan(1.0) * 8.0

# ----------------------------------------------------------------- state layout
_N = 0  # bars seen
_SUB = 1  # smoother: running plain sum
_SUM = 2  # smoother: running weighted sum
_TRAIL = 3  # smoother: close three bars back
_HIDX = 4  # ring index of the Hilbert filters (moves after even bars)
_PQ2 = 5
_PI2 = 6
_RE = 7
_IM = 8
_I1OP2 = 9  # detrender delayed 2/3 bars, one copy per bar parity (TA-Lib's I1For*)
_I1OP3 = 10
_I1EP2 = 11
_I1EP3 = 12
_PERIOD = 13
_SPERIOD = 14  # smoothed (dominant cycle) period
_SMOOTH = 15  # this bar's smoothed price
_Q1 = 16  # this bar's quadrature
_I1 = 17  # this bar's in-phase component
_START = 18  # first bar the Hilbert transform runs on
_LOOK = 19  # first bar with an output (TA-Lib's lookback)
_PHASE = 20
_PPHASE = 21
_SINE = 22
_LSINE = 23
_DAYS = 24  # bars in trend
_IT1 = 25  # previous three trendline means
_IT2 = 26
_IT3 = 27
_TLINE = 28
_MAMA = 29
_FAMA = 30
_MPHASE = 31  # MAMA's previous phase
_FAST = 32
_SLOW = 33
_CH = 40  # 8 filter blocks (detrender, Q1, jI, jQ) x (even, odd): 3 taps, prev, prev input
_RAW = _CH + 40  # ring of the last _RAW_N closes (by bar index)
_RAW_N = 64
_SP = _RAW + _RAW_N  # ring of the last 50 smoothed prices (by bar index), zero-filled
_SP_N = 50
_SIZE = _SP + _SP_N

# Detrender, Q1, jI, jQ blocks; odd-bar blocks follow the even-bar ones.
_DET, _QB, _JI, _JQ = _CH, _CH + 5, _CH + 10, _CH + 15
_ODD = 20


def _dft_tables() -> tuple[np.ndarray, np.ndarray]:
    """sin and cos of ``i * 2pi / n`` for n < 52, i < n, in TA-Lib's operation order, by
    the C library (Python's math module calls it, as TA-Lib does)."""
    rows = 52
    sin_t = np.zeros((rows, rows))
    cos_t = np.zeros((rows, rows))
    for n in range(1, rows):
        for i in range(n):
            x = float(i) * _TWO_PI / float(n)
            sin_t[n, i] = math.sin(x)
            cos_t[n, i] = math.cos(x)
    return sin_t, cos_t


_SIN_T, _COS_T = _dft_tables()


# ------------------------------------------------------------------------ engine
@njit(cache=True, inline="always")
def _filt(s, base, ring, x, gain):
    """One step of a Hilbert filter: TA-Lib's 7-tap FIR over every other bar (taps in a
    ring of 3, the middle tap as ``prev``/``prev input``), in its operation order."""
    t = _A * x
    y = 0.0 - s[base + ring]
    s[base + ring] = t
    y += t
    y -= s[base + 3]
    s[base + 3] = _B * s[base + 4]
    y += s[base + 3]
    s[base + 4] = x
    return y * gain


@njit(cache=True)
def _advance(s, c):
    """Take close ``c`` as the next bar: the smoother always, the Hilbert transform and
    period from the start bar on. Returns the bar's index, or -1 before the start bar."""
    today = int(s[_N])
    s[_N] = today + 1.0
    s[_RAW + today % _RAW_N] = c
    if today == 0:
        s[_SUB] = c
        s[_SUM] = c
        return -1
    if today == 1:
        s[_SUB] += c
        s[_SUM] += c * 2.0
        return -1
    if today == 2:
        s[_SUB] += c
        s[_SUM] += c * 3.0
        s[_TRAIL] = 0.0
        return -1
    sub = s[_SUB] + c
    sub -= s[_TRAIL]
    wsum = s[_SUM] + c * 4.0
    s[_TRAIL] = s[_RAW + (today - 3) % _RAW_N]
    smoothed = wsum * 0.1
    s[_SUM] = wsum - sub
    s[_SUB] = sub
    if today < s[_START]:
        return -1

    period = s[_PERIOD]
    gain = _fma(0.075, period, 0.54)
    s[_SMOOTH] = smoothed
    s[_SP + today % _SP_N] = smoothed
    ring = int(s[_HIDX])
    if today % 2 == 0:
        i1 = s[_I1EP3]
        det = _filt(s, _DET, ring, smoothed, gain)
        q1 = _filt(s, _QB, ring, det, gain)
        ji = _filt(s, _JI, ring, i1, gain)
        jq = _filt(s, _JQ, ring, q1, gain)
        s[_HIDX] = 0.0 if ring == 2 else ring + 1.0
        s[_I1OP3] = s[_I1OP2]
        s[_I1OP2] = det
    else:
        i1 = s[_I1OP3]
        det = _filt(s, _DET + _ODD, ring, smoothed, gain)
        q1 = _filt(s, _QB + _ODD, ring, det, gain)
        ji = _filt(s, _JI + _ODD, ring, i1, gain)
        jq = _filt(s, _JQ + _ODD, ring, q1, gain)
        s[_I1EP3] = s[_I1EP2]
        s[_I1EP2] = det
    s[_Q1] = q1
    s[_I1] = i1
    pq2 = s[_PQ2]
    pi2 = s[_PI2]
    q2 = _fma(0.2, q1 + ji, 0.8 * pq2)
    i2 = _fma(0.2, i1 - jq, 0.8 * pi2)
    re = _fma(0.8, s[_RE], 0.2 * _fma(i2, pi2, q2 * pq2))
    im = _fma(0.8, s[_IM], 0.2 * (i2 * pq2 - q2 * pi2))
    s[_RE] = re
    s[_IM] = im
    s[_PQ2] = q2
    s[_PI2] = i2
    prev = period
    if im != 0.0 and re != 0.0:
        period = 360.0 / (math.atan(im / re) * _RAD2DEG)
    bound = 1.5 * prev
    if period > bound:
        period = bound
    bound = 0.67 * prev
    if period < bound:
        period = bound
    if period < 6.0:
        period = 6.0
    elif period > 50.0:
        period = 50.0
    period = _fma(0.2, period, 0.8 * prev)
    s[_PERIOD] = period
    s[_SPERIOD] = _fma(0.67, s[_SPERIOD], 0.33 * period)
    return today


@njit(cache=True)
def _dc_phase(s, today):
    """Dominant-cycle phase in degrees (TA-Lib's DFT of the last int(period + 0.5)
    smoothed prices, its quadrant fixes and one-bar lag compensation)."""
    speriod = s[_SPERIOD]
    n = int(speriod + 0.5)
    real = 0.0
    imag = 0.0
    idx = today % _SP_N
    tabled = n < _SIN_T.shape[0]  # always (the period is clamped to 50)
    for i in range(n):
        v = s[_SP + idx]
        if tabled:
            real += _SIN_T[n, i] * v
            imag += _COS_T[n, i] * v
        else:
            x = float(i) * _TWO_PI / float(n)
            real += math.sin(x) * v
            imag += math.cos(x) * v
        idx = _SP_N - 1 if idx == 0 else idx - 1
    phase = s[_PHASE]
    if abs(imag) > 0.0:
        phase = math.atan(real / imag) * _RAD2DEG
    elif abs(imag) <= 0.01:
        if real < 0.0:
            phase -= 90.0
        elif real > 0.0:
            phase += 90.0
    phase += 90.0
    phase += 360.0 / speriod
    if imag < 0.0:
        phase += 180.0
    if phase > 315.0:
        phase -= 360.0
    s[_PPHASE] = s[_PHASE]
    s[_PHASE] = phase
    return phase


@njit(cache=True)
def _trendline(s, today):
    """Instantaneous trendline: mean close over int(period + 0.5) bars (newest first, as
    TA-Lib sums), weighted 4-3-2-1 with the three previous means."""
    n = int(s[_SPERIOD] + 0.5)
    mean = 0.0
    idx = today
    for _ in range(n):
        mean += s[_RAW + idx % _RAW_N]
        idx -= 1
    if n > 0:
        mean = mean / float(n)
    line = (4.0 * mean + 3.0 * s[_IT1] + 2.0 * s[_IT2] + s[_IT3]) / 10.0
    s[_IT3] = s[_IT2]
    s[_IT2] = s[_IT1]
    s[_IT1] = mean
    s[_TLINE] = line
    return line


def _state(start: int, lookback: int) -> np.ndarray:
    s = np.zeros(_SIZE)
    s[_START] = start
    s[_LOOK] = lookback
    return s


# ------------------------------------------------------------------- HT_DCPERIOD
@njit(cache=True)
def _dcperiod_step(s, o, h, l, c, v, out, at):  # noqa: E741
    today = _advance(s, c)
    out[at] = s[_SPERIOD] if today >= s[_LOOK] else NAN


@kernel("ht_dcperiod")
def _ht_dcperiod():
    return _dcperiod_step, _state(12, 32).tolist(), 1


# --------------------------------------------------------------------- HT_PHASOR
@njit(cache=True)
def _phasor_step(s, o, h, l, c, v, out, at):  # noqa: E741
    today = _advance(s, c)
    if today >= s[_LOOK]:
        out[at] = 100.0 * s[_I1] / c
        out[at + 1] = 100.0 * s[_Q1] / c
    else:
        out[at] = NAN
        out[at + 1] = NAN


@kernel("ht_phasor")
def _ht_phasor():
    return _phasor_step, _state(12, 32).tolist(), 2


# -------------------------------------------------------------------- HT_DCPHASE
@njit(cache=True)
def _dcphase_step(s, o, h, l, c, v, out, at):  # noqa: E741
    today = _advance(s, c)
    if today < 0:
        out[at] = NAN
        return
    phase = _dc_phase(s, today)
    out[at] = phase if today >= s[_LOOK] else NAN


@kernel("ht_dcphase")
def _ht_dcphase():
    return _dcphase_step, _state(37, 63).tolist(), 1


# ----------------------------------------------------------------------- HT_SINE
# The registry's ht_sine is sin(phase) and sin(phase + 45 deg) of HT_DCPHASE's phase.
@njit(cache=True)
def _sine_step(s, o, h, l, c, v, out, at):  # noqa: E741
    today = _advance(s, c)
    if today < 0:
        out[at] = NAN
        out[at + 1] = NAN
        return
    phase = _dc_phase(s, today)
    if today >= s[_LOOK]:
        out[at] = math.sin(phase * _DEG_TO_RAD)
        out[at + 1] = math.sin((phase + 45.0) * _DEG_TO_RAD)
    else:
        out[at] = NAN
        out[at + 1] = NAN


@kernel("ht_sine")
def _ht_sine():
    return _sine_step, _state(37, 63).tolist(), 2


# ------------------------------------------------------------------ HT_TRENDLINE
@njit(cache=True)
def _trendline_step(s, o, h, l, c, v, out, at):  # noqa: E741
    today = _advance(s, c)
    if today < 0:
        out[at] = NAN
        return
    line = _trendline(s, today)
    out[at] = 100.0 * (c - line) / c if today >= s[_LOOK] else NAN


@kernel("ht_trendline")
def _ht_trendline():
    return _trendline_step, _state(37, 63).tolist(), 1


# ----------------------------------------------------------------- HT_TRENDMODE
@njit(cache=True)
def _trendmode_step(s, o, h, l, c, v, out, at):  # noqa: E741
    today = _advance(s, c)
    if today < 0:
        out[at] = NAN
        return
    speriod = s[_SPERIOD]
    phase = _dc_phase(s, today)
    prev_sine = s[_SINE]
    prev_lead = s[_LSINE]
    sine = math.sin(phase * _DEG2RAD)
    lead = math.sin((phase + 45.0) * _DEG2RAD)
    s[_SINE] = sine
    s[_LSINE] = lead
    line = _trendline(s, today)
    trend = 1.0
    # A crossing of the sine and lead sine starts a cycle mode.
    if (sine > lead and prev_sine <= prev_lead) or (sine < lead and prev_sine >= prev_lead):
        s[_DAYS] = 0.0
        trend = 0.0
    days = s[_DAYS] + 1.0
    s[_DAYS] = days
    if days < 0.5 * speriod:
        trend = 0.0
    dphase = phase - s[_PPHASE]
    if speriod != 0.0 and (dphase > 0.67 * 360.0 / speriod and dphase < 1.5 * 360.0 / speriod):
        trend = 0.0
    smoothed = s[_SMOOTH]
    if line != 0.0 and abs((smoothed - line) / line) >= 0.015:
        trend = 1.0
    out[at] = trend if today >= s[_LOOK] else NAN


@kernel("ht_trendmode")
def _ht_trendmode():
    return _trendmode_step, _state(37, 63).tolist(), 1


# -------------------------------------------------------------------------- MAMA
@njit(cache=True)
def _mama_step(s, o, h, l, c, v, out, at):  # noqa: E741
    today = _advance(s, c)
    if today < 0:
        out[at] = NAN
        out[at + 1] = NAN
        return
    i1 = s[_I1]
    phase = math.atan(s[_Q1] / i1) * _RAD2DEG if i1 != 0.0 else 0.0
    dphase = s[_MPHASE] - phase
    s[_MPHASE] = phase
    if dphase < 1.0:
        dphase = 1.0
    fast = s[_FAST]
    if dphase > 1.0:
        alpha = fast / dphase
        if alpha < s[_SLOW]:
            alpha = s[_SLOW]
    else:
        alpha = fast
    mama = _fma(1.0 - alpha, s[_MAMA], alpha * c)
    alpha *= 0.5
    fama = _fma(1.0 - alpha, s[_FAMA], alpha * mama)
    s[_MAMA] = mama
    s[_FAMA] = fama
    if today >= s[_LOOK]:
        out[at] = 100.0 * (c - mama) / c
        out[at + 1] = 100.0 * (c - fama) / c
    else:
        out[at] = NAN
        out[at + 1] = NAN


@kernel("mama")
def _mama(fastlimit: float, slowlimit: float):
    for name, value in (("fastlimit", fastlimit), ("slowlimit", slowlimit)):
        if not 0.01 <= float(value) <= 0.99:
            raise ValueError(f"mama: {name} must be within [0.01, 0.99] (TA-Lib), got {value!r}")
    s = _state(12, 32)
    s[_FAST] = float(fastlimit)
    s[_SLOW] = float(slowlimit)
    return _mama_step, s.tolist(), 2
