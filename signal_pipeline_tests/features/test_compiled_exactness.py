"""The compiled (numba) batch paths give bit-for-bit the numbers of the numpy/pandas code
they replaced: rolling sums and covariances, the volume profile, the option surface's
forwards, ATM brackets, twin IVs and smile fits, and the IV history windows."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from numpy.lib.stride_tricks import sliding_window_view

from signal_pipeline.data import simulate_market
from signal_pipeline.features.iv_surface import atm_vols, fit_smiles, parity_forwards
from signal_pipeline.features.liquidity import pairwise_sum, rolling_cov, rolling_sum
from signal_pipeline.features.options import (
    _in_contract_form,
    _iv_history_features,
    _twin_iv,
    options_features,
)
from signal_pipeline.features.price_levels import (
    _volume_profile_numpy,
    trailing_extremes,
    volume_profile,
)

WINDOWS = [1, 2, 7, 8, 9, 16, 20, 100, 127, 128, 129, 200, 300]


def _same(a: np.ndarray, b: np.ndarray) -> bool:
    """Equal bit for bit, NaN where NaN."""
    return a.shape == b.shape and bool(np.all((a == b) | (np.isnan(a) & np.isnan(b))))


@pytest.fixture(scope="module")
def noisy() -> np.ndarray:
    rng = np.random.default_rng(4)
    x = rng.standard_normal(3000) * 1e3 + rng.random(3000) * 1e-3
    x[[40, 41, 900]] = np.nan
    return x


def test_pairwise_sum_is_numpys_sum(noisy: np.ndarray) -> None:
    finite = np.nan_to_num(noisy)
    for lo, n in [(0, 0), (3, 5), (0, 8), (1, 20), (7, 128), (2, 129), (5, 1000), (0, 3000)]:
        assert pairwise_sum(finite, lo, n) == finite[lo : lo + n].sum()


@pytest.mark.parametrize("window", WINDOWS)
def test_rolling_sum_and_cov_equal_the_strided_numpy_code(noisy: np.ndarray, window: int) -> None:
    y = np.roll(noisy, 3)
    ref_sum = np.full(noisy.shape, np.nan)
    ref_sum[window - 1 :] = sliding_window_view(noisy, window).sum(axis=1)
    assert _same(rolling_sum(noisy, window), ref_sum)
    if window > 1:
        xs, ys = sliding_window_view(noisy, window), sliding_window_view(y, window)
        dx = xs - xs.mean(axis=1, keepdims=True)
        dy = ys - ys.mean(axis=1, keepdims=True)
        ref_cov = np.full(noisy.shape, np.nan)
        ref_cov[window - 1 :] = (dx * dy).sum(axis=1) / (window - 1)
        assert _same(rolling_cov(noisy, y, window), ref_cov)
    assert np.isnan(rolling_sum(noisy[: window - 1], window)).all()


@pytest.mark.parametrize("window", [1, 2, 5, 60, 120, 2999, 3000])
def test_trailing_extremes_equal_numpy_window_max_min(window: int) -> None:
    rng = np.random.default_rng(window)
    for x in (rng.random(3000), np.round(rng.random(3000) * 4), np.arange(3000.0)[::-1]):
        high, low = trailing_extremes(x, window)
        view = sliding_window_view(x, window)
        assert _same(high, view.max(axis=1)) and _same(low, view.min(axis=1))


@pytest.mark.parametrize(("window", "bins"), [(120, 20), (30, 7), (5, 3)])
@pytest.mark.parametrize("whole", [True, False])
def test_compiled_volume_profile_equals_the_numpy_one(window: int, bins: int, whole: bool) -> None:
    """Whole-number volumes take the bar-by-bar histogram updates, others the rebuild."""
    rng = np.random.default_rng(window)
    price = 100 + np.cumsum(rng.standard_normal(2500)) * 0.05
    price[600:800] = 101.25  # flat windows: everything in bin 0, POC at the price
    volume = rng.integers(0, 500, 2500).astype(float)
    if not whole:
        volume *= rng.random(2500)
    volume[1500:1700] = 0.0  # windows without volume: NaN
    got = volume_profile(price, volume, window, bins)
    ref = _volume_profile_numpy(price, volume, window, bins)
    assert _same(got.poc, ref.poc) and _same(got.concentration, ref.concentration)
    assert np.isnan(got.poc[1700 - 1]) and np.isfinite(got.poc[1000])


def test_volume_profile_with_a_nan_volume_takes_the_numpy_path() -> None:
    price = 100 + np.sin(np.arange(300) / 7.0)
    volume = np.full(300, 10.0)
    volume[150] = np.nan
    got = volume_profile(price, volume, 20, 5)
    assert np.isnan(got.concentration[150:170]).all()
    clean = volume_profile(price, np.where(np.isnan(volume), 10.0, volume), 20, 5)
    assert _same(got.concentration[:150], clean.concentration[:150])


# --- option surface: the pandas implementations the compiled kernels replaced -------------


def _parity_reference(slice_id, strike, is_call, mid, quoted, discount, n_slices):
    frame = pd.DataFrame(
        {"slice": slice_id, "strike": strike, "call": is_call, "mid": mid, "disc": discount}
    )[quoted]
    calls = frame[frame["call"]].set_index(["slice", "strike"])
    puts = frame[~frame["call"]].set_index(["slice", "strike"])
    pairs = calls[["mid", "disc"]].join(puts[["mid"]], how="inner", rsuffix="_put")
    forwards = np.full(n_slices, np.nan)
    if pairs.empty:
        return forwards
    pairs = pairs.reset_index()
    pairs["gap"] = (pairs["mid"] - pairs["mid_put"]).abs()
    best = pairs.loc[pairs.groupby("slice")["gap"].idxmin()]
    value = best["strike"] + (best["mid"] - best["mid_put"]) / best["disc"]
    forwards[best["slice"].to_numpy()] = value.to_numpy()
    return forwards


def _atm_reference(slice_id, k, iv, n_slices):
    frame = pd.DataFrame({"slice": slice_id, "k": k, "iv": iv})
    frame = frame[np.isfinite(frame["iv"]) & np.isfinite(frame["k"])]
    below, above = frame[frame["k"] < 0], frame[frame["k"] >= 0]
    lo = below.loc[below.groupby("slice")["k"].idxmax()].set_index("slice")
    hi = above.loc[above.groupby("slice")["k"].idxmin()].set_index("slice")
    index = pd.RangeIndex(n_slices)
    k_lo, iv_lo = (lo[c].reindex(index).to_numpy() for c in ("k", "iv"))
    k_hi, iv_hi = (hi[c].reindex(index).to_numpy() for c in ("k", "iv"))
    with np.errstate(invalid="ignore", divide="ignore"):
        both = iv_lo + (-k_lo / (k_hi - k_lo)) * (iv_hi - iv_lo)
    return np.where(np.isnan(k_lo), iv_hi, np.where(np.isnan(k_hi), iv_lo, both))


def _twin_reference(slice_id, strike, otm, iv):
    key = pd.MultiIndex.from_arrays([slice_id, strike])
    solved = pd.Series(iv[otm], index=key[otm])
    return solved[~solved.index.duplicated()].reindex(key).to_numpy()


@pytest.fixture(scope="module")
def contracts():
    """Sorted chain rows (as the options code gets them) with ties, unquoted strikes and
    slices without a call/put pair."""
    rng = np.random.default_rng(8)
    rows = []
    for sid in range(40):
        strikes = np.unique(rng.choice(np.arange(80.0, 121.0, 2.5), rng.integers(1, 12)))
        for call in (True, False):
            for k in strikes:
                if rng.random() < 0.15:
                    continue  # a missing contract
                mid = float(rng.choice([0.5, 1.0, 1.5, 2.0]))  # repeated mids: gap ties
                rows.append((sid, k, call, mid, rng.random() > 0.2, 0.99 - sid * 1e-4))
    sid, strike, call, mid, quoted, disc = (np.array(c) for c in zip(*rows, strict=True))
    order = np.lexsort((strike, ~call, sid))  # slice, type (calls first), strike
    return tuple(a[order] for a in (sid, strike, call, mid, quoted, disc))


def test_parity_forwards_equal_the_pandas_join(contracts) -> None:
    sid, strike, call, mid, quoted, disc = contracts
    got = parity_forwards(sid, strike, call, mid, quoted, disc, 42)
    assert _same(got, _parity_reference(sid, strike, call, mid, quoted, disc, 42))
    assert np.isnan(got[40:]).all() and np.isfinite(got).sum() > 20


def test_atm_brackets_and_twin_ivs_equal_the_pandas_groupbys(contracts) -> None:
    sid, strike, call, _, quoted, _ = contracts
    rng = np.random.default_rng(9)
    k = np.log(strike / 100.0) + rng.choice([0.0, 0.01], sid.size)  # repeated k: ties
    iv = np.where(quoted, rng.random(sid.size), np.nan)
    assert _same(atm_vols(sid, k, iv, 42), _atm_reference(sid, k, iv, 42))
    otm = np.where(call, strike >= 100.0, strike < 100.0)
    assert _same(_twin_iv(sid, strike, otm, iv), _twin_reference(sid, strike, otm, iv))


def test_smile_fit_counts_distinct_strikes_per_slice() -> None:
    sid = np.array([0, 0, 0, 1, 1, 1, 1, 2, 2, 2])
    k = np.array([-0.1, 0.0, 0.1, -0.1, -0.1, 0.1, 0.1, -0.2, 0.0, 0.2])
    iv = 0.2 + 0.1 * k + 0.5 * k**2
    fit = fit_smiles(sid, k, iv, 4)
    # slice 1 has 4 points but only 2 distinct strikes, slice 3 has none: no fit
    assert np.isnan(fit.level[[1, 3]]).all()
    np.testing.assert_allclose(fit.curvature[[0, 2]], 0.5, rtol=1e-9)


def _history_reference(values, look, min_periods, percentiles):
    window = pd.Series(values).rolling(look, min_periods=min_periods)
    low, high = window.min().to_numpy(), window.max().to_numpy()

    def share_below(w: np.ndarray) -> float:
        past = w[:-1][np.isfinite(w[:-1])]
        if not np.isfinite(w[-1]) or past.size == 0:
            return np.nan
        return float(np.mean(past < w[-1]))

    with np.errstate(invalid="ignore", divide="ignore"):
        rank = np.where(high > low, (values - low) / (high - low), np.nan)
    out = {"rank": rank, "pctl_rank": window.apply(share_below, raw=True).to_numpy()}
    for q in percentiles:
        out[q] = window.quantile(q / 100.0, interpolation="linear").to_numpy()
    return out


@pytest.mark.parametrize("seed", range(12))
def test_iv_history_windows_equal_pandas_rolling(seed: int) -> None:
    rng = np.random.default_rng(seed)
    n, look = int(rng.integers(1, 400)), int(rng.integers(1, 60))
    min_periods = int(rng.integers(0, look + 1))
    values = rng.choice([0.2, 0.25, 0.3], n) if seed % 3 == 0 else rng.random(n)  # ties
    values[rng.random(n) < 0.2] = np.nan
    if seed % 4 == 0:
        values[rng.integers(0, n)] = np.inf  # pandas' windows treat it as missing
    percentiles = (0, 10, 33, 50, 90, 100)
    params = {"iv_lookback": look, "iv_min_periods": min_periods, "iv_percentiles": percentiles}
    got = _iv_history_features(values, params)
    ref = _history_reference(values, look, min_periods, percentiles)
    assert _same(got[f"iv_rank_{look}"], ref["rank"])
    assert _same(got[f"iv_pctl_rank_{look}"], ref["pctl_rank"])
    for q in percentiles:
        assert _same(got[f"iv_pctl_{q}_{look}"], ref[q]), q


def test_iv_history_window_params_are_checked() -> None:
    with pytest.raises(ValueError, match="iv_min_periods"):
        _iv_history_features(np.ones(5), {"iv_lookback": 3, "iv_min_periods": 4,
                                          "iv_percentiles": (50,)})  # fmt: skip


@pytest.fixture(scope="module")
def chain() -> pd.DataFrame:
    return simulate_market(["AAA"], 25, seed=21).option_chains


def test_a_chain_in_contract_form_skips_validation_with_the_same_result(chain) -> None:
    """The simulator's chain is used as it is; shuffled (or with int volumes) it goes
    through the full validation, which sorts and converts: the features are the same."""
    assert _in_contract_form(chain)
    direct = options_features(chain)
    shuffled = chain.sample(frac=1.0, random_state=1)
    as_ints = chain.assign(volume=chain["volume"].round().astype("int64"))
    assert not _in_contract_form(shuffled)
    assert not _in_contract_form(as_ints)
    pd.testing.assert_frame_equal(options_features(shuffled), direct, check_exact=True)
    rounded = options_features(chain.assign(volume=chain["volume"].round()))
    pd.testing.assert_frame_equal(options_features(as_ints), rounded, check_exact=True)


@pytest.mark.parametrize(
    "damage",
    [
        lambda c: c.assign(symbol=c["symbol"] + " "),  # text the contract cleans
        lambda c: c.assign(bid=c["ask"] + 0.01),  # crossed
        lambda c: c.assign(open_interest=-c["open_interest"]),
        lambda c: pd.concat([c, c.iloc[:1]], ignore_index=True),  # a duplicate key
        lambda c: c.assign(ts=c["ts"].dt.tz_convert("America/New_York")),
    ],
)
def test_anything_unusual_goes_through_the_full_validation(chain, damage) -> None:
    assert not _in_contract_form(damage(chain.iloc[:500].reset_index(drop=True)))
