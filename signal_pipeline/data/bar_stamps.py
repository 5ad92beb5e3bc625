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
# Daily data has 1-day steps, 3 or 4 over weekends and holidays; when even the
# shortest step is longer the bars are weekly or monthly, which need another close
# rule, so they are refused.
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


def positive_steps(moments: pd.Series, symbols: pd.Series) -> np.ndarray:
    """Positive gaps (ns) between consecutive stamps of the same symbol."""
    if isinstance(moments.dtype, pd.DatetimeTZDtype):
        stamps = moments.array.asi8
    else:
        stamps = moments.to_numpy("datetime64[ns]").view("i8")
    codes, _ = pd.factorize(symbols)
    grouped = (np.diff(codes) >= 0).all()
    order = np.arange(len(codes)) if grouped else np.argsort(codes, kind="stable")
    c, s = codes[order], stamps[order]
    valid = s != np.iinfo(np.int64).min
    steps = np.diff(s)
    keep = (c[1:] == c[:-1]) & (steps > 0) & valid[1:] & valid[:-1]
    return steps[keep]


def infer_bar_interval(moments: pd.Series, symbols: pd.Series) -> pd.Timedelta | None:
    """Most common positive step between consecutive stamps of the same symbol."""
    steps = positive_steps(moments, symbols)
    if not len(steps):
        return None
    values, counts = np.unique(steps, return_counts=True)
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
    written = parse_timestamps(raw, tz=None)
    naive = len(written.naive_rows) > 0
    if naive:
        # Wall-clock times as written: their dates label daily bars whatever tz says.
        wall = parse_timestamps(raw, tz="UTC").values.dt.tz_localize(None)
        aware = None if tz is None else _localise(wall, tz)
    else:
        aware = written.values
    local = wall if aware is None else aware.dt.tz_convert(session_close.tz).dt.tz_localize(None)
    steps = positive_steps(local, symbols)
    interval = bar_interval or infer_bar_interval(local, symbols)
    shortest = pd.Timedelta(int(steps.min()), unit="ns") if len(steps) else None
    if (bar_interval or shortest or _DAY) > _LONGEST_DAILY_STEP:
        # Even the closest bars are days apart: weekly or monthly bars, whose close is
        # not the session close of their label date.
        raise StampError(
            f"bars are at least {bar_interval or shortest} apart (rule: unsupported_interval); only "
            "daily and intraday bars are supported",
            rule="unsupported_interval",
        )
    labels = wall if naive else local
    clock = _time_of_day_ns(labels)
    midnight = bool(len(clock)) and bool((clock == 0).all())
    daily = (
        date_only or (interval is not None and interval >= _DAY) or (interval is None and midnight)
    )
    if daily:
        if not naive and _all_midnight(written.values.dt.tz_localize(None)):
            # Stamps at UTC midnight label the UTC date (converting first would give the eve).
            labels = written.values.dt.tz_localize(None)
        return StampedTimes(session_close.on(labels.dt.normalize()), interval or _DAY, "date")
    if aware is None:
        return StampedTimes(raw, interval, stamp)  # validation refuses naive stamps by name
    if stamp == "auto":
        stamp = _detect_stamp(local, interval, session_open, session_close)
    if stamp == "close":
        return StampedTimes(aware, interval, "close")
    if interval is None:
        raise StampError(
            "cannot shift open stamps to close stamps: the bar interval cannot be inferred "
            "(rule: unknown_interval); pass bar_interval='1min' (or the bars' length)",
            rule="unknown_interval",
        )
    return StampedTimes(aware + interval, interval, "open")


def _localise(wall: pd.Series, tz: str) -> pd.Series:
    """Wall-clock times in ``tz`` as UTC; times skipped or repeated by a DST change
    become NaT, which validation reports as ``bad_timestamp`` rows."""
    local = wall.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    return local.dt.tz_convert("UTC").astype(UTC_DTYPE)


def _all_midnight(naive: pd.Series) -> bool:
    clock = _time_of_day_ns(naive)
    return bool(len(clock)) and bool((clock == 0).all())


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
