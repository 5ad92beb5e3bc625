"""Indicators against TA-Lib and hand calculations, and their declared memory."""

from __future__ import annotations

import numpy as np
import pytest
import talib

from signal_pipeline.features.indicators import (
    REGISTRY,
    Ohlcv,
    compute_indicator,
    reference_walk,
    warmup_bars,
)

WALK = reference_walk(3000)


def test_registry_has_at_least_50_distinct_indicators() -> None:
    assert len(REGISTRY) >= 50
    families = {ind.family for ind in REGISTRY.values()}
    assert {"trend", "momentum", "volatility", "volume", "cycle"} <= families


def test_rsi_is_talib_rsi_with_zone_flags() -> None:
    out = compute_indicator("rsi", WALK, {"period": 14, "overbought": 70.0, "oversold": 30.0})
    ref = talib.RSI(WALK.close, 14)
    np.testing.assert_array_equal(out["rsi_14"], ref)
    valid = ~np.isnan(ref)
    np.testing.assert_array_equal(out["rsi_ob_14_70"][valid], (ref[valid] >= 70).astype(float))
    np.testing.assert_array_equal(out["rsi_os_14_30"][valid], (ref[valid] <= 30).astype(float))
    assert np.isnan(out["rsi_ob_14_70"][:14]).all()


def test_sma_distance_by_hand() -> None:
    close = np.array([10.0, 11.0, 12.0, 13.0, 14.0])
    bars = Ohlcv(close, close + 1, close - 1, close, np.ones(5))
    out = compute_indicator("sma", bars, {"period": 3})["sma_3"]
    # SMA(3) at the last bar = 13; distance = 100 * (14 - 13) / 14
    assert out[-1] == pytest.approx(100.0 / 14.0, rel=1e-12)
    assert np.isnan(out[:2]).all()


def test_macd_is_scaled_talib_macd() -> None:
    out = compute_indicator("macd", WALK, {"fast": 12, "slow": 26, "signal": 9})
    line, signal, hist = talib.MACD(WALK.close, 12, 26, 9)
    np.testing.assert_allclose(out["macd_12_26_9"], 100 * line / WALK.close, rtol=1e-14)
    np.testing.assert_allclose(out["macd_signal_12_26_9"], 100 * signal / WALK.close, rtol=1e-14)
    np.testing.assert_allclose(out["macd_hist_12_26_9"], 100 * hist / WALK.close, rtol=1e-14)


def test_bollinger_percent_b_by_hand() -> None:
    close = np.array([1.0, 2.0, 3.0, 4.0, 5.0]) + 100
    bars = Ohlcv(close, close, close, close, np.ones(5))
    out = compute_indicator("bbands", bars, {"period": 5, "nbdev": 2.0})
    sd = np.std(close)  # population standard deviation, as TA-Lib
    upper, lower = close.mean() + 2 * sd, close.mean() - 2 * sd
    assert out["bb_pctb_5_2"][-1] == pytest.approx((close[-1] - lower) / (upper - lower))


def test_stochastic_williams_cci_atr_are_talib() -> None:
    h, lo, c = WALK.high, WALK.low, WALK.close
    k, d = talib.STOCH(h, lo, c, 14, 3, 0, 3, 0)
    out = compute_indicator("stoch", WALK, {"k_period": 14, "d_period": 3})
    np.testing.assert_array_equal(out["stoch_k_14_3"], k)
    np.testing.assert_array_equal(out["stoch_d_14_3"], d)
    np.testing.assert_array_equal(
        compute_indicator("willr", WALK, {"period": 14})["willr_14"], talib.WILLR(h, lo, c, 14)
    )
    np.testing.assert_array_equal(
        compute_indicator("cci", WALK, {"period": 20})["cci_20"], talib.CCI(h, lo, c, 20)
    )
    atr = compute_indicator("atr", WALK, {"period": 14})["atr_14"]
    np.testing.assert_allclose(atr, 100 * talib.ATR(h, lo, c, 14) / c, rtol=1e-12)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_memory_is_enough(name: str) -> None:
    """The trailing ``memory`` bars reproduce the full-history value (what online relies on)."""
    params = dict(REGISTRY[name].defaults)
    memory = REGISTRY[name].memory(**params)
    full = compute_indicator(name, WALK, params)
    for end in (2000, 2500, 3000):
        window = Ohlcv(*(a[:end] for a in WALK)).tail(memory)
        part = compute_indicator(name, window, params)
        for col, values in full.items():
            a, b = values[end - 1], part[col][-1]
            assert abs(a - b) <= 1e-9 * max(abs(a), abs(b), 1.0), (col, end, a, b)


@pytest.mark.parametrize("name", sorted(REGISTRY))
def test_outputs_are_finite_after_warmup(name: str) -> None:
    params = dict(REGISTRY[name].defaults)
    warm = warmup_bars(name, params)
    for col, values in compute_indicator(name, WALK, params).items():
        assert np.isfinite(values[warm[col] :]).all(), col
        assert np.isnan(values[: warm[col]]).all(), col


def test_hilbert_sine_shares_the_phase_and_is_talib_bit_for_bit() -> None:
    """ht_sine reuses the phase ht_dcphase just computed on the same bars; it must equal
    TA-Lib's HT_SINE exactly whether or not the phase was computed first, and a phase of
    other bars (same length, one price changed) must never be taken."""
    other = Ohlcv(*(a.copy() for a in WALK))
    other.close[-1] *= 1.01
    for first in (None, WALK, other):
        if first is not None:
            compute_indicator("ht_dcphase", first, {})
        sine = compute_indicator("ht_sine", WALK, {})
        ref_sine, ref_lead = talib.HT_SINE(WALK.close)
        np.testing.assert_array_equal(sine["ht_sine"], ref_sine)
        np.testing.assert_array_equal(sine["ht_leadsine"], ref_lead)
    phase = compute_indicator("ht_dcphase", other, {})["ht_dcphase"]
    np.testing.assert_array_equal(phase, talib.HT_DCPHASE(other.close))
