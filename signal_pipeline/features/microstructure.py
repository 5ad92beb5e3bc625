"""Market-microstructure features of one symbol's bars: spreads, order flow, VWAP, liquidity.

:func:`microstructure_features` is the entry point; every estimator is also a pure function
of numpy arrays so it can be tested on a hand-computed case. All features are causal: the
value at row ``i`` uses rows ``<= i`` only, so appending bars never changes an earlier row.
Rolling windows are counted in bars of whatever timeframe is passed in. Volume profile and
price levels (support/resistance, breakouts) live in :mod:`.price_levels`.

Spread estimators from bars and Amihud illiquidity live in :mod:`.liquidity`; the rest:

- Tick rule (Lee & Ready 1991, "Inferring Trade Direction from Intraday Data", *Journal of
  Finance* 46(2)): a price above the previous one is a buy, below a sell, unchanged takes
  the previous classification.
- Bar-based buy volume: ``volume · (close − low) / (high − low)``, i.e. the close-location
  value of Chaikin's accumulation/distribution line, CLV = (2C − H − L)/(H − L), mapped to
  a buy fraction (CLV + 1)/2; half-half when ``high == low``.
- VWAP: Σ price·volume / Σ volume, anchored at each session's open or over a rolling window.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from signal_pipeline.features.liquidity import (
    amihud_illiquidity,
    corwin_schultz_spread,
    roll_spread,
    rolling_mean,
    rolling_sum,
)
from signal_pipeline.features.microstructure_inputs import (
    MicroBars,
    MicrostructureInputError,
    QuoteArrays,
    local_days,
    quote_arrays,
    quoted_spread,
    to_utc_ns,
)
from signal_pipeline.features.price_levels import support_resistance, volume_profile

__all__ = [
    "DEFAULT_MICROSTRUCTURE_PARAMS",
    "MicroBars",
    "MicrostructureInputError",
    "QuoteArrays",
    "bar_buy_volume",
    "local_days",
    "microstructure_columns",
    "microstructure_features",
    "microstructure_params",
    "microstructure_warmup",
    "quote_arrays",
    "session_vwap",
    "tick_rule_signs",
    "to_utc_ns",
]

FloatArray = NDArray[np.float64]

DEFAULT_MICROSTRUCTURE_PARAMS: dict[str, Any] = {
    "spread_window": 20,  # bars per Corwin–Schultz / Roll estimate
    "flow_window": 20,  # bars of order flow summed
    "volume_lookback": 100,  # bars of "normal" volume that buy/sell pressure is relative to
    "vwap_window": 20,  # bars of the rolling VWAP
    "profile_window": 120,  # bars in the rolling volume profile
    "profile_bins": 20,  # price bins of the volume profile
    "level_window": 60,  # bars whose extremes are support / resistance
    "amihud_window": 20,  # bars averaged in Amihud illiquidity
    "quote_max_age": "5min",  # older quotes are stale: the spread falls back to Corwin–Schultz
    "session_tz": "America/New_York",  # the session (trading day) that anchors the session VWAP
}


def bar_buy_volume(
    high: FloatArray, low: FloatArray, close: FloatArray, volume: FloatArray
) -> FloatArray:
    """Volume attributed to buyers: ``volume · (close − low)/(high − low)`` (½ if flat)."""
    span = high - low
    with np.errstate(invalid="ignore", divide="ignore"):
        location = np.where(span > 0, (close - low) / span, 0.5)
    return volume * location


def tick_rule_signs(close: FloatArray) -> FloatArray:
    """+1 (buy) / −1 (sell) per bar from the tick rule; zero changes carry the last sign,
    and bars before the first price change are 0 (unclassified)."""
    change = np.zeros(close.shape)
    change[1:] = np.sign(np.diff(close))
    # Index of the latest bar with a price change at or before each bar (0 when none:
    # change[0] is 0, so those bars stay unclassified).
    last = np.maximum.accumulate(np.where(change != 0, np.arange(close.size), 0))
    return change[last]


def session_vwap(session: NDArray[Any], price: FloatArray, volume: FloatArray) -> FloatArray:
    """VWAP anchored at each session's first bar: cumulative Σ price·volume / Σ volume
    within the session (``session`` labels the bars' sessions, e.g. their local dates;
    bars of one session are contiguous). Before any volume trades in a session it is the
    bar's own price."""
    pv = price * volume
    cum_pv = np.empty(price.shape)
    cum_v = np.empty(price.shape)
    # Running sums restart at each session: one cumsum per session, so a value never
    # depends on sessions before its own (a buffer from the session open reproduces it).
    for lo, hi in _segments(session):
        np.cumsum(pv[lo:hi], out=cum_pv[lo:hi])
        np.cumsum(volume[lo:hi], out=cum_v[lo:hi])
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(cum_v > 0, cum_pv / cum_v, price)


def _segments(labels: NDArray[Any]) -> list[tuple[int, int]]:
    """(start, stop) of each run of equal consecutive labels."""
    n = len(labels)
    if n == 0:
        return []
    starts = np.flatnonzero(np.r_[True, labels[1:] != labels[:-1]])
    stops = np.r_[starts[1:], n]
    return list(zip(starts.tolist(), stops.tolist(), strict=True))


def _check_bars(bars: pd.DataFrame) -> None:
    needed = ["ts", "high", "low", "close", "volume"]
    missing = [c for c in needed if c not in bars.columns]
    if missing:
        raise MicrostructureInputError(
            f"bars lack columns {missing}: pass bars in the bar contract "
            "(symbol, ts, open, high, low, close, volume)"
        )
    if "symbol" in bars.columns and bars["symbol"].nunique() > 1:
        raise MicrostructureInputError(
            f"bars hold {bars['symbol'].nunique()} symbols: call microstructure_features "
            "once per symbol (e.g. inside a groupby)"
        )
    ts = bars["ts"]
    if len(ts) > 1 and not ts.is_monotonic_increasing:
        raise MicrostructureInputError(
            "bars are not sorted by ts: sort them (bars.sort_values('ts')) before computing "
            "causal features"
        )


def microstructure_params(params: Mapping[str, Any] | None = None) -> dict[str, Any]:
    """The defaults with ``params`` on top; unknown keys raise."""
    p = {**DEFAULT_MICROSTRUCTURE_PARAMS, **(params or {})}
    unknown = sorted(set(p) - set(DEFAULT_MICROSTRUCTURE_PARAMS))
    if unknown:
        raise MicrostructureInputError(
            f"unknown microstructure params {unknown}: known ones are "
            f"{sorted(DEFAULT_MICROSTRUCTURE_PARAMS)}"
        )
    return p


def microstructure_features(
    bars: pd.DataFrame,
    quotes: pd.DataFrame | None = None,
    params: Mapping[str, Any] | None = None,
) -> pd.DataFrame:
    """Microstructure features of ONE symbol's bars of ONE timeframe (sorted by ``ts``).

    Returns a float64 frame on ``bars.index``. Column names (defaults in brackets; ``w`` etc.
    come from ``params``, see :data:`DEFAULT_MICROSTRUCTURE_PARAMS`):

    - ``spread_abs``, ``spread_rel``: quoted spread (ask − bid, and over the mid) from the
      latest quote at the bar close when ``quotes`` (or bar ``bid``/``ask`` columns) are
      given and fresh; otherwise the Corwin–Schultz estimate (``spread_abs`` = rel × close).
    - ``quote_imbalance``: (bid_size − ask_size)/(bid_size + ask_size); only with ``quotes``.
    - ``cs_spread_{spread_window}`` [20], ``roll_spread_{spread_window}``: estimators from bars.
    - ``buy_pressure_{flow_window}_{volume_lookback}`` [20_100], ``sell_pressure_…``: mean
      bar-based buy (sell) volume over the flow window divided by the mean total volume over
      ``volume_lookback`` bars (0.5 each = normal volume, evenly split).
    - ``order_imbalance_{flow_window}``: (buy − sell)/total volume from the bar split, [−1, 1].
    - ``tick_imbalance_{flow_window}``: Σ tick-rule sign · volume / Σ volume, [−1, 1].
    - ``vwap_dev_session``: close / session-anchored VWAP − 1; ``vwap_dev_{vwap_window}``:
      close / rolling VWAP − 1 (bar ``vwap`` column as each bar's price when present, else
      the typical price (H+L+C)/3).
    - ``vp_poc_dist_{profile_window}_{profile_bins}`` [120_20],
      ``vp_concentration_{profile_window}_{profile_bins}``: see :func:`volume_profile`.
    - ``support_dist_{level_window}`` [60], ``resistance_dist_{level_window}``,
      ``breakout_up_{level_window}``, ``breakout_down_{level_window}``: see
      :func:`support_resistance`.
    - ``amihud_{amihud_window}`` [20]: see :func:`amihud_illiquidity`.
    """
    p = microstructure_params(params)
    _check_bars(bars)
    high = bars["high"].to_numpy(dtype=np.float64)
    low = bars["low"].to_numpy(dtype=np.float64)
    close = bars["close"].to_numpy(dtype=np.float64)
    has_quotes = {"bid", "ask"} <= set(bars.columns)
    micro = MicroBars(
        to_utc_ns(bars["ts"]),
        high,
        low,
        close,
        bars["volume"].to_numpy(dtype=np.float64),
        bars["vwap"].to_numpy(dtype=np.float64)
        if "vwap" in bars.columns
        else (high + low + close) / 3.0,
        bars["bid"].to_numpy(dtype=np.float64) if has_quotes else None,
        bars["ask"].to_numpy(dtype=np.float64) if has_quotes else None,
    )
    q = quote_arrays(quotes) if quotes is not None else None
    return pd.DataFrame(microstructure_columns(micro, q, p), index=bars.index)


def microstructure_columns(
    bars: MicroBars, quotes: QuoteArrays | None, params: Mapping[str, Any]
) -> dict[str, FloatArray]:
    """The columns of :func:`microstructure_features` from arrays (``params`` complete, see
    :func:`microstructure_params`), in its column order. The online engine's one-row
    version is :func:`~.microstructure_online.microstructure_last`."""
    high, low, close, volume, price = bars.high, bars.low, bars.close, bars.volume, bars.price
    sw, fw = int(params["spread_window"]), int(params["flow_window"])
    lw = int(params["volume_lookback"])
    out: dict[str, FloatArray] = {}
    cs = corwin_schultz_spread(high, low, close, sw)
    abs_spread, rel_spread = cs * close, cs.copy()
    if quotes is not None or (bars.bid is not None and bars.ask is not None):
        if quotes is not None:
            max_age = pd.Timedelta(params["quote_max_age"]).value
            q_abs, q_rel, imbalance = quoted_spread(bars.ts, quotes, max_age)
            out["quote_imbalance"] = imbalance
        else:
            bid, ask = bars.bid, bars.ask
            q_abs, q_rel = ask - bid, (ask - bid) / (0.5 * (ask + bid))
        quoted = np.isfinite(q_rel)
        abs_spread = np.where(quoted, q_abs, abs_spread)
        rel_spread = np.where(quoted, q_rel, rel_spread)
    out["spread_abs"] = abs_spread
    out["spread_rel"] = rel_spread
    out[f"cs_spread_{sw}"] = cs
    out[f"roll_spread_{sw}"] = roll_spread(close, sw)

    buy = bar_buy_volume(high, low, close, volume)
    sell = volume - buy
    normal_volume = rolling_mean(volume, lw)
    buy_sum, sell_sum, vol_sum = (rolling_sum(x, fw) for x in (buy, sell, volume))
    signed = rolling_sum(tick_rule_signs(close) * volume, fw)
    with np.errstate(invalid="ignore", divide="ignore"):
        out[f"buy_pressure_{fw}_{lw}"] = np.where(
            normal_volume > 0, buy_sum / fw / normal_volume, np.nan
        )
        out[f"sell_pressure_{fw}_{lw}"] = np.where(
            normal_volume > 0, sell_sum / fw / normal_volume, np.nan
        )
        order = np.where(vol_sum > 0, (buy_sum - sell_sum) / vol_sum, 0.0)
        ticks = np.where(vol_sum > 0, signed / vol_sum, 0.0)
    order[np.isnan(vol_sum)] = np.nan
    ticks[np.isnan(vol_sum)] = np.nan
    out[f"order_imbalance_{fw}"] = order
    out[f"tick_imbalance_{fw}"] = ticks

    # Local calendar day of each bar close (16:00 ET closes the session on its own date).
    session = local_days(bars.ts, str(params["session_tz"]))
    out["vwap_dev_session"] = close / session_vwap(session, price, volume) - 1.0
    vw = int(params["vwap_window"])
    pv_sum, v_sum = rolling_sum(price * volume, vw), rolling_sum(volume, vw)
    with np.errstate(invalid="ignore", divide="ignore"):
        rolling_vwap = np.where(v_sum > 0, pv_sum / v_sum, rolling_mean(price, vw))
    out[f"vwap_dev_{vw}"] = close / rolling_vwap - 1.0

    pw, bins = int(params["profile_window"]), int(params["profile_bins"])
    poc, concentration = volume_profile(price, volume, pw, bins)
    out[f"vp_poc_dist_{pw}_{bins}"] = close / poc - 1.0
    out[f"vp_concentration_{pw}_{bins}"] = concentration

    level = int(params["level_window"])
    levels = support_resistance(high, low, close, level)
    out[f"support_dist_{level}"] = levels.support_dist
    out[f"resistance_dist_{level}"] = levels.resistance_dist
    out[f"breakout_up_{level}"] = levels.breakout_up
    out[f"breakout_down_{level}"] = levels.breakout_down

    aw = int(params["amihud_window"])
    out[f"amihud_{aw}"] = amihud_illiquidity(close, volume, aw)
    return {key: np.asarray(value, dtype=np.float64) for key, value in out.items()}


def microstructure_warmup(params: Mapping[str, Any] | None = None) -> int:
    """Bars of history after which every rolling feature's last row equals the full-history
    value (the online engine keeps at least this many bars). Two exceptions, documented: the
    session VWAP needs the bars since the session opened, and the tick rule needs one price
    change before the flow window (a run of unchanged closes carries the older sign)."""
    p = {**DEFAULT_MICROSTRUCTURE_PARAMS, **(params or {})}
    return max(
        int(p["spread_window"]) + 2,
        int(p["flow_window"]) + 1,
        int(p["volume_lookback"]),
        int(p["vwap_window"]),
        int(p["profile_window"]),
        int(p["level_window"]) + 1,
        int(p["amihud_window"]) + 1,
    )
