"""The last row of :func:`~.microstructure.microstructure_columns`, for the online engine.

The batch function evaluates every rolling window of a series; a streaming update needs
only the window that ends at the newest bar. This module computes exactly that, with the
same formulas on the same trailing bars (each window on its own, no running state), in one
compiled call (:func:`~.microstructure_kernels.micro_last_kernel`): sums in numpy's own
pairwise order, so values equal the batch row's up to the last-place differences of
``log``/``exp`` between maths libraries. Per call it costs a few microseconds: the
parameters (column names, packed windows, quote age) are resolved once per distinct
``params`` and cached, and the session's first bar comes from cached local-day bounds
instead of converting every stamp. ``test_microstructure_online.py`` checks every column
against the batch function at every bar of awkward streams (untraded and flat stretches,
quote holes, daylight-saving changes). One deliberate difference from the numpy code this
replaced: a profile window holding a non-finite price gives NaN profile values instead of
numpy's ``bincount`` error.

:func:`microstructure_last` returns the familiar name → value dict;
:func:`microstructure_last_values` returns the same values as a float64 vector, in the
order of :func:`microstructure_last_names`, for callers that keep the names once.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Mapping
from typing import Any, NamedTuple
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd
from numpy.typing import NDArray

from signal_pipeline.features import microstructure_kernels as mk
from signal_pipeline.features.microstructure_inputs import (
    MicroBars,
    MicrostructureInputError,
    QuoteArrays,
    local_days,
)

__all__ = ["microstructure_last", "microstructure_last_names", "microstructure_last_values"]

_F8 = np.dtype(np.float64)
_I8 = np.dtype(np.int64)
_NS_PER_S = 1_000_000_000
_EMPTY_TS = np.empty(0, dtype=np.int64)
_EMPTY = np.empty(0)
_EPOCH = dt.datetime(1970, 1, 1, tzinfo=dt.UTC)

# Integer parameters in the kernel's packing order (microstructure_kernels.P_*).
_WINDOWS = ("spread_window", "flow_window", "volume_lookback", "vwap_window",
            "profile_window", "profile_bins", "level_window", "amihud_window")  # fmt: skip


class _Config(NamedTuple):
    windows: NDArray[np.int64]  # packed as microstructure_kernels.P_*
    max_age_ns: int
    tz: str
    names: tuple[str, ...]  # all N_OUT slots, quote_imbalance first


_CONFIGS: dict[Any, _Config] = {}
_MAX_CONFIGS = 64


def _make_config(params: Mapping[str, Any]) -> _Config:
    windows = [int(params[k]) for k in _WINDOWS]
    small = [f"{k}={w}" for k, w in zip(_WINDOWS, windows, strict=True) if w < 1]
    if small:
        raise MicrostructureInputError(
            f"microstructure params {small}: windows and profile_bins must be >= 1"
        )
    sw, fw, lw, vw, pw, bins, level, aw = windows
    names = ("quote_imbalance", "spread_abs", "spread_rel", f"cs_spread_{sw}",
             f"roll_spread_{sw}", f"buy_pressure_{fw}_{lw}", f"sell_pressure_{fw}_{lw}",
             f"order_imbalance_{fw}", f"tick_imbalance_{fw}", "vwap_dev_session",
             f"vwap_dev_{vw}", f"vp_poc_dist_{pw}_{bins}", f"vp_concentration_{pw}_{bins}",
             f"support_dist_{level}", f"resistance_dist_{level}", f"breakout_up_{level}",
             f"breakout_down_{level}", f"amihud_{aw}")  # fmt: skip
    assert len(names) == mk.N_OUT
    packed = np.array(windows, dtype=np.int64)
    packed.flags.writeable = False  # shared by every call with these params
    return _Config(
        packed,
        int(pd.Timedelta(params["quote_max_age"]).value),
        str(params["session_tz"]),
        names,
    )


def _config(params: Mapping[str, Any]) -> _Config:
    """The resolved ``params``, cached by their items (a dict of the same contents hits)."""
    try:
        key = tuple(params.items())
        cfg = _CONFIGS.get(key)
    except TypeError:  # an unhashable value: resolve it every call
        return _make_config(params)
    if cfg is None:
        cfg = _make_config(params)
        if len(_CONFIGS) >= _MAX_CONFIGS:
            _CONFIGS.clear()
        _CONFIGS[key] = cfg
    return cfg


# ------------------------------------------------------------------ session (local day)
# Per zone, the UTC bounds [start, end) of recently seen local days, each checked against
# local_days: a bar stamped in [start, end) belongs to that day and the day's first bar is
# the first stamped at or after ``start``.
_DAYS: dict[str, list[tuple[int, int]]] = {}
_MAX_DAYS = 4


def _utc_ns(moment: dt.datetime) -> int:
    delta = moment - _EPOCH  # exact integer arithmetic (no float seconds)
    return (delta.days * 86_400 + delta.seconds) * _NS_PER_S + delta.microseconds * 1000


def _local_midnight_ns(day: int, zone: ZoneInfo) -> int:
    """The UTC instant of local midnight opening ``day`` (days since 1970-01-01); when
    midnight falls in a clock gap, the instant the day starts (the gap's end)."""
    date = dt.date(1970, 1, 1) + dt.timedelta(days=day)
    return _utc_ns(dt.datetime(date.year, date.month, date.day, tzinfo=zone))


def _day_bounds(ts_ns: int, tz: str) -> tuple[int, int] | None:
    """UTC [start, end) of the local day holding ``ts_ns``, verified with
    :func:`local_days` (the batch table's session labels) on a one-minute grid across the
    day and at both edges; None when the zone's day is not one contiguous run there."""
    day = int(local_days(np.array([ts_ns], dtype=np.int64), tz)[0])
    zone = ZoneInfo(tz)
    start, end = _local_midnight_ns(day, zone), _local_midnight_ns(day + 1, zone)
    if not start <= ts_ns < end:
        return None
    grid = np.concatenate(
        ([start - 1], np.arange(start, end, 60 * _NS_PER_S, dtype=np.int64), [end - 1, end])
    )
    days = local_days(grid, tz)
    if days[0] < day and days[-1] > day and (days[1:-1] == day).all():
        return start, end
    return None


def _session_start_ns(ts_ns: int, tz: str) -> int | None:
    """UTC start of the local day of ``ts_ns`` in ``tz`` (None: resolve per stamp)."""
    seen = _DAYS.get(tz)
    if seen is not None:
        for start, end in seen:
            if start <= ts_ns < end:
                return start
    bounds = _day_bounds(ts_ns, tz)
    if bounds is None:
        return None
    seen = _DAYS.setdefault(tz, [])
    seen.insert(0, bounds)
    del seen[_MAX_DAYS:]
    return bounds[0]


# ----------------------------------------------------------------------------- entry
def _f8(a: Any) -> NDArray[np.float64]:
    if type(a) is np.ndarray and a.dtype is _F8 and a.flags.c_contiguous:
        return a
    return np.ascontiguousarray(a, dtype=np.float64)


def _i8(a: Any) -> NDArray[np.int64]:
    if type(a) is np.ndarray and a.dtype is _I8 and a.flags.c_contiguous:
        return a
    return np.ascontiguousarray(a, dtype=np.int64)


def _compute(bars: MicroBars, quotes: QuoteArrays | None, cfg: _Config) -> NDArray[np.float64]:
    """All :data:`~.microstructure_kernels.N_OUT` slots of the last bar."""
    ts, close = _i8(bars.ts), _f8(bars.close)
    n = close.size
    if n == 0 or ts.size != n:
        raise MicrostructureInputError(
            f"bars hold {n} closes and {ts.size} stamps: microstructure_last needs at "
            "least one bar, every column of the same length"
        )
    ts_last = int(ts[n - 1])
    start_ns = _session_start_ns(ts_last, cfg.tz)
    start = -1
    if start_ns is None:  # per-stamp local days, as the batch table labels sessions
        days = local_days(ts, cfg.tz)
        start, start_ns = int(np.searchsorted(days, days[-1])), 0
    bar_bid = bar_ask = np.nan
    if quotes is not None:
        mode = mk.QUOTES_TABLE
        q_ts, q_bid, q_ask = _i8(quotes.ts), _f8(quotes.bid), _f8(quotes.ask)
        q_bid_size, q_ask_size = _f8(quotes.bid_size), _f8(quotes.ask_size)
    else:
        q_ts, q_bid, q_ask, q_bid_size, q_ask_size = _EMPTY_TS, _EMPTY, _EMPTY, _EMPTY, _EMPTY
        mode = mk.QUOTES_NONE
        if bars.bid is not None and bars.ask is not None:
            mode = mk.QUOTES_BAR
            bar_bid, bar_ask = float(bars.bid[-1]), float(bars.ask[-1])
    out = np.empty(mk.N_OUT)
    mk.micro_last_kernel(ts, _f8(bars.high), _f8(bars.low), close, _f8(bars.volume),
                         _f8(bars.price), q_ts, q_bid, q_ask, q_bid_size, q_ask_size,
                         bar_bid, bar_ask, mode, cfg.max_age_ns, start_ns, start,
                         cfg.windows, out)  # fmt: skip
    return out


def microstructure_last_names(params: Mapping[str, Any], quotes: bool) -> tuple[str, ...]:
    """Names of :func:`microstructure_last_values`' slots (``quotes``: a quote table is
    passed, which adds ``quote_imbalance`` in front), as the batch table orders them."""
    names = _config(params).names
    return names if quotes else names[1:]


def microstructure_last_values(
    bars: MicroBars, quotes: QuoteArrays | None, params: Mapping[str, Any]
) -> NDArray[np.float64]:
    """:func:`microstructure_last` as a fresh float64 vector, in the order of
    ``microstructure_last_names(params, quotes is not None)``."""
    out = _compute(bars, quotes, _config(params))
    return out if quotes is not None else out[1:]


def microstructure_last(
    bars: MicroBars, quotes: QuoteArrays | None, params: Mapping[str, Any]
) -> dict[str, float]:
    """Microstructure features of the LAST bar of ``bars`` (a trailing buffer holding at
    least :func:`~.microstructure.microstructure_warmup` bars and the current session),
    named and ordered as :func:`~.microstructure.microstructure_columns` names them
    (``params`` complete, see :func:`~.microstructure.microstructure_params`)."""
    cfg = _config(params)
    values = _compute(bars, quotes, cfg).tolist()
    if quotes is not None:
        return dict(zip(cfg.names, values, strict=True))
    return dict(zip(cfg.names[1:], values[1:], strict=True))
