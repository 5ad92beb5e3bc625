"""Turning vendor time stamps into the contract's close stamps.

The contract stamps a bar at its close, the moment it became known, so features
built at ``ts`` cannot see the bar's future. Vendors differ:

* daily bars carry a date: the bar closes at the session close of that date
  (16:00 America/New_York unless ``session_close`` says otherwise);
* intraday bars are stamped at their open (Yahoo, Polygon, Alpaca, IB) or their close;
  open stamps move forward by one bar interval. Without ``stamp=`` the convention is
  read from the data: open-stamped US session bars include 09:30 and never 16:00,
  close-stamped ones the reverse. Anything else is refused rather than guessed.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from typing import Literal

import numpy as np
import pandas as pd

from signal_pipeline.data.contracts import UTC_DTYPE, parse_timestamps

Stamp = Literal["auto", "open", "close"]
DEFAULT_SESSION_TZ = "America/New_York"
_DAY = pd.Timedelta(days=1)
# Daily data has 1-day steps with 3-day weekends; coarser data (weekly, monthly) would
# need another close rule, so it is refused.
_LONGEST_DAILY_STEP = pd.Timedelta(days=4)


class StampError(Exception):
    """Time stamps whose meaning cannot be settled; ``rule`` says why."""

    def __init__(self, message: str, *, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


@dataclass(frozen=True)
class SessionTime:
    """A wall-clock time in a zone, e.g. the 16:00 America/New_York close."""

    time: dt.time
    tz: str

    @classmethod
    def parse(
        cls, value: str | dt.time | SessionTime, default_tz: str = DEFAULT_SESSION_TZ
    ) -> SessionTime:
        """``"16:00"``, ``"16:00 America/New_York"`` or a ``datetime.time``."""
        if isinstance(value, SessionTime):
            return value
        if isinstance(value, dt.time):
            return cls(value, default_tz)
        clock, _, zone = str(value).strip().partition(" ")
        try:
            parsed = dt.time.fromisoformat(clock)
        except ValueError as exc:
            raise ValueError(f"session time {value!r} is not 'HH:MM' or 'HH:MM Area/City'") from exc
        return cls(parsed, zone.strip() or default_tz)

    def on(self, dates: pd.Series) -> pd.Series:
        """This time on each (naive, midnight) date, as UTC moments."""
        offset = pd.Timedelta(
            hours=self.time.hour, minutes=self.time.minute, seconds=self.time.second
        )
        local = (dates + offset).dt.tz_localize(self.tz, ambiguous="NaT", nonexistent="NaT")
        return local.dt.tz_convert("UTC").astype(UTC_DTYPE)


@dataclass(frozen=True)
class StampedTimes:
    """Close stamps (or the untouched column, when naive intraday stamps must be refused
    by validation), plus what was decided, for the ingest report."""

    values: pd.Series
    bar_interval: pd.Timedelta | None
    stamp: str


def infer_bar_interval(moments: pd.Series, symbols: pd.Series) -> pd.Timedelta | None:
    """Most common positive step between consecutive stamps of the same symbol."""
    stamps = (
        moments.array.asi8
        if isinstance(moments.dtype, pd.DatetimeTZDtype)
        else moments.to_numpy("datetime64[ns]").view("i8")
    )
    codes, _ = pd.factorize(symbols)
    order = (
        np.arange(len(codes)) if (np.diff(codes) >= 0).all() else np.argsort(codes, kind="stable")
    )
    c, s = codes[order], stamps[order]
    valid = s != np.iinfo(np.int64).min
    steps = np.diff(s)
    keep = (c[1:] == c[:-1]) & (steps > 0) & valid[1:] & valid[:-1]
    if not keep.any():
        return None
    values, counts = np.unique(steps[keep], return_counts=True)
    return pd.Timedelta(int(values[np.argmax(counts)]), unit="ns")


def to_close_stamps(
    raw: pd.Series,
    symbols: pd.Series,
    *,
    tz: str | None,
    stamp: Stamp,
    bar_interval: pd.Timedelta | None,
    session_open: SessionTime,
    session_close: SessionTime,
    date_only: bool,
) -> StampedTimes:
    """Bar stamps as UTC close moments (see the module docstring for the rules)."""
    parsed = parse_timestamps(raw, tz=tz)
    naive = len(parsed.naive_rows) > 0
    if naive:
        # Wall-clock times as written; enough to tell dates from intraday times.
        local = parse_timestamps(raw, tz="UTC").values.dt.tz_localize(None)
    else:
        local = parsed.values.dt.tz_convert(session_close.tz).dt.tz_localize(None)
    interval = bar_interval or infer_bar_interval(local, symbols)
    if interval is not None and interval > _LONGEST_DAILY_STEP:
        raise StampError(
            f"bars are {interval} apart (rule: unsupported_interval); only daily and intraday bars are supported",
            rule="unsupported_interval",
        )
    clock = _time_of_day_ns(local)
    midnight = bool(len(clock)) and bool((clock == 0).all())
    daily = (
        date_only or (interval is not None and interval >= _DAY) or (interval is None and midnight)
    )
    if daily:
        utc_clock = _time_of_day_ns(parsed.values.dt.tz_localize(None))
        if not naive and len(utc_clock) and bool((utc_clock == 0).all()):
            # Stamps at UTC midnight label the UTC date (converting first would give the eve).
            local = parsed.values.dt.tz_localize(None)
        closes = session_close.on(local.dt.normalize())
        return StampedTimes(closes, interval or _DAY, "date")
    if naive:
        return StampedTimes(raw, interval, stamp)
    if stamp == "auto":
        stamp = _detect_stamp(local, interval, session_open, session_close)
    if stamp == "close":
        return StampedTimes(parsed.values, interval, "close")
    if interval is None:
        raise StampError(
            "cannot shift open stamps to close stamps: the bar interval cannot be inferred "
            "(rule: unknown_interval); pass bar_interval='1min' (or the bars' length)",
            rule="unknown_interval",
        )
    return StampedTimes(parsed.values + interval, interval, "open")


def _detect_stamp(
    local: pd.Series,
    interval: pd.Timedelta | None,
    session_open: SessionTime,
    session_close: SessionTime,
) -> str:
    times = _time_of_day_ns(local)
    opens = bool((times == _ns_of(session_open.time)).any())
    closes = bool((times == _ns_of(session_close.time)).any())
    if opens and not closes:
        return "open"
    if closes and not opens:
        return "close"
    seen = "both" if opens else "neither"
    raise StampError(
        f"cannot tell whether stamps mark each bar's open or close: {seen} of "
        f"{session_open.time:%H:%M} and {session_close.time:%H:%M} {session_close.tz} appear "
        f"(rule: ambiguous_stamp, bar interval {interval}); pass stamp='open' or stamp='close'",
        rule="ambiguous_stamp",
    )


def _time_of_day_ns(naive: pd.Series) -> np.ndarray:
    """Nanoseconds since midnight of each non-missing naive stamp."""
    values = naive.to_numpy("datetime64[ns]").view("i8")
    values = values[values != np.iinfo(np.int64).min]
    return values % _DAY.value


def _ns_of(time: dt.time) -> int:
    return pd.Timedelta(hours=time.hour, minutes=time.minute, seconds=time.second).value
