"""Microstructure features: each estimator on a hand-computed case (arithmetic shown), then
causality (prefix vs whole, trailing buffer vs full history) for every column."""

from __future__ import annotations

import math

import numpy as np
import pandas as pd
import pytest

from signal_pipeline.features.liquidity import (
    amihud_illiquidity,
    corwin_schultz_spread,
    roll_spread,
)
from signal_pipeline.features.microstructure import (
    MicroBars,
    MicrostructureInputError,
    bar_buy_volume,
    local_days,
    microstructure_features,
    microstructure_params,
    microstructure_warmup,
    quote_arrays,
    session_vwap,
    tick_rule_signs,
    to_utc_ns,
)
from signal_pipeline.features.microstructure_online import microstructure_last
from signal_pipeline.features.price_levels import support_resistance, volume_profile


def _session_stamps(days: int, start: str = "2024-03-04") -> pd.Series:
    """Bar-close stamps of the regular session (09:31 … 16:00 ET), weekdays."""
    out = []
    for day in pd.bdate_range(start, periods=days):
        open_ = pd.Timestamp(day.date()).tz_localize("America/New_York") + pd.Timedelta("9h31min")
        out.append(pd.date_range(open_, periods=390, freq="min").tz_convert("UTC"))
    return (
        pd.Series(np.concatenate([s.asi8 for s in out]))
        .astype("datetime64[ns]")
        .dt.tz_localize("UTC")
    )


def _random_bars(days: int = 3, seed: int = 7) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    ts = _session_stamps(days)
    n = len(ts)
    close = 50.0 * np.exp(np.cumsum(rng.normal(0, 0.001, n)))
    close = np.round(close, 2)  # a tick grid: some unchanged closes for the tick rule
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) + rng.uniform(0, 0.05, n)
    low = np.minimum(open_, close) - rng.uniform(0, 0.05, n)
    volume = rng.integers(0, 3000, n).astype(float)
    volume[rng.random(n) < 0.02] = 0.0
    return pd.DataFrame(
        {
            "symbol": "XYZ",
            "ts": ts,
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
        }
    )


def _quotes_for(bars: pd.DataFrame, seed: int = 3) -> pd.DataFrame:
    rng = np.random.default_rng(seed)
    half = rng.uniform(0.005, 0.03, len(bars))
    quotes = pd.DataFrame(
        {
            "symbol": "XYZ",
            "ts": bars["ts"],
            "bid": bars["close"] - half,
            "ask": bars["close"] + half,
            "bid_size": rng.integers(1, 50, len(bars)).astype(float),
            "ask_size": rng.integers(1, 50, len(bars)).astype(float),
        }
    )
    return quotes.iloc[::2].reset_index(drop=True)  # quotes every other minute: as-of fills


# ---------------------------------------------------------------- hand-computed cases


def test_corwin_schultz_equal_ranges_give_the_range() -> None:
    """Two bars with the same range H/L = 101/99 and no gap: β = 2x², γ = x² with
    x = ln(101/99), so α = x(√2·√2 − √2)/(3 − 2√2) − x/√(3 − 2√2) = x(3.4142 − 2.4142) = x and
    S = 2(e^x − 1)/(1 + e^x) = 2·(2/99)/(200/99) = 0.02 exactly."""
    high = np.array([101.0, 101.0])
    low = np.array([99.0, 99.0])
    close = np.array([100.0, 100.0])
    out = corwin_schultz_spread(high, low, close, window=1)
    assert np.isnan(out[0])
    assert out[1] == pytest.approx(0.02, abs=1e-12)


def test_corwin_schultz_adjusts_for_a_gap_and_floors_at_zero() -> None:
    """Bar 1 (H=103, L=101) lies wholly above bar 0's close 100: shifted down by the gap
    101 − 100 = 1 to H=102, L=100. Then β = ln(101/99)² + ln(102/100)² = 0.00079217,
    γ = ln(102/99)² = 0.00089120 and α = (√(2β) − √β)/(3 − 2√2) − √(γ/(3 − 2√2))
    = 0.067949 − 0.072071 = −0.004122 → S = 2(e^α − 1)/(1 + e^α) < 0, floored at 0.
    Bar 2 (H=102.5, L=100.5, no gap to close 102) with raw bar 1: β = ln(103/101)² +
    ln(102.5/100.5)² = 0.00077278, γ = ln(103/100.5)² = 0.00060375, α = 0.067113 − 0.059320
    = 0.007792 → S = 0.0077923. Window 2 averages both pairs: 0.0038962."""
    high = np.array([101.0, 103.0, 102.5])
    low = np.array([99.0, 101.0, 100.5])
    close = np.array([100.0, 102.0, 101.0])
    k = 3 - 2 * math.sqrt(2)

    def pair(beta: float, gamma: float) -> float:
        alpha = (math.sqrt(2 * beta) - math.sqrt(beta)) / k - math.sqrt(gamma / k)
        return max(2 * (math.exp(alpha) - 1) / (1 + math.exp(alpha)), 0.0)

    first = pair(math.log(101 / 99) ** 2 + math.log(102 / 100) ** 2, math.log(102 / 99) ** 2)
    second = pair(
        math.log(103 / 101) ** 2 + math.log(102.5 / 100.5) ** 2, math.log(103 / 100.5) ** 2
    )
    assert first == 0.0
    assert second == pytest.approx(0.0077923, abs=1e-7)
    out = corwin_schultz_spread(high, low, close, window=2)
    assert out[1] != out[1]  # NaN: window of 2 pairs not full yet
    assert out[2] == pytest.approx((first + second) / 2, rel=1e-12)
    assert out[2] == pytest.approx(0.0038962, abs=1e-7)
    assert corwin_schultz_spread(high, low, close, window=1)[1] == 0.0


def test_roll_spread_of_a_pure_bid_ask_bounce() -> None:
    """Closes 100, 101, 100, 101, 100: log returns a, −a, a, −a with a = ln 1.01. Window 3 at
    row 4 pairs (r_t, r_{t−1}) = (−a, a), (a, −a), (−a, a): sample covariance
    Σ(x−x̄)(y−ȳ)/2 = [(−2a/3)(2a/3) + (4a/3)(−4a/3) + (−2a/3)(2a/3)]/2 = −4a²/3, so the
    spread is 2·√(4a²/3) = 4a/√3 = 0.0229793."""
    out = roll_spread(np.array([100.0, 101.0, 100.0, 101.0, 100.0]), window=3)
    assert np.isnan(out[:4]).all()  # warm-up: window + 2 bars
    a = math.log(1.01)
    assert out[4] == pytest.approx(4 * a / math.sqrt(3), rel=1e-12)
    assert out[4] == pytest.approx(0.0229793, abs=1e-7)


def test_roll_spread_is_zero_for_trending_prices() -> None:
    """Returns 1 %, 2 %, 3 %, 4 %: positive serial covariance, no bounce → 0."""
    close = 100 * np.cumprod([1.0, 1.01, 1.02, 1.03, 1.04])
    assert roll_spread(close, window=3)[4] == 0.0


def test_amihud_skips_untraded_bars() -> None:
    """|ln(102/100)|/(102·20)·1e6 = 9.707170, bar 2 has no volume (left out),
    |ln(99.96/102)|/(99.96·30)·1e6 = 6.736931; mean of the two = 8.222051."""
    close = np.array([100.0, 102.0, 102.0, 99.96])
    volume = np.array([10.0, 20.0, 0.0, 30.0])
    out = amihud_illiquidity(close, volume, window=3)
    assert np.isnan(out[:3]).all()
    assert out[3] == pytest.approx((9.707170243 + 6.736930545) / 2, rel=1e-9)


def test_session_vwap_restarts_each_session() -> None:
    """Session A: prices 10, 11 with volumes 100, 300 → VWAP 10 then (1000+3300)/400 = 10.75.
    Session B restarts: 20 (no volume yet → the bar's price), then 21 with 50 → 21."""
    session = np.array(["A", "A", "B", "B"])
    vwap = session_vwap(
        session, np.array([10.0, 11.0, 20.0, 21.0]), np.array([100.0, 300.0, 0.0, 50.0])
    )
    np.testing.assert_allclose(vwap, [10.0, 10.75, 20.0, 21.0])


def test_vwap_deviation_feature_hand_computed() -> None:
    """Two bars of one session, typical prices (H+L+C)/3 = 10 and 11, volumes 100, 300:
    session VWAP at bar 1 = 10.75, close 11.1 → deviation 11.1/10.75 − 1 = 0.0325581."""
    bars = pd.DataFrame(
        {
            "ts": _session_stamps(1)[:2],
            "high": [10.5, 11.4],
            "low": [9.5, 10.5],
            "close": [10.0, 11.1],
            "volume": [100.0, 300.0],
        }
    )
    out = microstructure_features(bars, params={"vwap_window": 2})
    assert out["vwap_dev_session"].iloc[1] == pytest.approx(11.1 / 10.75 - 1, rel=1e-12)
    assert out["vwap_dev_2"].iloc[1] == pytest.approx(11.1 / 10.75 - 1, rel=1e-12)
    # With a bar vwap column, that is each bar's price instead of the typical price.
    bars["vwap"] = [10.2, 11.0]
    out = microstructure_features(bars)
    assert out["vwap_dev_session"].iloc[1] == pytest.approx(
        11.1 / ((1020 + 3300) / 400) - 1, rel=1e-12
    )


def test_bar_split_and_tick_rule() -> None:
    # Close 10.5 in a 9–11 range: 75 % of the way up → 75 of 100 shares are buys.
    assert (
        bar_buy_volume(np.array([11.0]), np.array([9.0]), np.array([10.5]), np.array([100.0]))[0]
        == 75.0
    )
    assert (
        bar_buy_volume(np.array([10.0]), np.array([10.0]), np.array([10.0]), np.array([8.0]))[0]
        == 4.0
    )
    # Up, unchanged (keeps +), down, unchanged (keeps −), up.
    signs = tick_rule_signs(np.array([10.0, 10.1, 10.1, 10.0, 10.0, 10.2]))
    np.testing.assert_array_equal(signs, [0, 1, 1, -1, -1, 1])


def test_order_flow_features_hand_computed() -> None:
    """Closes 10, 10.1, 10.1, 10.0 with volumes 100, 200, 300, 400 and ranges putting the
    close at 50 %, 100 %, 25 %, 0 % of the bar: buys 50, 200, 75, 0.
    Flow window 2 at bar 3: buy 75 + 0 = 75, sell 225 + 400 = 625, total 700 →
    order imbalance (75 − 625)/700 = −0.785714. Tick signs +1 (bar 2 keeps bar 1's up-tick),
    −1: (300 − 400)/700 = −0.142857. Lookback 4: normal volume 250/bar, so buy pressure =
    (75/2)/250 = 0.15 and sell pressure (625/2)/250 = 1.25."""
    bars = pd.DataFrame(
        {
            "ts": _session_stamps(1)[:4],
            "high": [10.5, 10.1, 10.4, 10.2],
            "low": [9.5, 9.9, 10.0, 10.0],
            "close": [10.0, 10.1, 10.1, 10.0],
            "volume": [100.0, 200.0, 300.0, 400.0],
        }
    )
    out = microstructure_features(bars, params={"flow_window": 2, "volume_lookback": 4})
    last = out.iloc[3]
    assert last["order_imbalance_2"] == pytest.approx(-550 / 700, rel=1e-12)
    assert last["tick_imbalance_2"] == pytest.approx(-100 / 700, rel=1e-12)
    assert last["buy_pressure_2_4"] == pytest.approx(0.15, rel=1e-12)
    assert last["sell_pressure_2_4"] == pytest.approx(1.25, rel=1e-12)
    assert np.isnan(out["buy_pressure_2_4"].iloc[2])  # lookback 4 not full


def test_volume_profile_hand_computed() -> None:
    """Window prices 10, 10, 11, 12 with volumes 1, 5, 1, 1; 2 bins over [10, 12]:
    bin 0 = [10, 11) holds 6, bin 1 = [11, 12] holds 2 → POC = 10.5 (centre of bin 0),
    concentration (6/8)² + (2/8)² = 0.625."""
    profile = volume_profile(
        np.array([10.0, 10.0, 11.0, 12.0]), np.array([1.0, 5.0, 1.0, 1.0]), 4, 2
    )
    assert np.isnan(profile.poc[:3]).all()
    assert profile.poc[3] == 10.5
    assert profile.concentration[3] == pytest.approx(0.625)
    flat = volume_profile(np.array([7.0, 7.0]), np.array([1.0, 2.0]), 2, 5)
    assert flat.poc[1] == 7.0 and flat.concentration[1] == 1.0
    idle = volume_profile(np.array([7.0, 8.0]), np.array([0.0, 0.0]), 2, 5)
    assert np.isnan(idle.poc[1])


def test_support_resistance_and_breakouts_hand_computed() -> None:
    """Window 2: at bar 2 the previous highs are 10.5, 10.8 → resistance 10.8, lows 9.8,
    10.1 → support 9.8. Close 11 breaks out: resistance distance 10.8/11 − 1 < 0.
    At bar 3 (levels of bars 1–2: resistance 11.2, support 10.1) close 10.0 breaks down."""
    high = np.array([10.5, 10.8, 11.2, 10.4])
    low = np.array([9.8, 10.1, 10.6, 9.9])
    close = np.array([10.0, 10.5, 11.0, 10.0])
    levels = support_resistance(high, low, close, 2)
    assert np.isnan(levels.support_dist[:2]).all()
    assert levels.resistance_dist[2] == pytest.approx(10.8 / 11 - 1)
    assert levels.support_dist[2] == pytest.approx(11 / 9.8 - 1)
    np.testing.assert_array_equal(levels.breakout_up[2:], [1.0, 0.0])
    np.testing.assert_array_equal(levels.breakout_down[2:], [0.0, 1.0])
    assert levels.support_dist[3] == pytest.approx(10.0 / 10.1 - 1)


def test_quoted_spread_as_of_join_and_fallback() -> None:
    """Quotes at bars 0 and 1 only: bar 2 takes bar 1's quote (1 minute old), bar 4 has none
    fresher than 2 minutes → the Corwin–Schultz estimate is used instead."""
    bars = _random_bars(1).iloc[:5].reset_index(drop=True)
    quotes = pd.DataFrame(
        {
            "ts": bars["ts"].iloc[:2],
            "bid": [49.9, 50.0],
            "ask": [50.1, 50.3],
            "bid_size": [10.0, 30.0],
            "ask_size": [30.0, 10.0],
        }
    )
    out = microstructure_features(
        bars, quotes, params={"quote_max_age": "2min", "spread_window": 1}
    )
    assert out["spread_abs"].iloc[2] == pytest.approx(0.3)
    assert out["spread_rel"].iloc[2] == pytest.approx(0.3 / 50.15)
    assert out["quote_imbalance"].tolist()[:3] == pytest.approx([-0.5, 0.5, 0.5])
    assert np.isnan(out["quote_imbalance"].iloc[4])
    assert out["spread_rel"].iloc[4] == out["cs_spread_1"].iloc[4]
    assert out["spread_abs"].iloc[4] == pytest.approx(
        out["cs_spread_1"].iloc[4] * bars["close"].iloc[4]
    )


# ---------------------------------------------------------------- causality and shape


def test_every_feature_is_causal_prefix_equals_whole() -> None:
    bars = _random_bars(3)
    quotes = _quotes_for(bars)
    whole = microstructure_features(bars, quotes)
    cut = 700  # mid-session of day 2
    prefix = microstructure_features(
        bars.iloc[:cut], quotes[quotes["ts"] <= bars["ts"].iloc[cut - 1]]
    )
    assert list(whole.columns) == list(prefix.columns)
    assert len(whole.columns) == 18
    pd.testing.assert_frame_equal(prefix, whole.iloc[:cut], check_exact=True)
    assert (whole.dtypes == np.float64).all()
    assert whole.index.equals(bars.index)
    # Past the warm-up there are values everywhere (NaN only where a definition gives none).
    assert whole.iloc[microstructure_warmup() :].notna().all().all()


def test_trailing_buffer_gives_the_same_last_row() -> None:
    """The online engine's use: a buffer from the session open covering the warm-up."""
    bars = _random_bars(3)
    full = microstructure_features(bars)
    start = 2 * 390  # day 3's open; 390 bars > warm-up (120)
    assert microstructure_warmup() <= 390
    for end in (start + 200, start + 389):
        buffer = bars.iloc[min(start, end + 1 - microstructure_warmup()) : end + 1]
        last = microstructure_features(buffer.reset_index(drop=True)).iloc[-1]
        np.testing.assert_allclose(
            last.to_numpy(), full.iloc[end].to_numpy(), rtol=1e-9, atol=1e-12
        )


def test_bad_inputs_raise_with_their_own_message() -> None:
    bars = _random_bars(1)
    with pytest.raises(MicrostructureInputError, match=r"lack columns \['volume'\]"):
        microstructure_features(bars.drop(columns="volume"))
    two = pd.concat([bars, bars.assign(symbol="ABC")], ignore_index=True)
    with pytest.raises(MicrostructureInputError, match="2 symbols"):
        microstructure_features(two)
    with pytest.raises(MicrostructureInputError, match="not sorted by ts"):
        microstructure_features(bars.iloc[::-1])
    with pytest.raises(MicrostructureInputError, match="unknown microstructure params"):
        microstructure_features(bars, params={"windw": 3})
    with pytest.raises(MicrostructureInputError, match="quotes lack columns"):
        microstructure_features(bars, quotes=bars[["ts"]])
    quotes = _quotes_for(bars)
    with pytest.raises(MicrostructureInputError, match="quotes hold 2 symbols"):
        microstructure_features(bars, quotes=pd.concat([quotes, quotes.assign(symbol="ABC")]))


def test_short_and_empty_inputs_give_nan_rows_not_errors() -> None:
    bars = _random_bars(1)
    empty = microstructure_features(bars.iloc[:0])
    assert empty.empty and len(empty.columns) == 17
    one = microstructure_features(bars.iloc[:1], _quotes_for(bars).iloc[:1])
    assert one["spread_rel"].notna().all()  # the quote is there from the first bar
    assert one["cs_spread_20"].isna().all()


@pytest.mark.parametrize("quotes_from", ["none", "table", "bar columns"])
def test_last_row_equals_the_batch_row(quotes_from: str) -> None:
    """The online engine's last-row path (each window computed once, at the newest bar)
    against the batch function's row, for every column, at ends across two sessions."""
    bars = _random_bars(3)
    quotes = _quotes_for(bars) if quotes_from == "table" else None
    if quotes_from == "bar columns":
        bars = bars.assign(bid=bars["close"] - 0.01, ask=bars["close"] + 0.02)
    full = microstructure_features(bars, quotes)
    params = microstructure_params()
    q = quote_arrays(quotes) if quotes is not None else None
    close = bars["close"].to_numpy()
    high, low = bars["high"].to_numpy(), bars["low"].to_numpy()
    bid_ask = (bars["bid"].to_numpy(), bars["ask"].to_numpy()) if "bid" in bars else (None, None)
    micro = MicroBars(to_utc_ns(bars["ts"]), high, low, close, bars["volume"].to_numpy(),
                      (high + low + close) / 3.0, *bid_ask)  # fmt: skip
    for end in (0, 5, 21, 130, 389, 390, 391, 700, 1169):
        start = max(0, end + 1 - 400)  # a trailing buffer, as the engine keeps
        window = MicroBars(*(a[start : end + 1] if a is not None else None for a in micro))
        last = microstructure_last(window, q, params)
        assert list(last) == list(full.columns)
        np.testing.assert_allclose(
            np.array(list(last.values())), full.iloc[end].to_numpy(), rtol=1e-12, atol=1e-15
        )


def test_local_days_match_pandas_across_daylight_saving_changes() -> None:
    """Session days from integer offsets must equal pandas' conversion: a short span, one
    across the March change, and one from October to March (same offset at both ends,
    two changes in between)."""
    for start, end in [("2024-03-04", "2024-03-08"), ("2024-03-08", "2024-03-12"),
                       ("2023-10-30", "2024-03-15")]:  # fmt: skip
        stamps = pd.date_range(f"{start} 20:59", f"{end} 21:00", freq="37min", tz="UTC")
        ref = stamps.tz_convert("America/New_York").tz_localize(None).normalize()
        days = local_days(stamps.asi8, "America/New_York")
        np.testing.assert_array_equal(days, ref.asi8 // (86_400 * 10**9))
