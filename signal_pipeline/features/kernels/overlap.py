"""Streaming kernels of the trend/overlap family (moving averages as % distance of close)."""

from __future__ import annotations

import numpy as np
from numba import njit

from signal_pipeline.features.kernels import kernel

NAN = np.nan


# --------------------------------------------------------------------------- EMA
# TA-Lib EMA: lookback period - 1; the first value is the SMA of the first ``period``
# closes, then ema += (close - ema) * 2 / (period + 1). State: [bars seen, seed sum, ema,
# period, k].
@njit(cache=True)
def _ema_step(s, o, h, l, c, v, out, at):  # noqa: E741
    n = s[0] + 1.0
    s[0] = n
    period = s[3]
    if n < period:
        s[1] += c
        out[at] = NAN
        return
    if n == period:
        s[2] = (s[1] + c) / period
    else:
        s[2] = (c - s[2]) * s[4] + s[2]
    out[at] = 100.0 * (c - s[2]) / c


@kernel("ema")
def _ema(period: int):
    return _ema_step, [0.0, 0.0, 0.0, float(period), 2.0 / (period + 1)], 1
