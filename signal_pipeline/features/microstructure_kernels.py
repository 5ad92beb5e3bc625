"""Compiled last-row kernel of the microstructure features (the online engine's per-bar path).

:func:`micro_last_kernel` evaluates, in one compiled call, every window of
:func:`~.microstructure_online.microstructure_last` that ends at the newest bar, with the
arithmetic of the numpy code it replaces: sums are taken in numpy's pairwise order
(:func:`np_sum`, bit-identical to ``ndarray.sum``), cumulative sums and histograms
sequentially, extremes with NaN propagating as ``ndarray.max``/``min`` do. Only ``log``,
``exp`` and ``sqrt`` come from a different maths library than numpy's, so values agree with
the numpy version to a few units in the last place.

Slots of the output vector (``OUT_*``); integer parameters come packed in one int64 array
(``P_*``) so a call passes few arguments.
"""

from __future__ import annotations

import numpy as np
from numba import njit
from numpy.typing import NDArray

# numpy's own (pairwise) summation order, so sums are bit-identical to ndarray.sum
from signal_pipeline.features.liquidity import pairwise_sum as np_sum

FloatArray = NDArray[np.float64]
IntArray = NDArray[np.int64]

NAN = np.nan

# Integer parameters, packed in this order.
P_SPREAD, P_FLOW, P_LOOKBACK, P_VWAP, P_PROFILE, P_BINS, P_LEVEL, P_AMIHUD = range(8)
N_PARAMS = 8

# Output slots (the order of microstructure_columns, quote_imbalance first).
(
    OUT_QUOTE_IMBALANCE,
    OUT_SPREAD_ABS,
    OUT_SPREAD_REL,
    OUT_CS,
    OUT_ROLL,
    OUT_BUY_PRESSURE,
    OUT_SELL_PRESSURE,
    OUT_ORDER,
    OUT_TICKS,
    OUT_VWAP_SESSION,
    OUT_VWAP_WINDOW,
    OUT_POC_DIST,
    OUT_CONCENTRATION,
    OUT_SUPPORT,
    OUT_RESISTANCE,
    OUT_BREAKOUT_UP,
    OUT_BREAKOUT_DOWN,
    OUT_AMIHUD,
) = range(18)
N_OUT = 18

# Where the quoted spread comes from.
QUOTES_NONE, QUOTES_TABLE, QUOTES_BAR = 0, 1, 2

_PW_BLOCK = 128  # numpy's pairwise-summation block


@njit(cache=True, error_model="numpy", inline="always")
def _nan_max(a: float, b: float) -> float:
    # np.maximum: NaN when either is NaN.
    if a != a or b != b:
        return NAN
    return a if a >= b else b


@njit(cache=True, error_model="numpy", inline="always")
def _nan_min(a: float, b: float) -> float:
    if a != a or b != b:
        return NAN
    return a if a <= b else b


@njit(cache=True, error_model="numpy", inline="always")
def _ratio(num: float, den: float) -> float:
    # numpy's float division (IEEE: ±inf or NaN on a zero denominator).
    return num / den


@njit(cache=True, error_model="numpy")
def _corwin_schultz(high: FloatArray, low: FloatArray, close: FloatArray, window: int) -> float:
    """Mean of the last ``window`` two-bar Corwin–Schultz estimates (see
    :func:`~.liquidity.corwin_schultz_pairs`); needs ``window + 1`` bars."""
    n = close.size
    first = n - window  # the newest bar of the first pair's (prev, cur) is ``first``
    pairs = np.empty(window)
    denom = 3.0 - 2.0 * np.sqrt(2.0)
    for j in range(window):
        i = first + j
        prev_close, prev_high, prev_low = close[i - 1], high[i - 1], low[i - 1]
        up_gap = _nan_max(low[i] - prev_close, 0.0)
        down_gap = _nan_max(prev_close - high[i], 0.0)
        shift = up_gap - down_gap
        adj_high = high[i] - shift
        adj_low = low[i] - shift
        beta = np.log(prev_high / prev_low) ** 2 + np.log(adj_high / adj_low) ** 2
        gamma = np.log(_nan_max(prev_high, adj_high) / _nan_min(prev_low, adj_low)) ** 2
        alpha = (np.sqrt(2.0 * beta) - np.sqrt(beta)) / denom - np.sqrt(gamma / denom)
        e = np.exp(alpha)
        pairs[j] = _nan_max(2.0 * (e - 1.0) / (1.0 + e), 0.0)
    return np_sum(pairs, 0, window) / window


@njit(cache=True, error_model="numpy")
def _roll(close: FloatArray, window: int) -> float:
    """Roll spread of the window ending at the last bar (see :func:`~.liquidity.roll_spread`):
    sample covariance of the last ``window`` pairs of consecutive log returns."""
    n = close.size
    if n < window + 2 or window < 2:
        return NAN
    ret = np.empty(window + 1)
    base = n - window - 2
    prev = np.log(close[base])
    for j in range(window + 1):
        cur = np.log(close[base + 1 + j])
        ret[j] = cur - prev
        prev = cur
    # x = ret[1:], y = ret[:-1]; numpy's mean is its pairwise sum over the count.
    mean_x = np_sum(ret, 1, window) / window
    mean_y = np_sum(ret, 0, window) / window
    prod = np.empty(window)
    for j in range(window):
        prod[j] = (ret[j + 1] - mean_x) * (ret[j] - mean_y)
    cov = np_sum(prod, 0, window) / (window - 1)
    if cov != cov:
        return NAN
    return 2.0 * np.sqrt(max(-cov, 0.0))


@njit(cache=True, error_model="numpy", inline="always")
def _sign(x: float) -> float:
    if x > 0.0:
        return 1.0
    if x < 0.0:
        return -1.0
    if x == 0.0:
        return 0.0
    return NAN


@njit(cache=True, error_model="numpy")
def _order_flow(
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    volume: FloatArray,
    fw: int,
    lw: int,
    out: FloatArray,
) -> None:
    """Buy/sell pressure, order and tick imbalance over the last ``fw`` bars (see
    :func:`~.microstructure.bar_buy_volume`, :func:`~.microstructure.tick_rule_signs`)."""
    n = close.size
    buy_pressure = sell_pressure = order = ticks = NAN
    if n >= fw:
        s = n - fw
        buy = np.empty(fw)
        sell = np.empty(fw)
        signed = np.empty(fw)
        # The tick rule's sign entering the window: the latest price change at or before
        # bar s - 1 (however old; 0 when none in the buffer). NaN changes count as changes.
        sign = 0.0
        for j in range(s - 1, 0, -1):
            change = _sign(close[j] - close[j - 1])
            if change != 0.0:
                sign = change
                break
        for j in range(fw):
            i = s + j
            span = high[i] - low[i]
            location = (close[i] - low[i]) / span if span > 0 else 0.5
            buy[j] = volume[i] * location
            sell[j] = volume[i] - buy[j]
            if i > 0:
                change = _sign(close[i] - close[i - 1])
                if change != 0.0:
                    sign = change
            signed[j] = sign * volume[i]
        buy_sum = np_sum(buy, 0, fw)
        sell_sum = np_sum(sell, 0, fw)
        vol_sum = np_sum(volume, s, fw)
        signed_sum = np_sum(signed, 0, fw)
        order = (buy_sum - sell_sum) / vol_sum if vol_sum > 0 else 0.0
        ticks = signed_sum / vol_sum if vol_sum > 0 else 0.0
        if n >= lw:
            normal = np_sum(volume, n - lw, lw) / lw
            if normal > 0:
                buy_pressure = buy_sum / fw / normal
                sell_pressure = sell_sum / fw / normal
    out[OUT_BUY_PRESSURE] = buy_pressure
    out[OUT_SELL_PRESSURE] = sell_pressure
    out[OUT_ORDER] = order
    out[OUT_TICKS] = ticks


@njit(cache=True, error_model="numpy")
def _vwaps(
    ts: IntArray,
    close: FloatArray,
    volume: FloatArray,
    price: FloatArray,
    vw: int,
    session_start_ns: int,
    session_start: int,
    out: FloatArray,
) -> None:
    """Session-anchored VWAP deviation (the session's first bar: ``session_start`` when
    >= 0, else the first bar stamped at or after ``session_start_ns``) and the rolling one."""
    n = close.size
    c = close[n - 1]
    start = session_start
    if start < 0:  # binary search: first ts >= session_start_ns (ts sorted)
        lo, hi = 0, n
        while lo < hi:
            mid = (lo + hi) // 2
            if ts[mid] < session_start_ns:
                lo = mid + 1
            else:
                hi = mid
        start = lo
    if start >= n:  # cannot happen for a session holding the last bar; guard the index
        start = n - 1
    cum_pv = 0.0
    cum_v = 0.0
    for i in range(start, n):  # np.cumsum's order: sequential
        cum_pv += price[i] * volume[i]
        cum_v += volume[i]
    anchor = cum_pv / cum_v if cum_v > 0 else price[n - 1]
    out[OUT_VWAP_SESSION] = _ratio(c, anchor) - 1.0
    vwap_dev = NAN
    if n >= vw:
        pv = np.empty(vw)
        for j in range(vw):
            pv[j] = price[n - vw + j] * volume[n - vw + j]
        v_sum = np_sum(volume, n - vw, vw)
        # No volume in the window: the plain mean price.
        vwap = np_sum(pv, 0, vw) / v_sum if v_sum > 0 else np_sum(price, n - vw, vw) / vw
        vwap_dev = _ratio(c, vwap) - 1.0
    out[OUT_VWAP_WINDOW] = vwap_dev


@njit(cache=True, error_model="numpy")
def _profile(
    close: FloatArray, volume: FloatArray, price: FloatArray, pw: int, bins: int, out: FloatArray
) -> None:
    """Volume profile of the last ``pw`` bars (see :func:`~.price_levels.volume_profile_last`):
    POC distance and concentration."""
    n = close.size
    poc_dist = concentration = NAN
    if n >= pw:
        s = n - pw
        lo = price[s]
        hi = price[s]
        finite = True
        for i in range(s, n):
            p = price[i]
            if not np.isfinite(p):
                finite = False
            lo = _nan_min(lo, p)
            hi = _nan_max(hi, p)
        # A non-finite price has no bin (numpy's bincount rejects its index): no profile.
        if finite:
            width = hi - lo
            scale = bins / width if width > 0 else 0.0
            hist = np.zeros(bins)
            for i in range(s, n):
                which = int((price[i] - lo) * scale)
                if which > bins - 1:
                    which = bins - 1
                hist[which] += volume[i]
            total = np_sum(hist, 0, bins)
            if total > 0:
                top = 0
                for b in range(1, bins):
                    if hist[b] > hist[top]:
                        top = b
                poc = lo + (top + 0.5) * width / bins if width > 0 else lo
                shares = np.empty(bins)
                for b in range(bins):
                    share = hist[b] / total
                    shares[b] = share**2
                concentration = np_sum(shares, 0, bins)
                poc_dist = _ratio(close[n - 1], poc) - 1.0
    out[OUT_POC_DIST] = poc_dist
    out[OUT_CONCENTRATION] = concentration


@njit(cache=True, error_model="numpy")
def _levels(high: FloatArray, low: FloatArray, close: FloatArray, level: int, out: FloatArray):
    """Support/resistance from the ``level`` bars before the last one, and breakouts."""
    n = close.size
    support_dist = resistance_dist = up = down = NAN
    if n > level:
        c = close[n - 1]
        resistance = high[n - level - 1]
        support = low[n - level - 1]
        for i in range(n - level, n - 1):
            resistance = _nan_max(resistance, high[i])
            support = _nan_min(support, low[i])
        support_dist = _ratio(c, support) - 1.0
        resistance_dist = _ratio(resistance, c) - 1.0
        up = 1.0 if c > resistance else 0.0
        down = 1.0 if c < support else 0.0
    out[OUT_SUPPORT] = support_dist
    out[OUT_RESISTANCE] = resistance_dist
    out[OUT_BREAKOUT_UP] = up
    out[OUT_BREAKOUT_DOWN] = down


@njit(cache=True, error_model="numpy")
def _amihud(close: FloatArray, volume: FloatArray, window: int) -> float:
    """Amihud illiquidity of the window ending at the last bar (see
    :func:`~.liquidity.amihud_illiquidity`)."""
    n = close.size
    if n < window + 1:
        return NAN
    base = n - window - 1
    ratio = np.empty(window)
    traded = 0
    prev = np.log(close[base])
    for j in range(window):
        c = close[base + 1 + j]
        cur = np.log(c)
        ret = abs(cur - prev)
        prev = cur
        dollar = c * volume[n - window + j]
        if dollar > 0:
            ratio[j] = ret / dollar * 1e6
            traded += 1
        else:
            ratio[j] = 0.0
    if traded == 0:
        return NAN
    return np_sum(ratio, 0, window) / traded


@njit(cache=True, error_model="numpy")
def micro_last_kernel(
    ts: IntArray,
    high: FloatArray,
    low: FloatArray,
    close: FloatArray,
    volume: FloatArray,
    price: FloatArray,
    quote_ts: IntArray,
    quote_bid: FloatArray,
    quote_ask: FloatArray,
    quote_bid_size: FloatArray,
    quote_ask_size: FloatArray,
    bar_bid: float,
    bar_ask: float,
    quote_mode: int,
    max_age_ns: int,
    session_start_ns: int,
    session_start: int,
    params: IntArray,
    out: FloatArray,
) -> None:
    """All :data:`N_OUT` features of the last bar into ``out`` (slot ``OUT_QUOTE_IMBALANCE``
    is NaN unless ``quote_mode`` is ``QUOTES_TABLE``): ``quote_*`` are the quote table's
    columns, stamped ``quote_ts`` (sorted); ``bar_bid``/``bar_ask``
    are the last bar's quote columns (``QUOTES_BAR``). Needs at least one bar."""
    n = close.size
    c = close[n - 1]
    sw = params[P_SPREAD]

    cs = _corwin_schultz(high, low, close, sw) if n >= sw + 1 else NAN
    abs_spread, rel_spread = cs * c, cs
    imbalance = NAN
    q_abs = q_rel = NAN
    if quote_mode == QUOTES_TABLE:
        t = ts[n - 1]
        # searchsorted(quote_ts, t, side="right") - 1: the latest quote at or before t.
        lo, hi = 0, quote_ts.size
        while lo < hi:
            mid = (lo + hi) // 2
            if quote_ts[mid] <= t:
                lo = mid + 1
            else:
                hi = mid
        at = lo - 1
        if at >= 0 and t - quote_ts[at] <= max_age_ns:
            bid, ask = quote_bid[at], quote_ask[at]
            bid_size, ask_size = quote_bid_size[at], quote_ask_size[at]
            size = bid_size + ask_size
            imbalance = (bid_size - ask_size) / size if size > 0 else 0.0
            if bid != bid:
                imbalance = NAN
            q_abs = ask - bid
            q_rel = _ratio(ask - bid, 0.5 * (ask + bid))
    elif quote_mode == QUOTES_BAR:
        q_abs = bar_ask - bar_bid
        q_rel = _ratio(bar_ask - bar_bid, 0.5 * (bar_ask + bar_bid))
    if np.isfinite(q_rel):
        abs_spread, rel_spread = q_abs, q_rel
    out[OUT_QUOTE_IMBALANCE] = imbalance
    out[OUT_SPREAD_ABS] = abs_spread
    out[OUT_SPREAD_REL] = rel_spread
    out[OUT_CS] = cs
    out[OUT_ROLL] = _roll(close, sw)

    _order_flow(high, low, close, volume, params[P_FLOW], params[P_LOOKBACK], out)
    _vwaps(ts, close, volume, price, params[P_VWAP], session_start_ns, session_start, out)
    _profile(close, volume, price, params[P_PROFILE], params[P_BINS], out)
    _levels(high, low, close, params[P_LEVEL], out)
    out[OUT_AMIHUD] = _amihud(close, volume, params[P_AMIHUD])
