"""Microstructure inputs as arrays: UTC nanosecond stamps, local session days, and the
latest quote known at each bar close (an as-of join by ``searchsorted``).

:func:`~.microstructure.microstructure_columns` and the online engine's last-row path work
on these arrays, so neither needs pandas (``merge_asof``, ``.dt`` accessors) per call.
"""

from __future__ import annotations

import datetime as dt
from functools import lru_cache
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]
_NS_PER_DAY = 86_400 * 1_000_000_000


class MicrostructureInputError(ValueError):
    """Bars or quotes handed to :func:`microstructure_features` break a precondition."""


def local_days(ts_ns: NDArray[np.int64], tz: str) -> NDArray[np.int64]:
    """Local calendar day (days since 1970-01-01) of UTC nanosecond stamps in ``tz``.

    When the stamps span less than 28 days and both ends have the same UTC offset, no
    daylight-saving change lies between them (a zone's changes are months apart, so two
    could not cancel out) and the offset is applied as one integer, which is what the
    online engine's short buffers get; otherwise pandas converts every stamp."""
    if ts_ns.size == 0:
        return ts_ns.astype(np.int64)
    first, last = int(ts_ns[0]), int(ts_ns[-1])
    zone = _zone(tz)
    off_first = _utc_offset_ns(first, zone)
    if last - first < 28 * _NS_PER_DAY and off_first == _utc_offset_ns(last, zone):
        return (ts_ns + off_first) // _NS_PER_DAY
    local = pd.DatetimeIndex(ts_ns.astype("datetime64[ns]")).tz_localize("UTC").tz_convert(tz)
    return local.tz_localize(None).asi8 // _NS_PER_DAY


@lru_cache(maxsize=16)
def _zone(tz: str) -> ZoneInfo:
    return ZoneInfo(tz)


def _utc_offset_ns(ts_ns: int, zone: ZoneInfo) -> int:
    stamp = dt.datetime.fromtimestamp(ts_ns // 1_000_000_000, tz=zone)
    offset = stamp.utcoffset() or dt.timedelta(0)
    return int(offset.total_seconds()) * 1_000_000_000


def to_utc_ns(ts: Any) -> NDArray[np.int64]:
    """UTC nanosecond stamps of a timestamp column (tz-aware, or naive read as UTC)."""
    index = pd.DatetimeIndex(ts)
    index = index.tz_localize("UTC") if index.tz is None else index.tz_convert("UTC")
    return index.as_unit("ns").asi8


class MicroBars(NamedTuple):
    """One symbol's bars of one timeframe as arrays, oldest first."""

    ts: NDArray[np.int64]  # close stamps, UTC nanoseconds
    high: FloatArray
    low: FloatArray
    close: FloatArray
    volume: FloatArray
    price: FloatArray  # each bar's traded price: its vwap, else the typical price
    bid: FloatArray | None = None  # bar quote columns, used when no quote table is given
    ask: FloatArray | None = None


class QuoteArrays(NamedTuple):
    """One symbol's quotes as arrays sorted by ``ts`` (UTC nanoseconds)."""

    ts: NDArray[np.int64]
    bid: FloatArray
    ask: FloatArray
    bid_size: FloatArray
    ask_size: FloatArray


def quote_arrays(quotes: pd.DataFrame) -> QuoteArrays:
    """Check a quote table (quote contract) and turn it into sorted arrays."""
    missing = [c for c in ("ts", "bid", "ask", "bid_size", "ask_size") if c not in quotes.columns]
    if missing:
        raise MicrostructureInputError(
            f"quotes lack columns {missing}: pass quotes in the quote contract "
            "(symbol, ts, bid, ask, bid_size, ask_size)"
        )
    if "symbol" in quotes.columns and quotes["symbol"].nunique() > 1:
        raise MicrostructureInputError(
            f"quotes hold {quotes['symbol'].nunique()} symbols: pass only the quotes of the "
            "bars' symbol"
        )
    ts = to_utc_ns(quotes["ts"])
    order = np.argsort(ts, kind="stable")
    cols = (quotes[c].to_numpy(np.float64)[order] for c in ("bid", "ask", "bid_size", "ask_size"))
    return QuoteArrays(ts[order], *cols)


def quoted_spread(
    ts: NDArray[np.int64], quotes: QuoteArrays, max_age_ns: int
) -> tuple[FloatArray, FloatArray, FloatArray]:
    """Latest quote at or before each bar close (no older than ``max_age``): absolute
    spread, relative spread (to the mid) and size imbalance (bid − ask)/(bid + ask)."""
    if not quotes.ts.size:
        nan = np.full(ts.shape, np.nan)
        return nan, nan.copy(), nan.copy()
    at = np.searchsorted(quotes.ts, ts, side="right") - 1
    safe = np.maximum(at, 0)
    fresh = (at >= 0) & (ts - quotes.ts[safe] <= max_age_ns)
    bid = np.where(fresh, quotes.bid[safe], np.nan)
    ask = np.where(fresh, quotes.ask[safe], np.nan)
    bid_size = np.where(fresh, quotes.bid_size[safe], np.nan)
    ask_size = np.where(fresh, quotes.ask_size[safe], np.nan)
    size = bid_size + ask_size
    with np.errstate(invalid="ignore", divide="ignore"):
        imbalance = np.where(size > 0, (bid_size - ask_size) / size, 0.0)
        imbalance = np.where(np.isnan(bid), np.nan, imbalance)
        return ask - bid, (ask - bid) / (0.5 * (ask + bid)), imbalance
