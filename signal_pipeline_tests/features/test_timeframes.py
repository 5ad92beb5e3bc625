"""Session-aware resampling and the as-of join."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from signal_pipeline.features.timeframes import BarStreamError, check_minute_grid, resample


def _local(ts: pd.DatetimeIndex) -> list[str]:
    return [t.strftime("%H:%M") for t in ts.tz_convert("America/New_York")]


def test_hour_bars_are_session_anchored(bars_small: pd.DataFrame) -> None:
    day = bars_small.iloc[:390]
    hours = resample(day, "1h")
    assert _local(hours.ts) == ["10:30", "11:30", "12:30", "13:30", "14:30", "15:30", "16:00"]
    first = day.iloc[:60]
    assert hours.columns["open"][0] == first["open"].iloc[0]
    assert hours.columns["high"][0] == first["high"].max()
    assert hours.columns["low"][0] == first["low"].min()
    assert hours.columns["close"][0] == first["close"].iloc[-1]
    assert hours.columns["volume"][0] == pytest.approx(first["volume"].sum(), rel=1e-15)
    vwap = (first["vwap"] * first["volume"]).sum() / first["volume"].sum()
    assert hours.columns["vwap"][0] == pytest.approx(vwap, rel=1e-12)
    # the last half hour is its own bar
    assert hours.columns["open"][-1] == day["open"].iloc[360]


def test_counts_per_session(bars_small: pd.DataFrame) -> None:
    day = bars_small.iloc[:390]
    assert [len(resample(day, tf).ts) for tf in ("1m", "5m", "15m", "1h", "1d")] == [
        390, 78, 26, 7, 1,
    ]  # fmt: skip


def test_partial_bucket_is_left_out_and_asof_waits_for_close(bars_small: pd.DataFrame) -> None:
    part = bars_small.iloc[: 390 + 75]  # second session up to 10:45: its first hour is open
    hours = resample(part, "1h")
    assert len(hours.ts) == 8  # 7 of day one + 10:30 of day two; 10:30-11:30 is not closed
    own = part.iloc[390:450]  # the closed 09:30-10:30 hour: its own minutes, none later
    assert hours.columns["low"][-1] == own["low"].min()
    assert hours.columns["high"][-1] == own["high"].max()
    assert hours.columns["volume"][-1] == pytest.approx(own["volume"].sum(), rel=1e-15)
    ts = pd.DatetimeIndex(part["ts"])
    local = _local(ts)
    i_1029, i_1030 = 390 + 58, 390 + 59
    assert (local[i_1029], local[i_1030]) == ("10:29", "10:30")
    assert hours.asof[i_1029] == 6  # still the previous session's 16:00 bar
    assert hours.asof[i_1030] == 7  # the hour closed at this very minute
    assert (hours.asof[:59] == -1).all()  # nothing closed yet in the first hour
    daily = resample(part, "1d")
    assert len(daily.ts) == 1 and daily.asof[389] == 0 and daily.asof[388] == -1


def test_grid_errors_name_rule_and_stamp(bars_small: pd.DataFrame) -> None:
    ts = pd.DatetimeIndex(bars_small["ts"])
    with pytest.raises(BarStreamError, match="no_gap") as gap:
        check_minute_grid("AAA", ts.delete(100))
    assert gap.value.ts == ts[101] and gap.value.symbol == "AAA"
    with pytest.raises(BarStreamError, match="unique"):
        check_minute_grid("AAA", ts.insert(50, ts[50]))
    with pytest.raises(BarStreamError, match="sorted"):
        check_minute_grid("AAA", ts[np.r_[0:10, 11, 10, 12:20]])
    with pytest.raises(BarStreamError, match="in_session"):
        check_minute_grid("AAA", ts[:5] + pd.Timedelta(hours=8))
    with pytest.raises(BarStreamError, match="whole minute"):
        check_minute_grid("AAA", ts[:5] + pd.Timedelta(seconds=1))
    # a whole missing session (a holiday) is not a gap
    check_minute_grid("AAA", ts.delete(range(390, 780)))
