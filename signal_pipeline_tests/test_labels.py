"""Triple-barrier labels against hand-computed paths."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from signal_pipeline.labels import BUY, HOLD, SELL, LabelError, triple_barrier_labels

WARMUP = [100.0, 101.0, 100.0, 101.0, 100.0]


def _bars(paths: dict[str, list[float]], start: str = "2024-01-02 09:31") -> pd.DataFrame:
    frames = []
    for symbol, closes in paths.items():
        ts = pd.date_range(start, periods=len(closes), freq="min", tz="America/New_York")
        frames.append(pd.DataFrame({"symbol": symbol, "ts": ts.tz_convert("UTC"), "close": closes}))
    return pd.concat(frames, ignore_index=True)


def test_crafted_paths_hit_profit_take_stop_loss_and_vertical() -> None:
    # Warm-up returns are +a, -a, +a, -a with a = ln 1.01, so at bar 4
    # sigma = sqrt(4 a^2 / 3) and, with horizon 4 and multiples 1, the barriers sit at
    # log returns ±2 sigma: 100·e^(±0.02298) = 102.325 / 97.728.
    a = math.log(1.01)
    sigma = math.sqrt(4 * a * a / 3)
    assert 100 * math.exp(2 * sigma) == pytest.approx(102.325, abs=1e-3)
    bars = _bars(
        {
            "UP": [*WARMUP, 100.5, 101.5, 102.5, 101.0],  # 102.5 >= 102.325 at step 3
            "DN": [*WARMUP, 99.5, 97.5, 99.0, 100.0],  # 97.5 <= 97.728 at step 2
            "FLAT": [*WARMUP, 100.5, 99.5, 101.0, 102.0],  # inside both barriers
        }
    )
    labels = triple_barrier_labels(bars, horizon=4, pt_mult=1.0, sl_mult=1.0, vol_window=4)
    # Bars 0-3 have fewer than 4 returns (vol unknown); bars 5-8 lack a full horizon.
    assert labels["symbol"].tolist() == ["DN", "FLAT", "UP"]
    got = labels.set_index("symbol")
    ts = bars.set_index(["symbol", bars.groupby("symbol").cumcount()])["ts"]
    assert got.loc["UP", "label"] == BUY
    assert got.loc["UP", "event_end"] == ts[("UP", 7)]
    assert got.loc["UP", "ret"] == pytest.approx(math.log(102.5 / 100))
    assert got.loc["DN", "label"] == SELL
    assert got.loc["DN", "event_end"] == ts[("DN", 6)]
    assert got.loc["DN", "ret"] == pytest.approx(math.log(97.5 / 100))
    assert got.loc["FLAT", "label"] == HOLD  # +2 % at the vertical barrier is still HOLD
    assert got.loc["FLAT", "event_end"] == ts[("FLAT", 8)]
    assert got.loc["FLAT", "ret"] == pytest.approx(math.log(102.0 / 100))
    assert got["vol"].tolist() == pytest.approx([sigma] * 3)
    assert got.loc["UP", "ts"] == ts[("UP", 4)]
    assert labels.attrs["dropped"] == {"no_full_horizon": 12, "volatility_unknown_or_zero": 12}


def test_asymmetric_multiples_move_only_their_barrier() -> None:
    # Doubling pt_mult puts the upper barrier at 104.7: the UP path no longer reaches it.
    bars = _bars({"UP": [*WARMUP, 100.5, 101.5, 102.5, 101.0]})
    labels = triple_barrier_labels(bars, horizon=4, pt_mult=2.0, sl_mult=1.0, vol_window=4)
    assert labels["label"].tolist() == [HOLD]


def _two_sessions(seed: int = 1) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    day1 = pd.date_range("2024-01-02 15:41", periods=20, freq="min", tz="America/New_York")
    day2 = pd.date_range("2024-01-03 09:31", periods=20, freq="min", tz="America/New_York")
    closes = np.r_[
        100 * np.exp(np.cumsum(rng.normal(0, 1e-3, 20))),
        130 * np.exp(np.cumsum(rng.normal(0, 1e-3, 20))),
    ]  # a +30 % overnight gap
    return pd.DataFrame({"symbol": "X", "ts": day1.append(day2).tz_convert("UTC"), "close": closes})


def test_horizons_stay_inside_their_session_unless_asked() -> None:
    bars = _two_sessions()
    within = triple_barrier_labels(bars, horizon=5, vol_window=5)
    session = lambda s: s.dt.tz_convert("America/New_York").dt.date  # noqa: E731
    assert (session(within["ts"]) == session(within["event_end"])).all()
    # 20 bars per session, the last 5 of each lack a horizon; the first 5 of day 1 lack vol.
    assert len(within) == (20 - 5 - 5) + (20 - 5)
    across = triple_barrier_labels(bars, horizon=5, vol_window=5, cross_sessions=True)
    # The 5 last bars of day 1 now get labels; those not stopped out on day 1 end on day 2.
    assert len(across) == len(within) + 5
    assert (session(across["ts"]) != session(across["event_end"])).sum() >= 1


def test_volatility_leaves_out_the_overnight_gap() -> None:
    bars = _two_sessions()
    labels = triple_barrier_labels(bars, horizon=5, vol_window=5).set_index("ts")
    closes = bars["close"].to_numpy()
    # Second bar of day 2: its window is the last 4 intraday returns of day 1 and the first
    # intraday return of day 2 (the overnight return 19 -> 20 is skipped).
    rets = np.diff(np.log(closes))
    expected = np.std([*rets[15:19], rets[20]], ddof=1)
    assert labels.loc[bars["ts"][21], "vol"] == pytest.approx(expected, rel=1e-12)
    # First bar of day 2 keeps the last volatility of day 1.
    assert labels.loc[bars["ts"][20], "vol"] == pytest.approx(np.std(rets[14:19], ddof=1))


def test_volatility_uses_only_past_returns() -> None:
    bars = _two_sessions()
    full = triple_barrier_labels(bars, horizon=3, vol_window=5)
    cut = triple_barrier_labels(bars.iloc[:30], horizon=3, vol_window=5)
    both = full.merge(cut, on=["symbol", "ts"], suffixes=("", "_cut"))
    assert len(both) > 0
    np.testing.assert_array_equal(both["vol"], both["vol_cut"])


@pytest.mark.parametrize(
    ("change", "match"),
    [
        ({"horizon": 0}, "horizon"),
        ({"pt_mult": -1.0}, "pt_mult"),
        ({"vol_window": 1}, "vol_window"),
    ],
)
def test_bad_parameters_name_themselves(change: dict, match: str) -> None:
    with pytest.raises(LabelError, match=match):
        triple_barrier_labels(_two_sessions(), **change)


def test_naive_timestamps_are_refused() -> None:
    bars = _two_sessions()
    bars["ts"] = bars["ts"].dt.tz_localize(None)
    with pytest.raises(LabelError, match="timezone-aware"):
        triple_barrier_labels(bars)


def test_no_bars_give_an_empty_label_table() -> None:
    bars = _two_sessions().iloc[:0]
    labels = triple_barrier_labels(bars)
    assert labels.empty
    assert list(labels.columns) == ["symbol", "ts", "label", "event_end", "ret", "vol"]
