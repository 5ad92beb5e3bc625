"""Options features on crafted chains priced by py_vollib (``vollib``) from a known surface,
on the simulator's chains, and on bad chains."""

from __future__ import annotations

import math
from collections.abc import Callable

import numpy as np
import pandas as pd
import pytest
from vollib.black_scholes_merton import black_scholes_merton as vollib_price
from vollib.black_scholes_merton.greeks import analytical as vollib_greeks

from signal_pipeline.data import simulate_market
from signal_pipeline.data.validation import OptionChainError
from signal_pipeline.features.greeks import bsm_greeks, solve_implied_volatility
from signal_pipeline.features.options import options_feature_names, options_features

R, Q = 0.03, 0.01
T0 = pd.Timestamp("2024-03-01 21:00", tz="UTC")  # 16:00 ET
STRIKES = np.arange(70.0, 131.0, 2.5)

VolFn = Callable[[float, int], float]


def _chain(
    snapshots: list[tuple[pd.Timestamp, float]],
    expiry_days: list[int],
    vol: VolFn,
    *,
    volume: Callable[[str, float], float] = lambda kind, strike: 10.0,
    open_interest: Callable[[str, float], float] = lambda kind, strike: 100.0,
) -> pd.DataFrame:
    """Chain whose quotes are exact BSM prices (bid = ask = last = price, from py_vollib)
    of the volatility ``vol(k, days)`` with k = ln(K/F)/√T."""
    rows = []
    for ts, spot in snapshots:
        for days in expiry_days:
            t = days / 365.0
            forward = spot * math.exp((R - Q) * t)
            for strike in STRIKES * spot / 100.0:
                sigma = vol(math.log(strike / forward) / math.sqrt(t), days)
                for kind in "CP":
                    price = vollib_price(kind.lower(), spot, strike, t, R, sigma, Q)
                    rows.append(
                        {
                            "symbol": "XYZ",
                            "ts": ts,
                            "expiry": ts + pd.Timedelta(days=days),
                            "strike": strike,
                            "option_type": kind,
                            "bid": price,
                            "ask": price,
                            "last": price,
                            "volume": volume(kind, strike),
                            "open_interest": open_interest(kind, strike),
                            "underlying_price": spot,
                        }
                    )
    return pd.DataFrame(rows)


PARAMS = {"risk_free_rate": R, "dividend_yield": Q}


def test_skew_fit_recovers_a_known_quadratic_smile() -> None:
    """σ(k) = 0.25 − 0.10·k + 0.04·k² at every expiry (one of them exactly 30 days)."""
    chain = _chain([(T0, 100.0)], [14, 30, 60], lambda k, d: 0.25 - 0.10 * k + 0.04 * k**2)
    for forward in ("parity", "carry"):
        row = options_features(chain, {**PARAMS, "forward": forward}).iloc[0]
        assert row["iv_skew_level_30d"] == pytest.approx(0.25, abs=1e-9)
        assert row["iv_skew_slope_30d"] == pytest.approx(-0.10, abs=1e-9)
        assert row["iv_skew_curvature_30d"] == pytest.approx(0.04, abs=1e-9)
        assert row["iv_solved_share"] == 1.0


def test_term_structure_interpolates_in_total_variance() -> None:
    """Flat smiles with ATM vols 0.40, 0.30, 0.20, 0.25, 0.22 at 10, 20, 45, 75, 120 days.
    30 days lies between 20 and 45: total variances 0.3²·20/365 = 0.004932 and
    0.2²·45/365 = 0.004932 (equal!), so w(30) = 0.004932 and σ30 = √(0.004932·365/30)
    = √0.06 = 0.244949. 7 days is before the first expiry → flat 0.40. 90 days between 75
    (w = 0.25²·75/365) and 120 (w = 0.22²·120/365): w = w75 + (w120 − w75)·15/45."""
    atm = {10: 0.40, 20: 0.30, 45: 0.20, 75: 0.25, 120: 0.22}
    chain = _chain([(T0, 100.0)], list(atm), lambda k, d: atm[d])
    row = options_features(chain, PARAMS).iloc[0]
    assert row["atm_iv_30d"] == pytest.approx(math.sqrt(0.06), abs=1e-9)
    assert row["atm_iv_7d"] == pytest.approx(0.40, abs=1e-9)
    w75, w120 = 0.25**2 * 75, 0.22**2 * 120  # × 1/365 cancels in σ = √(w/T)
    assert row["atm_iv_90d"] == pytest.approx(
        math.sqrt((w75 + (w120 - w75) * 15 / 45) / 90), abs=1e-9
    )
    w20 = 0.3**2 * 20
    assert row["atm_iv_14d"] == pytest.approx(
        math.sqrt((0.4**2 * 10 + (w20 - 0.4**2 * 10) * 4 / 10) / 14), abs=1e-9
    )
    assert row["iv_term_slope_7_90"] == pytest.approx(
        (row["atm_iv_90d"] - 0.40) / (83 / 365), rel=1e-12
    )


def test_put_call_ratios_on_a_crafted_chain() -> None:
    """Per expiry: 25 strikes; call volume 4, put volume 6 → ratio 1.5 whatever the
    expiries; OI: calls 100 at strikes < 100 and 300 above, puts 200 everywhere."""
    chain = _chain(
        [(T0, 100.0)],
        [20, 40],
        lambda k, d: 0.3,
        volume=lambda kind, strike: 4.0 if kind == "C" else 6.0,
        open_interest=lambda kind, strike: (
            200.0 if kind == "P" else (100.0 if strike < 100 else 300.0)
        ),
    )
    row = options_features(chain, PARAMS).iloc[0]
    assert row["put_call_volume_ratio"] == pytest.approx(1.5)
    below = int((STRIKES < 100).sum())
    calls = 100.0 * below + 300.0 * (len(STRIKES) - below)
    assert row["put_call_oi_ratio"] == pytest.approx(200.0 * len(STRIKES) / calls)


def test_open_interest_greeks_match_py_vollib() -> None:
    chain = _chain(
        [(T0, 100.0)], [30], lambda k, d: 0.3, open_interest=lambda kind, strike: 50.0 + strike
    )
    row = options_features(chain, PARAMS).iloc[0]
    args = [
        (kind.lower(), 100.0, strike, 30 / 365, R, 0.3, Q)
        for kind, strike in zip(chain["option_type"], chain["strike"], strict=True)
    ]
    oi = chain["open_interest"].to_numpy()
    sign = np.where(chain["option_type"] == "C", 1.0, -1.0)
    gamma = np.array([vollib_greeks.gamma(*a) for a in args])
    delta = np.array([vollib_greeks.delta(*a) for a in args])
    assert row["net_gamma_1pct"] == pytest.approx(
        (sign * gamma * 100.0 * 0.01 * oi).sum() / oi.sum(), rel=1e-8
    )
    assert row["net_delta_oi"] == pytest.approx((delta * oi).sum() / oi.sum(), rel=1e-8)


def test_iv_rank_and_percentiles_over_past_snapshots() -> None:
    """Daily flat-smile snapshots with ATM vols 0.20, 0.30, 0.25, 0.10, 0.40, 0.35; lookback
    4, at least 3. At day 5 (0.35) the window is 0.25, 0.10, 0.40, 0.35: rank
    (0.35 − 0.10)/(0.40 − 0.10) = 0.8333, 2 of the 3 earlier values are below → 0.6667."""
    vols = [0.20, 0.30, 0.25, 0.10, 0.40, 0.35]
    snaps = [(T0 + pd.Timedelta(days=i), 100.0) for i in range(len(vols))]
    by_day = {T0 + pd.Timedelta(days=i): v for i, v in enumerate(vols)}
    frames = [_chain([s], [30], lambda k, d, v=by_day[s[0]]: v) for s in snaps]
    params = {**PARAMS, "iv_lookback": 4, "iv_min_periods": 3, "iv_percentiles": (10, 50, 90)}
    out = options_features(pd.concat(frames, ignore_index=True), params)
    np.testing.assert_allclose(out["atm_iv_30d"], vols, atol=1e-9)
    assert out["iv_rank_4"].isna().tolist()[:2] == [True, True]
    assert out["iv_rank_4"].iloc[2] == pytest.approx((0.25 - 0.20) / (0.30 - 0.20))
    assert out["iv_rank_4"].iloc[5] == pytest.approx(0.25 / 0.30)
    assert out["iv_pctl_rank_4"].iloc[5] == pytest.approx(2 / 3)
    assert out["iv_pctl_rank_4"].iloc[3] == 0.0  # a new low
    for q in (10, 50, 90):
        assert out[f"iv_pctl_{q}_4"].iloc[5] == pytest.approx(
            np.percentile([0.25, 0.10, 0.40, 0.35], q)
        )
    assert list(out.columns) == ["ts", *options_feature_names(params)]


def test_zero_bid_strikes_are_counted_not_solved() -> None:
    chain = _chain([(T0, 100.0)], [30], lambda k, d: 0.3)
    far = (chain["option_type"] == "P") & (chain["strike"] <= 75)
    chain.loc[far, "bid"] = 0.0
    row = options_features(chain, PARAMS).iloc[0]
    otm_strikes = len(STRIKES)
    assert row["iv_solved_share"] == pytest.approx((otm_strikes - far.sum()) / otm_strikes)
    assert row["atm_iv_30d"] == pytest.approx(0.3, abs=1e-9)


def test_simulator_chains_iv_recovered_and_features_causal() -> None:
    market = simulate_market(["AAA"], 25, seed=3)
    chains = market.option_chains
    rate = market.params["risk_free_rate"]
    years = (chains["expiry"] - chains["ts"]) / pd.Timedelta(days=365)
    mid = 0.5 * (chains["bid"] + chains["ask"])
    res = solve_implied_volatility(
        mid,
        chains["underlying_price"],
        chains["strike"],
        years,
        rate,
        market.params["dividend_yield"],
        chains["option_type"],
    )
    # The mid is within half a spread of the true price, so the IV is within half a spread
    # over vega (per unit σ) of the vendor's IV.
    vega = bsm_greeks(
        chains["underlying_price"], chains["strike"], years, rate, chains["implied_volatility"], 0.0,
        chains["option_type"].to_numpy(),
    )["vega"] * 100.0  # fmt: skip
    tolerance = 0.5 * (chains["ask"] - chains["bid"]) / vega + 1e-9
    quoted = (chains["bid"] > 0).to_numpy() & (res.status == 0)
    assert quoted.mean() > 0.7
    error = np.abs(res.iv - chains["implied_volatility"].to_numpy())
    assert (error[quoted] <= tolerance.to_numpy()[quoted]).all()

    params = {"risk_free_rate": rate, "iv_min_periods": 5}
    whole = options_features(chains, params)
    assert len(whole) == 25 and whole["ts"].is_monotonic_increasing
    # The surface's skew and curvature come back from the quotes.
    assert whole["iv_skew_slope_30d"].median() == pytest.approx(market.params["iv_skew"], abs=0.01)
    assert whole["iv_skew_curvature_30d"].median() == pytest.approx(
        market.params["iv_curvature"], abs=0.01
    )
    assert whole.drop(columns="ts").iloc[5:].notna().all().all()
    cut = whole["ts"].iloc[11]
    prefix = options_features(chains[chains["ts"] <= cut], params)
    pd.testing.assert_frame_equal(prefix, whole.iloc[:12], check_exact=True)


BAD_CHAINS: list[tuple[str, Callable[[pd.DataFrame], None], str]] = [
    (
        "zero ask",
        lambda c: c.__setitem__("ask", c["ask"].where(c.index != 3, 0.0)),
        "non_positive_price",
    ),
    (
        "negative bid",
        lambda c: c.__setitem__("bid", c["bid"].where(c.index != 3, -0.5)),
        "negative_price",
    ),
    (
        "negative last",
        lambda c: c.__setitem__("last", c["last"].where(c.index != 3, -1.0)),
        "negative_price",
    ),
    (
        "zero spot",
        lambda c: c.__setitem__("underlying_price", c["underlying_price"].where(c.index != 3, 0.0)),
        "non_positive_price",
    ),
    (
        "crossed",
        lambda c: c.__setitem__("bid", c["bid"].where(c.index != 3, c["ask"] + 1.0)),
        "crossed_quote",
    ),
    (
        "zero strike",
        lambda c: c.__setitem__("strike", c["strike"].where(c.index != 3, 0.0)),
        "non_positive_strike",
    ),
    (
        "NaN ask",
        lambda c: c.__setitem__("ask", c["ask"].where(c.index != 3, np.nan)),
        "non_finite_price",
    ),
    (
        "bad type",
        lambda c: c.__setitem__("option_type", c["option_type"].where(c.index != 3, "X")),
        "unknown_option_type",
    ),
    (
        "expired",
        lambda c: c.__setitem__(
            "expiry", c["expiry"].where(c.index != 3, c["ts"] - pd.Timedelta(days=1))
        ),
        "expiry_before_ts",
    ),
    (
        "expiring now",
        lambda c: c.__setitem__("expiry", c["expiry"].where(c.index != 3, c["ts"])),
        "expiry_not_after_ts",
    ),
    (
        "two symbols",
        lambda c: c.__setitem__("symbol", c["symbol"].where(c.index != 3, "ABC")),
        "one_symbol",
    ),
]


@pytest.mark.parametrize(("label", "damage", "rule"), BAD_CHAINS, ids=[b[0] for b in BAD_CHAINS])
def test_bad_chains_raise_with_their_own_rule(
    label: str, damage: Callable[[pd.DataFrame], None], rule: str
) -> None:
    chain = _chain([(T0, 100.0)], [30], lambda k, d: 0.3)
    damage(chain)
    with pytest.raises(OptionChainError) as info:
        options_features(chain, PARAMS)
    assert info.value.rule == rule
    assert rule in str(info.value)
