"""Outcomes against hand-computed values on crafted bars."""

from __future__ import annotations

from datetime import timedelta

import pandas as pd
import pytest

from signal_pipeline.signals.store import SignalStore
from signal_pipeline.signals.tracker import compute_outcome, outcomes_frame, track_outcomes

from .conftest import T0, make_signal

# (minute after T0, high, low, close); bar ts = close moment. Entry at T0 closes at 100.
_BARS = [
    (-2, 100.2, 99.6, 99.8),
    (-1, 100.1, 99.7, 100.0),
    (0, 100.3, 99.9, 100.0),
    (1, 100.5, 99.5, 100.2),
    (2, 102.5, 100.0, 102.1),
    (3, 101.0, 98.5, 99.0),
    (4, 101.0, 99.0, 100.8),
    (5, 101.2, 100.5, 101.0),
    (6, 103.5, 101.0, 103.0),
]


def bars(symbol: str = "AAPL") -> pd.DataFrame:
    rows = [
        {
            "symbol": symbol,
            "ts": pd.Timestamp(T0) + pd.Timedelta(minutes=m),
            "open": c,
            "high": h,
            "low": low,
            "close": c,
            "volume": 1000.0,
        }
        for m, h, low, c in _BARS
    ]
    return pd.DataFrame(rows)


def stored(signal, sid: int = 1):
    return signal.replace(id=sid)


def test_buy_target_first() -> None:
    s = stored(make_signal(signal_type="BUY", ttl_minutes=5, target_price=102.0, stop_loss=99.0))
    o = compute_outcome(s, bars())
    assert (o.entry_price, o.exit_price) == (100.0, 101.0)  # close at T0, close at T0+5
    assert o.raw_return == pytest.approx(0.01) and o.direction_return == pytest.approx(0.01)
    assert o.hit is True and o.n_bars == 5
    assert o.first_hit == "TARGET" and o.first_hit_at == T0 + timedelta(minutes=2)  # high 102.5
    assert o.max_favorable == pytest.approx(0.025) and o.max_adverse == pytest.approx(-0.015)
    assert o.performance_pct == 1.0


def test_sell_stop_first() -> None:
    s = stored(make_signal(signal_type="SELL", ttl_minutes=5, target_price=98.8, stop_loss=102.0))
    o = compute_outcome(s, bars())
    assert o.direction_return == pytest.approx(-0.01) and o.hit is False
    # minute 2: high 102.5 >= stop 102 comes before minute 3's low 98.5 <= target 98.8
    assert o.first_hit == "STOP" and o.first_hit_at == T0 + timedelta(minutes=2)
    assert o.max_favorable == pytest.approx(0.015) and o.max_adverse == pytest.approx(-0.025)
    assert o.performance_pct == -1.0


def test_both_barriers_in_one_bar_counts_the_stop() -> None:
    # A SELL made at minute 2 (entry 102.1); minute 3 spans 98.5..101.0.
    s = stored(
        make_signal(
            signal_type="SELL", minutes=2, ttl_minutes=2, target_price=98.6, stop_loss=102.6
        )
    )
    o = compute_outcome(s, bars())
    assert o.first_hit == "TARGET"  # minute 3 low 98.5 <= 98.6; high 101 < 102.6
    # Both barriers inside minute 3 (low 98.5 <= 98.6, high 101.0 >= 100.9): stop assumed first.
    s2 = stored(
        make_signal(
            signal_type="SELL", minutes=2, ttl_minutes=2, target_price=98.6, stop_loss=100.9
        )
    )
    o2 = compute_outcome(s2, bars())
    assert o2.first_hit == "STOP" and o2.first_hit_at == T0 + timedelta(minutes=3)


def test_hold_has_no_direction() -> None:
    o = compute_outcome(stored(make_signal(signal_type="HOLD", ttl_minutes=5)), bars())
    assert o.raw_return == pytest.approx(0.01)
    assert o.direction_return == 0.0 and o.hit is None and o.first_hit == "NONE"


def test_not_ready_until_bars_cover_the_horizon() -> None:
    assert compute_outcome(stored(make_signal(ttl_minutes=10)), bars()) is None
    assert (
        compute_outcome(stored(make_signal(minutes=-10, ttl_minutes=5)), bars()) is None
    )  # no entry
    assert compute_outcome(stored(make_signal(symbol="MSFT", ttl_minutes=5)), bars()) is None


def test_track_outcomes_stores_once_and_sets_performance(store: SignalStore) -> None:
    buy = make_signal(signal_type="BUY", ttl_minutes=5, target_price=102.0, stop_loss=99.0)
    later = make_signal(signal_type="BUY", minutes=1, ttl_minutes=30)  # horizon not over yet
    ids = store.write([buy, later]).ids
    now = T0 + timedelta(minutes=6)
    outcomes = track_outcomes(store, bars(), now=now)
    assert [o.signal_id for o in outcomes] == [ids[0]]
    assert store.get(ids[0]).performance == 1.0
    assert store.get(ids[1]).performance is None
    assert track_outcomes(store, bars(), now=now) == []  # already settled
    frame = outcomes_frame(store)
    assert list(frame["signal_id"]) == [ids[0]]
    assert frame["first_hit"].iloc[0] == "TARGET"
    assert frame["direction_return"].iloc[0] == pytest.approx(0.01)
