"""The last row of :func:`~.microstructure.microstructure_columns`, for the online engine.

The batch function evaluates every rolling window of a series; a streaming update needs
only the window that ends at the newest bar. This module computes exactly that, with the
same formulas on the same trailing bars (each window on its own, no running state), so
its values equal the batch row's up to the order of floating-point summation (~1e-16
relative). ``test_microstructure.py::test_last_row_equals_the_batch_row`` checks every
column against the batch function; the online-vs-batch test checks the engine.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd

from signal_pipeline.features.liquidity import corwin_schultz_pairs
from signal_pipeline.features.microstructure import bar_buy_volume, tick_rule_signs
from signal_pipeline.features.microstructure_inputs import (
    FloatArray,
    MicroBars,
    QuoteArrays,
    local_days,
)
from signal_pipeline.features.price_levels import volume_profile_last

_NAN = float("nan")


def _div(num: float, den: float, when_zero: float = _NAN) -> float:
    return num / den if den > 0 else when_zero


def _quote_last(bars: MicroBars, quotes: QuoteArrays, max_age_ns: int) -> tuple[float, ...]:
    """Quoted (absolute spread, relative spread, size imbalance) at the last bar's close."""
    ts = int(bars.ts[-1])
    at = int(np.searchsorted(quotes.ts, ts, side="right")) - 1
    if at < 0 or ts - int(quotes.ts[at]) > max_age_ns:
        return _NAN, _NAN, _NAN
    bid, ask = float(quotes.bid[at]), float(quotes.ask[at])
    bid_size, ask_size = float(quotes.bid_size[at]), float(quotes.ask_size[at])
    size = bid_size + ask_size
    imbalance = (bid_size - ask_size) / size if size > 0 else 0.0
    if bid != bid:
        imbalance = _NAN
    with np.errstate(invalid="ignore", divide="ignore"):
        rel = float(np.float64(ask - bid) / np.float64(0.5 * (ask + bid)))
    return ask - bid, rel, imbalance


def microstructure_last(
    bars: MicroBars, quotes: QuoteArrays | None, params: Mapping[str, Any]
) -> dict[str, float]:
    """Microstructure features of the LAST bar of ``bars`` (a trailing buffer holding at
    least :func:`~.microstructure.microstructure_warmup` bars and the current session),
    named and ordered as :func:`~.microstructure.microstructure_columns` names them."""
    n = bars.close.size
    high, low, close, volume, price = bars.high, bars.low, bars.close, bars.volume, bars.price
    c = float(close[-1])
    sw, fw = int(params["spread_window"]), int(params["flow_window"])
    lw = int(params["volume_lookback"])
    out: dict[str, float] = {}

    cs = _NAN
    if n >= sw + 1:
        k = sw + 1
        cs = float(corwin_schultz_pairs(high[-k:], low[-k:], close[-k:])[1:].sum()) / sw
    abs_spread, rel_spread = cs * c, cs
    quote: tuple[float, ...] | None = None
    if quotes is not None:
        quote = _quote_last(bars, quotes, pd.Timedelta(params["quote_max_age"]).value)
        out["quote_imbalance"] = quote[2]
    elif bars.bid is not None and bars.ask is not None:
        bid, ask = float(bars.bid[-1]), float(bars.ask[-1])
        with np.errstate(invalid="ignore", divide="ignore"):
            quote = (ask - bid, float(np.float64(ask - bid) / np.float64(0.5 * (ask + bid))))
    if quote is not None and np.isfinite(quote[1]):
        abs_spread, rel_spread = quote[0], quote[1]
    out["spread_abs"] = abs_spread
    out["spread_rel"] = rel_spread
    out[f"cs_spread_{sw}"] = cs
    out[f"roll_spread_{sw}"] = _roll_last(close, sw)

    buy_pressure = sell_pressure = order = ticks = _NAN
    if n >= fw:
        v = volume[-fw:]
        buy = bar_buy_volume(high[-fw:], low[-fw:], close[-fw:], v)
        buy_sum, vol_sum = float(buy.sum()), float(v.sum())
        sell_sum = float((v - buy).sum())
        # The tick rule carries the sign of the latest price change, however old: all bars.
        signed = float((tick_rule_signs(close)[-fw:] * v).sum())
        order = (buy_sum - sell_sum) / vol_sum if vol_sum > 0 else 0.0
        ticks = signed / vol_sum if vol_sum > 0 else 0.0
        if n >= lw:
            normal = float(volume[-lw:].sum()) / lw
            buy_pressure = _div(buy_sum / fw, normal)
            sell_pressure = _div(sell_sum / fw, normal)
    out[f"buy_pressure_{fw}_{lw}"] = buy_pressure
    out[f"sell_pressure_{fw}_{lw}"] = sell_pressure
    out[f"order_imbalance_{fw}"] = order
    out[f"tick_imbalance_{fw}"] = ticks

    # The session VWAP runs from the first bar of the last bar's local day.
    days = local_days(bars.ts, str(params["session_tz"]))
    start = int(np.searchsorted(days, days[-1]))
    cum_pv = float(np.cumsum(price[start:] * volume[start:])[-1])
    cum_v = float(np.cumsum(volume[start:])[-1])
    out["vwap_dev_session"] = c / (cum_pv / cum_v if cum_v > 0 else float(price[-1])) - 1.0
    vw = int(params["vwap_window"])
    vwap_dev = _NAN
    if n >= vw:
        p, v = price[-vw:], volume[-vw:]
        v_sum = float(v.sum())
        vwap = float((p * v).sum()) / v_sum if v_sum > 0 else float(p.sum()) / vw
        vwap_dev = c / vwap - 1.0
    out[f"vwap_dev_{vw}"] = vwap_dev

    pw, bins = int(params["profile_window"]), int(params["profile_bins"])
    poc = concentration = _NAN
    if n >= pw:
        poc, concentration = volume_profile_last(price[-pw:], volume[-pw:], bins)
    out[f"vp_poc_dist_{pw}_{bins}"] = c / poc - 1.0
    out[f"vp_concentration_{pw}_{bins}"] = concentration

    level = int(params["level_window"])
    support_dist = resistance_dist = up = down = _NAN
    if n > level:
        resistance = float(high[-level - 1 : -1].max())
        support = float(low[-level - 1 : -1].min())
        support_dist, resistance_dist = c / support - 1.0, resistance / c - 1.0
        up, down = float(c > resistance), float(c < support)
    out[f"support_dist_{level}"] = support_dist
    out[f"resistance_dist_{level}"] = resistance_dist
    out[f"breakout_up_{level}"] = up
    out[f"breakout_down_{level}"] = down

    aw = int(params["amihud_window"])
    out[f"amihud_{aw}"] = _amihud_last(close, volume, aw)
    return out


def _roll_last(close: FloatArray, window: int) -> float:
    """Roll spread of the window ending at the last bar (see :func:`~.liquidity.roll_spread`)."""
    if close.size < window + 2 or window < 2:
        return _NAN
    ret = np.diff(np.log(close[-window - 2 :]))
    x, y = ret[1:], ret[:-1]
    cov = float(((x - x.mean()) * (y - y.mean())).sum()) / (window - 1)
    return 2.0 * float(np.sqrt(max(-cov, 0.0))) if cov == cov else _NAN


def _amihud_last(close: FloatArray, volume: FloatArray, window: int) -> float:
    """Amihud illiquidity of the window ending at the last bar (see
    :func:`~.liquidity.amihud_illiquidity`)."""
    if close.size < window + 1:
        return _NAN
    c = close[-window - 1 :]
    ret = np.abs(np.diff(np.log(c)))
    dollar = c[1:] * volume[-window:]
    traded = dollar > 0
    if not traded.any():
        return _NAN
    with np.errstate(invalid="ignore", divide="ignore"):
        ratio = np.where(traded, ret / dollar * 1e6, 0.0)
    return float(ratio.sum()) / float(traded.sum())
