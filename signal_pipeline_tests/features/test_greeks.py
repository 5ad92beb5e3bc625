"""Black-Scholes-Merton prices, Greeks and implied volatility against py_vollib (imported as
``vollib``, the package py_vollib now ships as) and Hull's worked example.

py_vollib's conventions, read from ``vollib/black_scholes_merton/greeks/analytical.py``:
theta is divided by 365 (per calendar day), vega and rho are multiplied by 0.01 (per 1 %
point of volatility / rate): the same as ours, so values compare one to one.
"""

from __future__ import annotations

import itertools
import math

import numpy as np
import pytest
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from vollib.black_scholes_merton import black_scholes_merton as vollib_price
from vollib.black_scholes_merton.greeks import analytical as vollib_greeks
from vollib.black_scholes_merton.implied_volatility import implied_volatility as vollib_iv

from signal_pipeline.features.greeks import (
    IVStatus,
    OptionInputError,
    bsm_greeks,
    bsm_price,
    implied_volatility,
    solve_implied_volatility,
)

SPOT = 100.0
# Strikes from deep ITM to deep OTM, expiries from one day to two years.
STRIKES = (40.0, 70.0, 90.0, 99.0, 100.0, 101.0, 110.0, 150.0, 250.0)
YEARS = (1 / 365, 7 / 365, 30 / 365, 0.25, 1.0, 2.0)
VOLS = (0.08, 0.25, 0.6, 1.5)
CARRY = ((0.0, 0.0), (0.05, 0.02), (0.03, 0.07))


def _grid() -> list[tuple[str, float, float, float, float, float]]:
    return [
        (flag, k, t, r, sigma, q)
        for flag, k, t, (r, q), sigma in itertools.product("cp", STRIKES, YEARS, CARRY, VOLS)
    ]


def test_prices_match_py_vollib_over_wings_and_short_expiries() -> None:
    grid = _grid()
    flag, k, t, r, sigma, q = (np.array(col) for col in zip(*grid, strict=True))
    ours = bsm_price(SPOT, k, t, r, sigma, q, np.char.upper(flag))
    reference = np.array([vollib_price(f, SPOT, *rest[:3], rest[3], rest[4]) for f, *rest in grid])
    np.testing.assert_allclose(ours, reference, rtol=1e-9, atol=1e-10)


@pytest.mark.parametrize("greek", ["delta", "gamma", "theta", "vega", "rho"])
def test_greeks_match_py_vollib_analytical(greek: str) -> None:
    grid = _grid()
    flag, k, t, r, sigma, q = (np.array(col) for col in zip(*grid, strict=True))
    ours = bsm_greeks(SPOT, k, t, r, sigma, q, np.char.upper(flag))[greek]
    reference_fn = getattr(vollib_greeks, greek)
    reference = np.array(
        [reference_fn(f, SPOT, kk, tt, rr, ss, qq) for f, kk, tt, rr, ss, qq in grid]
    )
    np.testing.assert_allclose(ours, reference, rtol=1e-9, atol=1e-12)


def test_hull_worked_example_greeks() -> None:
    """Hull, *Options, Futures and Other Derivatives*: S=49, K=50, r=5 %, σ=20 %, T=20 weeks
    (0.3846 y), a European call worth $2.40 with Δ=0.522, Γ=0.066, Θ=−4.31 per year,
    vega=12.1 per unit σ and ρ=8.91 per unit r."""
    args = (49.0, 50.0, 0.3846, 0.05, 0.20, 0.0, "C")
    assert bsm_price(*args) == pytest.approx(2.40, abs=0.005)
    g = bsm_greeks(*args)
    assert g["delta"] == pytest.approx(0.522, abs=5e-4)
    assert g["gamma"] == pytest.approx(0.066, abs=5e-4)
    assert g["theta"] * 365 == pytest.approx(-4.31, abs=5e-3)  # per day × 365 = per year
    assert g["vega"] * 100 == pytest.approx(12.1, abs=0.05)  # per vol point × 100 = per unit σ
    assert g["rho"] * 100 == pytest.approx(8.91, abs=5e-3)


def test_put_call_parity_of_prices_and_deltas() -> None:
    k, t, r, q, sigma = np.array(STRIKES), 0.5, 0.04, 0.01, 0.3
    call = bsm_price(SPOT, k, t, r, sigma, q, "C")
    put = bsm_price(SPOT, k, t, r, sigma, q, "P")
    np.testing.assert_allclose(call - put, SPOT * np.exp(-q * t) - k * np.exp(-r * t), atol=1e-12)
    delta_gap = (
        bsm_greeks(SPOT, k, t, r, sigma, q, "C")["delta"]
        - bsm_greeks(SPOT, k, t, r, sigma, q, "P")["delta"]
    )
    np.testing.assert_allclose(delta_gap, np.exp(-q * t), atol=1e-14)


def test_invalid_numeric_inputs_give_nan_not_an_exception() -> None:
    prices = bsm_price(
        [100.0, -1.0, 100.0, 100.0], [100.0, 100.0, 0.0, 100.0], [1.0, 1.0, 1.0, 0.0], 0.0, 0.2
    )
    assert np.isfinite(prices[0])
    assert np.isnan(prices[1:]).all()


def test_unknown_option_type_raises() -> None:
    with pytest.raises(OptionInputError, match=r"\['X'\] are not 'C' or 'P'"):
        bsm_price(100.0, 100.0, 1.0, 0.0, 0.2, 0.0, ["C", "X"])


def _round_trip_grid() -> tuple[np.ndarray, ...]:
    strikes = SPOT * np.exp(np.linspace(-1.2, 1.2, 25))  # about 30 .. 330
    years = np.array([1, 2, 7, 30, 90, 365, 730]) / 365
    vols = np.array([0.05, 0.15, 0.4, 1.0, 2.5])
    k, t, s, call = np.meshgrid(strikes, years, vols, [True, False], indexing="ij")
    return k.ravel(), t.ravel(), s.ravel(), np.where(call.ravel(), "C", "P")


def test_iv_round_trip_recovers_sigma_across_wings_and_expiries() -> None:
    r, q = 0.03, 0.01
    k, t, sigma, kind = _round_trip_grid()
    price = bsm_price(SPOT, k, t, r, sigma, q, kind)
    forward = SPOT * np.exp((r - q) * t)
    otm = np.where(kind == "C", k >= forward, k < forward)
    time_value = price - np.where(otm, 0.0, np.abs(SPOT * np.exp(-q * t) - k * np.exp(-r * t)))
    res = solve_implied_volatility(price, SPOT, k, t, r, q, kind)
    # Prices with time value are solvable (the out-of-the-money ones down to 1e-300); an ITM
    # price whose time value is below double precision of its intrinsic value is not.
    identifiable = time_value > 1e-12 * SPOT
    assert (res.status[identifiable] == IVStatus.OK).all()
    # The rest: ITM prices equal to intrinsic in floating point, or prices that underflowed to 0.
    assert (res.status[~otm & ~identifiable] != IVStatus.INVALID_INPUT).all()
    assert set(res.status[~identifiable]) <= {
        IVStatus.OK,
        IVStatus.NO_TIME_VALUE,
        IVStatus.INVALID_INPUT,
    }
    np.testing.assert_array_equal(res.status == IVStatus.INVALID_INPUT, price == 0.0)
    # Where the time value carries at least 8 significant digits, σ comes back to 1e-8.
    precise = time_value > 1e-6 * SPOT
    assert precise.sum() > 0.4 * precise.size  # the grid is mostly far wings
    np.testing.assert_allclose(res.iv[precise], sigma[precise], rtol=0, atol=1e-8)
    # Everywhere it solved, the solved σ reprices the option to the input price.
    solved = res.status == IVStatus.OK
    repriced = bsm_price(SPOT, k[solved], t[solved], r, res.iv[solved], q, kind[solved])
    np.testing.assert_allclose(repriced, price[solved], rtol=1e-9, atol=1e-13)
    assert res.iterations.max() < 100


def test_iv_matches_py_vollib_implied_volatility() -> None:
    r, q = 0.03, 0.01
    k, t, sigma, kind = _round_trip_grid()
    price = bsm_price(SPOT, k, t, r, sigma, q, kind)
    ours = implied_volatility(price, SPOT, k, t, r, q, kind)
    # Options whose out-of-the-money twin is worth > 1e-6·S: σ is pinned to ~1e-10 there.
    twin = bsm_price(SPOT, k, t, r, sigma, q, np.where(kind == "C", "P", "C"))
    otm_value = np.minimum(price, twin)
    checked = 0
    for i in np.flatnonzero(otm_value > 1e-6 * SPOT)[::3]:
        reference = vollib_iv(price[i], SPOT, k[i], t[i], r, q, kind[i].lower())
        assert ours[i] == pytest.approx(reference, abs=1e-8)
        checked += 1
    assert checked > 200


def test_price_below_intrinsic_is_nan_with_reason() -> None:
    intrinsic = SPOT - 80.0 * np.exp(-0.05)
    res = solve_implied_volatility([intrinsic - 0.01, intrinsic], SPOT, 80.0, 1.0, 0.05, 0.0, "C")
    assert np.isnan(res.iv).all()
    assert res.status.tolist() == [IVStatus.BELOW_INTRINSIC, IVStatus.NO_TIME_VALUE]


def test_price_at_upper_bound_and_invalid_inputs_have_their_own_codes() -> None:
    res = solve_implied_volatility(
        [SPOT, 60.0, 0.0, 5.0, 5.0, 99.99],
        SPOT,
        [100.0, 100.0, 100.0, 100.0, -5.0, 100.0],
        [1.0, 1.0, 1.0, 0.0, 1.0, 1.0],
        0.0,
        0.0,
        ["C", "P", "C", "C", "C", "C"],
        sigma_max=5.0,
    )
    assert res.status.tolist() == [
        IVStatus.ABOVE_UPPER_BOUND,  # a call is worth less than the share
        IVStatus.OK,  # a put worth 60 on K=100 (σ about 2.6: large but solvable)
        IVStatus.INVALID_INPUT,  # zero price
        IVStatus.INVALID_INPUT,  # expired
        IVStatus.INVALID_INPUT,  # negative strike
        IVStatus.ABOVE_MAX_VOL,  # needs σ far above sigma_max
    ]
    assert np.isnan(res.iv[[0, 2, 3, 4, 5]]).all()
    assert bsm_price(SPOT, 100.0, 1.0, 0.0, res.iv[1], 0.0, "P") == pytest.approx(60.0, abs=1e-9)


def test_deep_wing_one_day_options_converge() -> None:
    """One-day options 30 % away from spot (prices down to ~1e-70) still invert exactly."""
    k = np.array([70.0, 75.0, 130.0, 140.0])
    kind = np.array(["P", "P", "C", "C"])
    price = bsm_price(SPOT, k, 1 / 365, 0.02, 0.35, 0.0, kind)
    assert price.min() < 1e-50
    res = solve_implied_volatility(price, SPOT, k, 1 / 365, 0.02, 0.0, kind)
    assert (res.status == IVStatus.OK).all()
    np.testing.assert_allclose(res.iv, 0.35, atol=1e-10)


@settings(max_examples=200, deadline=None)
@given(
    moneyness=st.floats(-1.0, 1.0),
    days=st.floats(1.0, 730.0),
    sigma=st.floats(0.03, 3.0),
    rate=st.floats(-0.01, 0.10),
    dividend=st.floats(0.0, 0.08),
    kind=st.sampled_from(["C", "P"]),
)
def test_iv_round_trip_property(
    moneyness: float, days: float, sigma: float, rate: float, dividend: float, kind: str
) -> None:
    """Any option whose out-of-the-money twin is worth > 1e-6 of spot inverts to its σ."""
    strike, t = SPOT * math.exp(moneyness), days / 365.0
    price = float(bsm_price(SPOT, strike, t, rate, sigma, dividend, kind))
    twin = float(bsm_price(SPOT, strike, t, rate, sigma, dividend, "P" if kind == "C" else "C"))
    assume(min(price, twin) > 1e-6 * SPOT)
    res = solve_implied_volatility(price, SPOT, strike, t, rate, dividend, kind)
    assert int(res.status) == IVStatus.OK
    assert float(res.iv) == pytest.approx(sigma, abs=1e-8)
