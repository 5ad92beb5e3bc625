"""The online engine's compiled last-row microstructure path against the batch table, bar by
bar, on awkward data: untraded stretches longer than every window, flat prices, price gaps,
quote tables with holes, zero sizes and missing bids, bar quote columns with gaps, session
days across daylight-saving changes and bars stamped at local midnight."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from signal_pipeline.features.microstructure import (
    MicroBars,
    MicrostructureInputError,
    microstructure_features,
    microstructure_params,
    microstructure_warmup,
    quote_arrays,
    to_utc_ns,
)
from signal_pipeline.features.microstructure_kernels import np_sum
from signal_pipeline.features.microstructure_online import (
    microstructure_last,
    microstructure_last_names,
    microstructure_last_values,
)

NY = "America/New_York"


def _session_stamps(days: pd.DatetimeIndex, tz: str = NY) -> np.ndarray:
    """1-minute bar closes 09:31 … 16:00 local on each day, as UTC nanoseconds."""
    out = []
    for day in days:
        open_ = pd.Timestamp(day.date()).tz_localize(tz) + pd.Timedelta("9h31min")
        out.append(pd.date_range(open_, periods=390, freq="min").asi8)
    return np.concatenate(out)


def _awkward_bars(ts_ns: np.ndarray, seed: int = 11) -> pd.DataFrame:
    """Random-walk bars on a tick grid with: scattered untraded bars, an untraded stretch
    longer than every window, a flat stretch (high = low = close, no price change) that
    trades, a flat stretch that does not, and an opening price gap."""
    rng = np.random.default_rng(seed)
    n = ts_ns.size
    close = np.round(50.0 * np.exp(np.cumsum(rng.normal(0, 0.0012, n))), 2)
    close[n // 2 :] = np.round(close[n // 2 :] * 1.04, 2)  # a gap up
    flat_traded = slice(n // 5, n // 5 + 70)
    flat_quiet = slice(3 * n // 5, 3 * n // 5 + 40)
    for run in (flat_traded, flat_quiet):
        close[run] = close[run.start - 1]
    open_ = np.r_[close[0], close[:-1]]
    high = np.maximum(open_, close) + rng.uniform(0, 0.05, n)
    low = np.minimum(open_, close) - rng.uniform(0, 0.05, n)
    for run in (flat_traded, flat_quiet):
        high[run] = low[run] = open_[run] = close[run]
    volume = rng.integers(0, 3000, n).astype(float)
    volume[rng.random(n) < 0.05] = 0.0
    volume[2 * n // 5 : 2 * n // 5 + 150] = 0.0  # > profile (120) and lookback (100) windows
    volume[flat_quiet] = 0.0
    return pd.DataFrame(
        {
            "symbol": "XYZ",
            "ts": pd.to_datetime(ts_ns, utc=True),
            "open": open_,
            "high": high,
            "low": low,
            "close": close,
            "volume": volume,
        }
    )


def _awkward_quotes(bars: pd.DataFrame, seed: int = 5) -> pd.DataFrame:
    """Quotes 20 s before most bar closes (some exactly at the close), with a 40-bar hole
    (stale: the spread falls back to Corwin–Schultz; the quote before it, stamped at a
    bar close, is exactly as old as allowed 5 one-minute bars later), zero sizes on both
    sides, and missing bids."""
    rng = np.random.default_rng(seed)
    n = len(bars)
    half = rng.uniform(0.005, 0.03, n)
    lag = np.where(rng.random(n) < 0.2, 0, 20)
    lag[n // 3 - 1] = 0
    quotes = pd.DataFrame(
        {
            "symbol": "XYZ",
            "ts": bars["ts"] - pd.to_timedelta(lag, unit="s"),
            "bid": bars["close"] - half,
            "ask": bars["close"] + half,
            "bid_size": rng.integers(0, 50, n).astype(float),
            "ask_size": rng.integers(0, 50, n).astype(float),
        }
    )
    quotes.loc[rng.random(n) < 0.03, ["bid_size", "ask_size"]] = 0.0
    quotes.loc[rng.random(n) < 0.02, "bid"] = np.nan
    keep = np.ones(n, dtype=bool)
    keep[rng.random(n) < 0.3] = False  # as-of fills from older quotes
    keep[n // 3 - 1] = True
    keep[n // 3 : n // 3 + 40] = False
    return quotes[keep].reset_index(drop=True)


def _micro_bars(bars: pd.DataFrame) -> MicroBars:
    high, low, close = (bars[c].to_numpy() for c in ("high", "low", "close"))
    bid_ask = (bars["bid"].to_numpy(), bars["ask"].to_numpy()) if "bid" in bars else (None, None)
    return MicroBars(to_utc_ns(bars["ts"]), high, low, close, bars["volume"].to_numpy(),
                     (high + low + close) / 3.0, *bid_ask)  # fmt: skip


def _assert_stream_matches_batch(
    bars: pd.DataFrame, quotes: pd.DataFrame | None, params: dict, buffer: int
) -> int:
    """microstructure_last on the trailing ``buffer`` bars at every bar equals the batch
    row: same names and order, NaN where the batch has NaN, else |a − b| <= 1e-9 ·
    max(|a|, |b|, 1). Returns the number of non-NaN values compared."""
    p = microstructure_params(params)
    full = microstructure_features(bars, quotes, p)
    expected = full.to_numpy()
    micro = _micro_bars(bars)
    q = quote_arrays(quotes) if quotes is not None else None
    got = np.empty_like(expected)
    for end in range(len(bars)):
        start = max(0, end + 1 - buffer)
        window = MicroBars(*(a[start : end + 1] if a is not None else None for a in micro))
        last = microstructure_last(window, q, p)
        assert list(last) == list(full.columns)
        got[end] = list(last.values())
    np.testing.assert_array_equal(np.isnan(got), np.isnan(expected))
    known = ~np.isnan(expected)
    scale = np.maximum(np.maximum(np.abs(got), np.abs(expected)), 1.0)
    err = np.where(known, np.abs(got - expected) / scale, 0.0).max(axis=0)
    bad = {c: e for c, e in zip(full.columns, err, strict=True) if e > 1e-9}
    assert not bad, bad
    return int(known.sum())


# Engine-sized buffer for 1-minute bars: the warm-up plus one session (online._micro_window).
_BUFFER = microstructure_warmup() + 390 + 2


@pytest.mark.parametrize("quotes_from", ["none", "table", "bar columns"])
def test_every_bar_matches_the_batch_row_on_awkward_data(quotes_from: str) -> None:
    ts = _session_stamps(pd.bdate_range("2024-03-04", periods=8))  # 3,120 bars, across DST
    bars = _awkward_bars(ts)
    quotes = _awkward_quotes(bars) if quotes_from == "table" else None
    if quotes_from == "bar columns":
        bid, ask = bars["close"] - 0.01, bars["close"] + 0.02
        bid[::17] = np.nan  # no bar quote: Corwin–Schultz fallback
        bars = bars.assign(bid=bid, ask=ask)
    compared = _assert_stream_matches_batch(bars, quotes, {}, _BUFFER)
    assert compared > 0.9 * len(bars) * 17  # mostly past the warm-up, values not all NaN
    # The awkward stretches produced the values they should (guards the data itself).
    full = microstructure_features(bars, quotes)
    assert (full["order_imbalance_20"] == 0).any()  # 20 untraded bars
    assert full["vp_poc_dist_120_20"].isna().sum() > 120  # warm-up + untraded profile
    assert full["amihud_20"].isna().sum() > 20 + 20
    if quotes_from == "table":
        assert full["quote_imbalance"].isna().any() and (full["quote_imbalance"] == 0).any()


def test_round_the_clock_bars_long_windows_and_other_zone() -> None:
    """30-minute bars day and night (a bar closes at local midnight), a zone whose
    daylight-saving change falls inside the stream, and windows longer than numpy's
    128-value summation block (the pairwise split)."""
    tz = "Europe/London"
    ts = pd.date_range("2024-03-20", "2024-04-12", freq="30min", tz="UTC").asi8
    bars = _awkward_bars(ts, seed=3)
    quotes = _awkward_quotes(bars, seed=9)
    params = {"spread_window": 5, "flow_window": 150, "volume_lookback": 300,
              "vwap_window": 131, "profile_window": 260, "profile_bins": 7,
              "level_window": 200, "amihud_window": 140, "quote_max_age": "45min",
              "session_tz": tz}  # fmt: skip
    buffer = microstructure_warmup(params) + 48 + 2
    assert _assert_stream_matches_batch(bars, quotes, params, buffer) > 0


def test_daily_bars_across_daylight_saving_changes() -> None:
    """One bar per session (the 1d block): the session is the last bar alone."""
    days = pd.bdate_range("2023-01-02", "2024-12-31")
    ts = np.array(
        [(pd.Timestamp(d.date()).tz_localize(NY) + pd.Timedelta("16h")).value for d in days]
    )
    bars = _awkward_bars(ts, seed=21)
    assert _assert_stream_matches_batch(bars, None, {}, microstructure_warmup() + 3) > 0


def test_a_zone_whose_day_is_not_one_run_uses_per_stamp_days() -> None:
    """America/Goose_Bay fell back at 00:01 local in 2010: one minute of 7 November, then
    an hour of 6 November again. Such a day has no single [start, end) span: the session
    start then comes from every stamp's local day, as the numpy formulation found it."""
    tz = "America/Goose_Bay"
    ts = pd.date_range("2010-11-05 12:00", "2010-11-08 12:00", freq="1min", tz="UTC").asi8
    bars = _awkward_bars(ts, seed=4)
    p = microstructure_params({"session_tz": tz})
    micro = _micro_bars(bars)
    full = microstructure_features(bars, None, p)
    repeated = pd.date_range("2010-11-07 03:00", "2010-11-07 04:00", freq="1min", tz="UTC")
    for stamp in [*repeated[[0, 1, 30, -1]], pd.Timestamp("2010-11-07 06:00", tz="UTC")]:
        end = int(np.searchsorted(micro.ts, stamp.value))
        window = MicroBars(*(a[max(0, end - 1000) : end + 1] for a in micro[:6]))
        got = microstructure_last(window, None, p)["vwap_dev_session"]
        days = pd.DatetimeIndex(window.ts).tz_localize("UTC").tz_convert(tz)
        days = days.tz_localize(None).normalize().asi8
        first = int(np.searchsorted(days, days[-1]))  # the numpy formulation's session start
        pv = (window.price[first:] * window.volume[first:]).cumsum()[-1]
        vwap = pv / window.volume[first:].sum()
        assert got == pytest.approx(window.close[-1] / vwap - 1.0, rel=1e-12, abs=1e-15)
        if stamp.hour == 6:  # past the repeated hour the day is one run again: batch agrees
            assert got == pytest.approx(full["vwap_dev_session"].iloc[end], rel=1e-12)


def test_hand_computed_ties_and_carried_tick_sign() -> None:
    """Eight bars: the only price change is the buffer's first (bar 1, up), so every bar of
    the flow window carries a buy sign; the 4-bar profile splits its volume evenly between
    two bins, and the tie goes to the lower bin (numpy's argmax)."""
    ts = _session_stamps(pd.bdate_range("2024-06-03", periods=1))[:8]
    close = np.array([10.0, 11.0, 11.0, 11.0, 11.0, 11.0, 11.0, 11.0])
    high, low = close + 0.5, close - 0.5
    price = np.array([10.0, 11.0, 11.0, 11.0, 10.0, 12.0, 10.0, 12.0])
    volume = np.array([5.0, 1.0, 2.0, 3.0, 4.0, 4.0, 4.0, 4.0])
    bars = MicroBars(ts, high, low, close, volume, price)
    p = microstructure_params({"flow_window": 3, "volume_lookback": 4, "vwap_window": 2,
                               "profile_window": 4, "profile_bins": 2, "level_window": 3,
                               "spread_window": 2, "amihud_window": 2})  # fmt: skip
    last = microstructure_last(bars, None, p)
    assert last["tick_imbalance_3"] == 1.0
    assert last["order_imbalance_3"] == 0.0  # closes mid-range: half bought, half sold
    assert last["buy_pressure_3_4"] == pytest.approx(0.5)  # 6/3 per bar over 4 per bar
    assert last["vp_poc_dist_4_2"] == pytest.approx(11.0 / 10.5 - 1.0)  # lower bin's centre
    assert last["vp_concentration_4_2"] == pytest.approx(0.5)
    assert last["vwap_dev_2"] == pytest.approx(11.0 / 11.0 - 1.0)
    assert last["breakout_up_3"] == 0.0 and last["resistance_dist_3"] == pytest.approx(0.5 / 11)
    assert last["amihud_2"] == 0.0  # no price change in the window
    frame = pd.DataFrame({"ts": pd.to_datetime(ts, utc=True), "open": close, "high": high,
                          "low": low, "close": close, "volume": volume, "vwap": price})  # fmt: skip
    batch = microstructure_features(frame, None, p).iloc[-1]
    np.testing.assert_allclose(list(last.values()), batch.to_numpy(), rtol=1e-12, atol=1e-15)


def test_values_vector_names_and_input_coercion() -> None:
    ts = _session_stamps(pd.bdate_range("2024-06-03", periods=2))
    bars = _awkward_bars(ts, seed=8)
    quotes = quote_arrays(_awkward_quotes(bars))
    micro = _micro_bars(bars)
    p = microstructure_params()
    for q in (None, quotes):
        as_dict = microstructure_last(micro, q, p)
        values = microstructure_last_values(micro, q, p)
        assert microstructure_last_names(p, q is not None) == tuple(as_dict)
        np.testing.assert_array_equal(values, np.array(list(as_dict.values())))
    # Strided, float32-free integer and list inputs give the same row as contiguous float64.
    doubled = MicroBars(*(np.repeat(a, 2)[::2] for a in micro[:6]))
    assert not doubled.close.flags.c_contiguous
    np.testing.assert_array_equal(
        microstructure_last_values(doubled, quotes, p),
        microstructure_last_values(micro, quotes, p),
    )
    int_volume = micro._replace(volume=micro.volume.astype(np.int64))
    np.testing.assert_array_equal(
        microstructure_last_values(int_volume, None, p), microstructure_last_values(micro, None, p)
    )


def test_bad_inputs_raise_named_errors() -> None:
    bars = _micro_bars(_awkward_bars(_session_stamps(pd.bdate_range("2024-06-03", periods=1))))
    p = microstructure_params()
    empty = MicroBars(*(a[:0] for a in bars[:6]))
    with pytest.raises(MicrostructureInputError, match="at least one bar"):
        microstructure_last(empty, None, p)
    with pytest.raises(MicrostructureInputError, match=r"\['flow_window=0'\].*>= 1"):
        microstructure_last(bars, None, {**p, "flow_window": 0})
    with pytest.raises(KeyError, match="amihud_window"):
        microstructure_last(bars, None, {k: v for k, v in p.items() if k != "amihud_window"})


@pytest.mark.parametrize("n", [*range(0, 40), 127, 128, 129, 255, 256, 257, 390, 1000, 4103])
def test_np_sum_is_numpys_sum_bit_for_bit(n: int) -> None:
    rng = np.random.default_rng(n)
    x = rng.normal(size=n + 5) * 10.0 ** rng.integers(-6, 6, size=n + 5)
    for lo in (0, 3):
        assert np_sum(x, lo, n) == x[lo : lo + n].sum()
