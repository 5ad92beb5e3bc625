"""Session-aware timeframes: 1-minute bars into 5m, 15m, 1h and 1d bars, and the as-of join.

Conventions (US equity session 09:30-16:00 America/New_York, 390 one-minute bars
stamped at their close, 09:31 ... 16:00):

- Buckets are anchored at the session open, never at clock hours, and never cross a
  session: 5m bars close at 09:35, 09:40, ... 16:00 (78 a day); 15m bars at 09:45 ...
  16:00 (26); 1h bars at 10:30, 11:30, ..., 15:30 and a final half-hour bar at 16:00
  (7); the 1d bar at 16:00.
- A higher-timeframe bar is stamped at its close and exists only once its last minute
  has arrived: the bucket's final 1-minute bar has the bucket's close stamp. A bucket
  still forming at the end of the data is left out, so a partial bar never leaks.
- As-of join: the 1-minute row at ``ts`` carries the features of the latest
  higher-timeframe bar whose close stamp is ``<= ts``. The 1h features appear at the
  10:30 row, the minute the first hour closes.

Gap rule (both batch and online): within a session the 1-minute bars must be
consecutive; a session must end at 16:00 before the next one starts at 09:31, except
the first session of the data (may start late) and the last one (may still be open).
Whole missing days (holidays) are allowed.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import pandas as pd

SESSION_TZ = "America/New_York"
SESSION_MINUTES = 390
TIMEFRAMES: dict[str, int] = {"1m": 1, "5m": 5, "15m": 15, "1h": 60, "1d": SESSION_MINUTES}
_NS_PER_MIN = 60 * 1_000_000_000


class BarStreamError(ValueError):
    """Bars that break the 1-minute session grid: gap, duplicate, disorder, off-session."""

    def __init__(self, symbol: str, ts: object, rule: str, detail: str) -> None:
        self.symbol, self.ts, self.rule = symbol, ts, rule
        super().__init__(
            f"bars of {symbol!r} at {ts}: rule {rule!r} broken: {detail}. Features need "
            "consecutive 1-minute session bars (09:31-16:00 ET, stamped at close); "
            "repair or re-load the bars, or start a new stream after the break."
        )


@dataclass(frozen=True)
class SessionClock:
    """Session position of 1-minute close stamps: session day and minute 1..390."""

    day: np.ndarray  # int64 days since epoch of the local session date
    minute: np.ndarray  # int64, 1 for the 09:31 bar ... 390 for the 16:00 bar


def session_clock(ts: pd.Series | pd.DatetimeIndex) -> SessionClock:
    """Locate UTC close stamps in the New York session (vectorised)."""
    local = pd.DatetimeIndex(ts).tz_convert(SESSION_TZ).tz_localize(None)
    ns = local.asi8
    day = ns // (86_400 * 1_000_000_000)
    minute = (ns - day * 86_400 * 1_000_000_000) // _NS_PER_MIN - (9 * 60 + 30)
    return SessionClock(day.astype(np.int64), minute.astype(np.int64))


def check_minute_grid(symbol: str, ts: pd.Series | pd.DatetimeIndex) -> SessionClock:
    """Raise :class:`BarStreamError` unless ``ts`` is a gap-free 1-minute session grid."""
    stamps = pd.DatetimeIndex(ts)
    clock = session_clock(stamps)
    off_minute = stamps.asi8 % _NS_PER_MIN != 0
    bad = np.flatnonzero((clock.minute < 1) | (clock.minute > SESSION_MINUTES) | off_minute)
    if bad.size:
        raise BarStreamError(symbol, stamps[bad[0]], "in_session",
                             "stamp not on a whole minute of 09:31-16:00 America/New_York")  # fmt: skip
    if len(stamps) > 1:
        step = np.diff(stamps.asi8)
        if (step <= 0).any():
            i = int(np.flatnonzero(step <= 0)[0]) + 1
            rule = "unique" if step[i - 1] == 0 else "sorted"
            raise BarStreamError(symbol, stamps[i], rule, f"follows {stamps[i - 1]}")
        same_day = clock.day[1:] == clock.day[:-1]
        gap_in_day = same_day & (np.diff(clock.minute) != 1)
        broken_close = ~same_day & (
            (clock.minute[:-1] != SESSION_MINUTES) | (clock.minute[1:] != 1)
        )
        bad = np.flatnonzero(gap_in_day | broken_close)
        if bad.size:
            i = int(bad[0]) + 1
            raise BarStreamError(symbol, stamps[i], "no_gap",
                                 f"previous bar is {stamps[i - 1]}; minutes are missing")  # fmt: skip
    return clock


def bucket_close_minute(minute: np.ndarray | int, tf_minutes: int) -> np.ndarray | int:
    """Session minute at which the bucket holding ``minute`` closes."""
    return np.minimum(-(-minute // tf_minutes) * tf_minutes, SESSION_MINUTES)


@dataclass(frozen=True)
class TimeframeBars:
    """Closed bars of one timeframe for one symbol, plus where each 1m row maps to."""

    ts: pd.DatetimeIndex  # close stamps (UTC)
    columns: dict[str, np.ndarray]  # open, high, low, close, volume (+ vwap, trades, bid, ask)
    asof: np.ndarray  # per 1m row: index of the latest closed bar, -1 when none yet


def resample(bars: pd.DataFrame, tf: str, clock: SessionClock | None = None) -> TimeframeBars:
    """Aggregate one symbol's gap-free 1-minute bars into closed ``tf`` bars."""
    stamps = pd.DatetimeIndex(bars["ts"])
    cols = {c: bars[c].to_numpy(np.float64) for c in bars.columns if c not in ("symbol", "ts")}
    return resample_arrays(stamps, cols, tf, clock)


def resample_arrays(
    stamps: pd.DatetimeIndex,
    cols: dict[str, np.ndarray],
    tf: str,
    clock: SessionClock | None = None,
) -> TimeframeBars:
    """:func:`resample` of bars given as their close ``stamps`` and float64 columns."""
    k = TIMEFRAMES[tf]
    clock = clock or session_clock(stamps)
    n = len(stamps)
    if k == 1:
        return TimeframeBars(stamps, cols, np.arange(n))
    close_min = bucket_close_minute(clock.minute, k)
    key = clock.day * 1000 + close_min
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]]) if n else np.array([], int)
    ends = np.r_[starts[1:], n] - 1 if n else np.array([], int)
    # Reduce over every bucket first (reduceat runs each segment up to the next start),
    # then keep the closed ones: a still-open bucket must not bleed into the bar before it.
    closed = clock.minute[ends] == close_min[ends]
    agg: dict[str, np.ndarray] = {}
    for name, values in cols.items():
        if name == "open":
            agg[name] = values[starts]
        elif name == "high":
            agg[name] = np.maximum.reduceat(values, starts) if n else values
        elif name == "low":
            agg[name] = np.minimum.reduceat(values, starts) if n else values
        elif name in ("volume", "trades"):
            agg[name] = np.add.reduceat(values, starts) if n else values
        elif name == "vwap":
            pv = np.add.reduceat(values * cols["volume"], starts)
            vol = np.add.reduceat(cols["volume"], starts)
            mean = np.add.reduceat(values, starts) / (ends - starts + 1)
            agg[name] = np.divide(pv, vol, out=mean, where=vol > 0)
        else:  # close, bid, ask and any other level: the last value of the bucket
            agg[name] = values[ends]
    agg = {name: values[closed] for name, values in agg.items()}
    ends = ends[closed]
    # Row i may use closed bar j when the bar's last minute (ends[j]) is <= i.
    asof = np.searchsorted(ends, np.arange(n), side="right") - 1
    return TimeframeBars(stamps[ends], agg, asof)


def asof_take(values: np.ndarray, asof: np.ndarray) -> np.ndarray:
    """Values of the latest closed bar per 1m row (NaN before the first one)."""
    if values.size == 0:
        return np.full(asof.shape, np.nan)
    out = values[np.maximum(asof, 0)]
    out[asof < 0] = np.nan
    return out
