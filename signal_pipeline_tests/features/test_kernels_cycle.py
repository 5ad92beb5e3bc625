"""Hilbert-transform and MAMA kernels against TA-Lib beyond the shared kernel tests: bit for
bit on paths that take the rare branches (flat prices: Re = Im = 0 and a zero DFT; a pure
cycle: trend mode switching; tiny and huge prices; series shorter than the lookback),
warm-up split at every boundary of the start-up, and the fused multiply-add they rely on."""

from __future__ import annotations

import numpy as np
import pytest
from numba import njit

from signal_pipeline.features.indicators import Ohlcv, compute_indicator
from signal_pipeline.features.kernels import cycle, make_kernel, stream

MAMA = {"fastlimit": 0.5, "slowlimit": 0.05}
CASES = [
    ("ht_dcperiod", {}),
    ("ht_dcphase", {}),
    ("ht_phasor", {}),
    ("ht_sine", {}),
    ("ht_trendline", {}),
    ("ht_trendmode", {}),
    ("mama", MAMA),
    ("mama", {"fastlimit": 0.9, "slowlimit": 0.01}),
]


def _bars(close: np.ndarray) -> Ohlcv:
    close = np.ascontiguousarray(close, dtype=np.float64)
    return Ohlcv(close, close * 1.001, close * 0.999, close, np.ones_like(close))


def _walk(n: int, sigma: float, seed: int, start: float = 100.0) -> np.ndarray:
    rng = np.random.default_rng(seed)
    return start * np.exp(np.cumsum(rng.normal(0.0, sigma, n)))


_T = np.arange(3000)
PATHS = {
    "volatile": lambda: _walk(6000, 0.03, 1),
    "calm": lambda: _walk(6000, 0.0002, 2),
    "cycle": lambda: 100.0 + 5.0 * np.sin(2 * np.pi * _T / 20) + 0.002 * _T,
    "flat": lambda: np.full(400, 42.0),
    "flat_then_walk": lambda: np.concatenate([np.full(300, 42.0), _walk(1500, 0.01, 3, 42.0)]),
    "tiny": lambda: _walk(2000, 0.01, 4, 1e-4),
    "huge": lambda: _walk(2000, 0.01, 5, 1e7),
    "short_40": lambda: _walk(40, 0.01, 6),
    "short_64": lambda: _walk(64, 0.01, 7),
    "one_bar": lambda: np.array([100.0]),
}


@pytest.mark.parametrize("path", sorted(PATHS))
@pytest.mark.parametrize(("name", "params"), CASES, ids=lambda x: str(x))
def test_bit_exact_against_talib(name: str, params: dict, path: str) -> None:
    bars = _bars(PATHS[path]())
    got = stream(name, params, bars)
    want = compute_indicator(name, bars, params)
    assert got.shape == (len(bars.close), len(want))
    for j, (col, ref) in enumerate(want.items()):
        if name == "ht_sine":
            # The registry takes numpy's sin of the phase, the kernel the C library's: the
            # phase is bit-exact (test via ht_dcphase), the sines may differ in the last bit.
            np.testing.assert_array_equal(np.isnan(got[:, j]), np.isnan(ref), err_msg=col)
            np.testing.assert_allclose(got[:, j], ref, rtol=0, atol=1e-15, err_msg=col)
        else:
            np.testing.assert_array_equal(got[:, j], ref, err_msg=f"{name} {col} on {path}")


def test_trend_mode_switches_on_a_cycle_and_on_a_trend() -> None:
    """The cycle path must reach both modes, so the bit-exact test covers both branches."""
    cyc = stream("ht_trendmode", {}, _bars(PATHS["cycle"]()))[:, 0]
    walk = stream("ht_trendmode", {}, _bars(PATHS["volatile"]()))[:, 0]
    assert np.isnan(cyc[:63]).all() and not np.isnan(cyc[63:]).any()
    assert set(np.unique(cyc[63:])) == {0.0, 1.0}
    assert set(np.unique(walk[63:])) == {0.0, 1.0}


@pytest.mark.parametrize("split", [1, 3, 11, 12, 13, 31, 32, 36, 37, 38, 62, 63, 64, 99])
@pytest.mark.parametrize(("name", "params"), CASES[:7], ids=lambda x: str(x))
def test_warm_split_anywhere_equals_stream(name: str, params: dict, split: int) -> None:
    bars = _bars(_walk(160, 0.01, 8))
    full = stream(name, params, bars)
    k = make_kernel(name, params)
    out = np.full(k.outputs, -1.0)
    k.warm(Ohlcv(*(a[:split] for a in bars)), out, 0)
    np.testing.assert_array_equal(out, full[split - 1])
    for i in range(split, 160):
        k.step(k.state, *(a[i] for a in bars), out, 0)
        np.testing.assert_array_equal(out, full[i])


def test_kernels_write_at_offset_and_keep_separate_state() -> None:
    """Two kernels stepped interleaved into one output row give each one's own stream."""
    bars = _bars(_walk(300, 0.01, 9))
    a, b = make_kernel("ht_phasor", {}), make_kernel("mama", MAMA)
    row = np.full(5, -7.0)
    got = np.empty((300, 4))
    for i in range(300):
        bar = tuple(x[i] for x in bars)
        a.step(a.state, *bar, row, 0)
        b.step(b.state, *bar, row, 2)
        got[i] = row[:4]
    assert row[4] == -7.0
    np.testing.assert_array_equal(got[:, :2], stream("ht_phasor", {}, bars))
    np.testing.assert_array_equal(got[:, 2:], stream("mama", MAMA, bars))


@pytest.mark.parametrize("bad", [{"fastlimit": 0.0}, {"fastlimit": 1.5}, {"slowlimit": 0.001}])
def test_mama_limits_out_of_talib_range_are_rejected(bad: dict) -> None:
    params = {**MAMA, **bad}
    (name,) = bad
    with pytest.raises(ValueError, match=rf"mama: {name} must be within \[0.01, 0.99\]"):
        make_kernel("mama", params)


@njit
def _fused(x, y, z):
    return cycle._fma(x, y, z)


def test_fma_rounds_once() -> None:
    # 0.1 * 10 is 1 + 2**-54 exactly; a separate multiply rounds it to 1.0 first.
    assert 0.1 * 10.0 - 1.0 == 0.0
    assert _fused(0.1, 10.0, -1.0) == 2.0**-54
