"""The market simulator: reproducibility, data contracts, the exactness of its oracle,
and the shape of its option chains (against vollib's Black-Scholes-Merton)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest
from scipy.stats import kurtosis, norm
from vollib.black_scholes_merton import black_scholes_merton

from signal_pipeline.data import (
    simulate_market,
    validate_bars,
    validate_option_chains,
    validate_quotes,
)
from signal_pipeline.data.sim_options import black_scholes_price
from signal_pipeline.data.sim_paths import momentum_state
from signal_pipeline.data.simulator import SimulatedMarket, SimulatorInputError

HORIZON = 15
SESSION_TZ = "America/New_York"


@pytest.fixture(scope="module")
def small() -> SimulatedMarket:
    return simulate_market(["AAA", "BBB", "CCC"], 5, seed=11)


@pytest.fixture(scope="module")
def large() -> SimulatedMarket:
    """Enough labelled bars for the statistical checks of the oracle (0.6 M rows; with
    fewer, a 20 % error in the oracle's drift would hide inside the 4-SE bounds)."""
    return simulate_market(80, 20, seed=3, option_chains=False)


def _frames(market: SimulatedMarket) -> dict[str, pd.DataFrame]:
    return {
        "bars": market.bars,
        "quotes": market.quotes,
        "option_chains": market.option_chains,
        "benchmarks": market.benchmarks,
        "oracle": market.oracle,
    }


# --- reproducibility --------------------------------------------------------------


def test_same_seed_gives_identical_frames(small: SimulatedMarket) -> None:
    again = simulate_market(["AAA", "BBB", "CCC"], 5, seed=11)
    for name, frame in _frames(small).items():
        pd.testing.assert_frame_equal(frame, _frames(again)[name], check_exact=True, obj=name)
    assert again.params == small.params


def test_different_seed_gives_different_data(small: SimulatedMarket) -> None:
    other = simulate_market(["AAA", "BBB", "CCC"], 5, seed=12)
    assert not np.allclose(other.bars["close"], small.bars["close"])
    assert not np.allclose(other.benchmarks["close"], small.benchmarks["close"])
    assert (other.bars["ts"].to_numpy() == small.bars["ts"].to_numpy()).all()


def test_symbol_data_does_not_depend_on_the_other_symbols(small: SimulatedMarket) -> None:
    fewer = simulate_market(["CCC", "AAA"], 5, seed=11)
    keep = small.bars["symbol"].isin(["AAA", "CCC"])
    pd.testing.assert_frame_equal(fewer.bars, small.bars[keep].reset_index(drop=True))
    keep_o = small.oracle["symbol"].isin(["AAA", "CCC"])
    pd.testing.assert_frame_equal(fewer.oracle, small.oracle[keep_o].reset_index(drop=True))
    keep_c = small.option_chains["symbol"].isin(["AAA", "CCC"])
    pd.testing.assert_frame_equal(
        fewer.option_chains, small.option_chains[keep_c].reset_index(drop=True)
    )


def test_integer_symbols_are_a_prefix_of_a_larger_universe() -> None:
    three = simulate_market(3, 2, seed=5, option_chains=False)
    five = simulate_market(5, 2, seed=5, option_chains=False)
    assert three.symbols == ["SYM000", "SYM001", "SYM002"]
    head = five.bars[five.bars["symbol"].isin(three.symbols)].reset_index(drop=True)
    pd.testing.assert_frame_equal(three.bars, head)


def test_a_longer_run_extends_a_shorter_one(small: SimulatedMarket) -> None:
    shorter = simulate_market(["AAA", "BBB", "CCC"], 3, seed=11)
    for name, frame in _frames(shorter).items():
        full = _frames(small)[name]
        head = full[full["ts"] <= frame["ts"].max()].reset_index(drop=True)
        pd.testing.assert_frame_equal(frame, head, obj=name)


# --- contracts --------------------------------------------------------------------


def test_bars_quotes_and_chains_pass_the_data_contracts(small: SimulatedMarket) -> None:
    pd.testing.assert_frame_equal(validate_bars(small.bars), small.bars)
    pd.testing.assert_frame_equal(validate_bars(small.benchmarks), small.benchmarks)
    pd.testing.assert_frame_equal(validate_quotes(small.quotes), small.quotes)
    pd.testing.assert_frame_equal(validate_option_chains(small.option_chains), small.option_chains)


def test_bar_invariants(small: SimulatedMarket) -> None:
    for bars in (small.bars, small.benchmarks):
        body_lo = np.minimum(bars["open"], bars["close"])
        body_hi = np.maximum(bars["open"], bars["close"])
        assert (bars["low"] <= body_lo).all() and (bars["high"] >= body_hi).all()
        assert (bars["low"] > 0).all() and (bars["volume"] >= 0).all()
        assert ((bars["vwap"] >= bars["low"]) & (bars["vwap"] <= bars["high"])).all()
        assert ((bars["bid"] < bars["close"]) & (bars["close"] < bars["ask"])).all()
        assert (bars["trades"] <= bars["volume"]).all()
        assert not bars.duplicated(["symbol", "ts"]).any()
        order = bars.sort_values(["symbol", "ts"], kind="stable").index
        assert (order == bars.index).all()
    # open = previous close inside a day; a day's first bar opens at the gap
    aaa = small.bars[small.bars["symbol"] == "AAA"].reset_index(drop=True)
    intraday = aaa.index % 390 != 0
    np.testing.assert_allclose(aaa["open"][intraday], aaa["close"].shift(1)[intraday], rtol=1e-12)


def test_session_grid_is_390_bars_stamped_at_close_across_dst() -> None:
    # 2024-03-08 is a Friday in EST; US clocks change on Sunday 2024-03-10.
    market = simulate_market(["AAA"], 2, seed=1, start="2024-03-09", option_chains=False)
    local = market.bars["ts"].dt.tz_convert(SESSION_TZ)
    assert str(market.bars["ts"].dt.tz) == "UTC"
    assert market.trading_days == [
        pd.Timestamp("2024-03-11").date(),
        pd.Timestamp("2024-03-12").date(),
    ]
    per_day = local.dt.date.value_counts()
    assert (per_day == 390).all() and len(per_day) == 2
    first = local.groupby(local.dt.date).min().dt.strftime("%H:%M")
    last = local.groupby(local.dt.date).max().dt.strftime("%H:%M")
    assert set(first) == {"09:31"} and set(last) == {"16:00"}
    assert market.bars["ts"].iloc[0] == pd.Timestamp("2024-03-11 13:31", tz="UTC")  # EDT
    winter = simulate_market(["AAA"], 1, seed=1, start="2024-01-02", option_chains=False)
    assert winter.bars["ts"].iloc[0] == pd.Timestamp("2024-01-02 14:31", tz="UTC")  # EST


def test_quotes_bracket_the_close(small: SimulatedMarket) -> None:
    quotes, bars = small.quotes, small.bars
    assert (quotes[["symbol", "ts"]] == bars[["symbol", "ts"]]).all().all()
    assert ((quotes["bid"] < bars["close"]) & (bars["close"] < quotes["ask"])).all()
    assert (quotes["bid_size"] > 0).all() and (quotes["ask_size"] > 0).all()
    spread_bps = (quotes["ask"] - quotes["bid"]) / bars["close"] * 1e4
    assert spread_bps.between(1, 200).all()


def test_for_day_slices_one_session(small: SimulatedMarket) -> None:
    day = small.trading_days[2]
    one = small.for_day(day)
    assert len(one.bars) == 3 * 390 and len(one.oracle) == 3 * 390
    assert len(one.benchmarks) == 2 * 390
    assert (one.bars["ts"].dt.tz_convert(SESSION_TZ).dt.date == day).all()
    assert (one.option_chains["ts"] == one.bars["ts"].max()).all()
    assert len(one.option_chains) > 0
    with pytest.raises(SimulatorInputError, match="not a trading day"):
        small.for_day("2024-01-06")


# --- generative model ---------------------------------------------------------------


def test_returns_have_fat_tails(large: SimulatedMarket) -> None:
    bars = large.bars
    log_ret = np.log(bars["close"] / bars["open"])  # intraday part of every bar
    assert kurtosis(log_ret) > 1.0  # regime mixture + seasonality; Gaussian would be 0


def test_volume_is_u_shaped_over_the_session(large: SimulatedMarket) -> None:
    minute = np.arange(len(large.bars)) % 390
    vol = large.bars["volume"].to_numpy()
    open_, mid, close = (
        vol[minute < 30].mean(),
        vol[(minute > 150) & (minute < 240)].mean(),
        vol[minute >= 360].mean(),
    )
    assert open_ > 1.5 * mid and close > 1.2 * mid


def test_benchmarks_follow_the_common_market_factor(large: SimulatedMarket) -> None:
    bench = large.benchmarks.pivot(index="ts", columns="symbol", values="close")
    stocks = large.bars.pivot(index="ts", columns="symbol", values="close")
    rets = np.log(bench).diff().dropna()
    stock_mean = np.log(stocks).diff().dropna().mean(axis=1)
    assert list(bench.columns) == ["QQQ", "SPY"]
    assert np.corrcoef(rets["SPY"], stock_mean)[0, 1] > 0.5
    beta_qqq = np.cov(rets["QQQ"], rets["SPY"])[0, 1] / rets["SPY"].var()
    assert 1.1 < beta_qqq < 1.4  # simulated with beta 1.25 to the market factor


# --- the oracle ---------------------------------------------------------------------


def test_oracle_rows_sum_to_one_and_end_before_the_close(small: SimulatedMarket) -> None:
    oracle = small.oracle
    assert (oracle[["symbol", "ts"]] == small.bars[["symbol", "ts"]]).all().all()
    minute = np.arange(len(oracle)) % 390
    complete = minute <= 389 - HORIZON
    probs = oracle[["p_sell", "p_hold", "p_buy"]].to_numpy()
    np.testing.assert_allclose(probs[complete].sum(axis=1), 1.0, atol=1e-12)
    assert ((probs[complete] >= 0) & (probs[complete] <= 1)).all()
    assert np.isnan(probs[~complete]).all()
    assert oracle["label"].dtype == "Int8"
    assert oracle["label"].isna().to_numpy().tolist() == (~complete).tolist()
    assert set(oracle["label"].dropna().unique()) == {0, 1, 2}
    assert (oracle["horizon"] == HORIZON).all()


def test_label_is_the_class_of_the_realised_forward_return(small: SimulatedMarket) -> None:
    oracle = small.oracle.dropna(subset=["p_buy"])
    close = small.bars.set_index(["symbol", "ts"])["close"]
    grouped = close.groupby(level="symbol")
    forward = np.log(grouped.shift(-HORIZON) / close).loc[
        pd.MultiIndex.from_frame(oracle[["symbol", "ts"]])
    ]
    np.testing.assert_allclose(forward.to_numpy(), oracle["forward_return"], rtol=1e-9, atol=1e-12)
    expect = np.where(
        forward > oracle["threshold"].to_numpy(),
        2,
        np.where(forward < -oracle["threshold"].to_numpy(), 0, 1),
    )
    assert (oracle["label"].to_numpy(dtype=int) == expect).all()


def test_planted_drift_is_read_from_past_closes(small: SimulatedMarket) -> None:
    """M_t / sqrt(V_t) = lambda * sqrt(H) * (mean state of bars t-H+1..t) up to the intraday
    vol profile, with the state recomputed here from the bars' closes alone."""
    lam, lookback = small.params["signal_strength"], small.params["signal_lookback"]
    for symbol in small.symbols:
        bars = small.bars[small.bars["symbol"] == symbol]
        oracle = small.oracle[small.oracle["symbol"] == symbol]
        start = small.params["symbol_params"][symbol]["start_price"]
        log_ret = np.diff(np.log(np.concatenate([[start], bars["close"].to_numpy()])))
        state = momentum_state(log_ret[None, :], lookback, small.params["state_clip"])[0]
        csum = np.concatenate([[0.0], np.cumsum(state)])
        mean_state = np.full(len(state), np.nan)
        mean_state[HORIZON - 1 :] = (csum[HORIZON:] - csum[:-HORIZON]) / HORIZON
        z = (oracle["expected_return"] / oracle["return_sd"]).to_numpy()
        ok = ~np.isnan(z) & ~np.isnan(mean_state)
        ok[: HORIZON + lookback] = False
        assert np.corrcoef(z[ok], mean_state[ok])[0, 1] < -0.99
        slope = np.polyfit(mean_state[ok], z[ok], 1)[0]
        assert slope == pytest.approx(lam * np.sqrt(HORIZON), rel=0.03)


def _non_overlapping(oracle: pd.DataFrame) -> pd.DataFrame:
    """Bars t = 0, H, 2H, ... of each session: their forward windows do not overlap, so
    (1{class} - p) is a martingale difference from one sample time to the next."""
    minute = np.arange(len(oracle)) % 390
    keep = (minute % HORIZON == 0) & oracle["label"].notna().to_numpy()
    return oracle[keep]


def _z_score(hit: np.ndarray, prob: np.ndarray, ts: np.ndarray) -> float:
    """z of sum(hit - prob) with a variance clustered by time stamp: symbols share the
    market factor, so only sums over all symbols at one stamp are independent."""
    diff = pd.Series(hit - prob).groupby(ts).sum()
    return float(diff.sum() / np.sqrt((diff**2).sum()))


def test_class_frequencies_match_the_oracle(large: SimulatedMarket) -> None:
    sample = _non_overlapping(large.oracle)
    assert len(sample) == 80 * 20 * 25
    labels = sample["label"].to_numpy(dtype=int)
    for cls, col in enumerate(["p_sell", "p_hold", "p_buy"]):
        z = _z_score((labels == cls).astype(float), sample[col].to_numpy(), sample["ts"].to_numpy())
        assert abs(z) < 4, f"class {cls}: realised frequency off the oracle by {z:.1f} SE"


@pytest.mark.parametrize(("cls", "column"), [(2, "p_buy"), (0, "p_sell")])
def test_class_frequency_matches_the_oracle_within_bins(
    large: SimulatedMarket, cls: int, column: str
) -> None:
    sample = _non_overlapping(large.oracle)
    prob = sample[column].to_numpy()
    hit = (sample["label"].to_numpy(dtype=int) == cls).astype(float)
    bins = np.quantile(prob, [0, 0.2, 0.4, 0.6, 0.8, 1.0])
    which = np.clip(np.searchsorted(bins, prob, side="right") - 1, 0, 4)
    means = []
    for b in range(5):
        m = which == b
        z = _z_score(hit[m], prob[m], sample["ts"].to_numpy()[m])
        assert abs(z) < 4, f"bin {b}: class {cls} frequency off mean {column} by {z:.1f} SE"
        means.append(hit[m].mean())
    assert means[-1] > means[0] + 0.2  # the bins really separate


def test_oracle_beats_the_class_prior(large: SimulatedMarket) -> None:
    summary = large.oracle_summary()
    assert 0.30 < summary["prior_accuracy"] < 0.42
    assert summary["oracle_expected_accuracy"] > summary["prior_accuracy"] + 0.08
    assert summary["oracle_realised_accuracy"] > summary["prior_accuracy"] + 0.08


def test_zero_signal_gives_the_unconditional_class_probabilities() -> None:
    market = simulate_market(4, 3, seed=9, signal_strength=0.0, option_chains=False)
    oracle = market.oracle.dropna(subset=["p_buy"])
    k = market.params["label_threshold_sd"]
    np.testing.assert_allclose(oracle["p_buy"], norm.sf(k), atol=1e-12)
    np.testing.assert_allclose(oracle["p_sell"], norm.cdf(-k), atol=1e-12)
    np.testing.assert_allclose(oracle["p_hold"], norm.cdf(k) - norm.cdf(-k), atol=1e-12)
    assert (oracle["expected_return"] == 0).all()
    summary = market.oracle_summary()
    assert summary["oracle_expected_accuracy"] == pytest.approx(norm.sf(k), abs=1e-12)


def test_stronger_signal_raises_the_oracle_accuracy() -> None:
    weak = simulate_market(10, 4, seed=4, signal_strength=-0.05, option_chains=False)
    strong = simulate_market(10, 4, seed=4, signal_strength=-0.15, option_chains=False)
    assert (
        strong.oracle_summary()["oracle_expected_accuracy"]
        > weak.oracle_summary()["oracle_expected_accuracy"] + 0.05
    )


# --- option chains ------------------------------------------------------------------


def test_chain_layout(small: SimulatedMarket) -> None:
    chains = small.option_chains
    days = (chains["expiry"] - chains["ts"]).dt.total_seconds() / 86400
    assert days.min() >= 7 and days.max() <= 90
    assert (chains["ts"].dt.tz_convert(SESSION_TZ).dt.strftime("%H:%M") == "16:00").all()
    assert (chains["expiry"].dt.tz_convert(SESSION_TZ).dt.dayofweek < 5).all()
    moneyness = chains["strike"] / chains["underlying_price"]
    assert moneyness.between(0.75, 1.25).all()
    assert chains.groupby(["symbol", "ts"])["expiry"].nunique().eq(7).all()
    assert set(chains["option_type"]) == {"C", "P"}
    numeric = chains.select_dtypes("number")
    assert np.isfinite(numeric.to_numpy()).all()
    assert (chains["bid"] >= 0).all() and (chains["ask"] > chains["bid"]).all()
    assert ((chains["last"] >= chains["bid"]) & (chains["last"] <= chains["ask"])).all()
    assert (chains[["volume", "open_interest"]] >= 0).all().all()
    # underlying = the day's last close
    last_close = small.bars.groupby(["symbol", small.bars["ts"]])["close"].first()
    spot = chains.set_index(["symbol", "ts"])["underlying_price"]
    np.testing.assert_allclose(spot.to_numpy(), last_close.loc[spot.index].to_numpy())


def test_private_black_scholes_matches_vollib() -> None:
    rng = np.random.default_rng(0)
    n = 40
    spot, strike = rng.uniform(20, 500, n), rng.uniform(20, 500, n)
    years, vol = rng.uniform(7, 90, n) / 365, rng.uniform(0.1, 0.9, n)
    is_call = rng.random(n) < 0.5
    ours = black_scholes_price(spot, strike, years, 0.04, 0.01, vol, is_call)
    ref = [
        black_scholes_merton("c" if c else "p", s, k, t, 0.04, v, 0.01)
        for s, k, t, v, c in zip(spot, strike, years, vol, is_call, strict=True)
    ]
    np.testing.assert_allclose(ours, ref, rtol=1e-9, atol=1e-9)


def test_chain_quotes_bracket_the_black_scholes_price_at_the_stored_iv(
    small: SimulatedMarket,
) -> None:
    chains = small.option_chains.sample(60, random_state=1)
    r, q = small.params["risk_free_rate"], small.params["dividend_yield"]
    years = (chains["expiry"] - chains["ts"]).dt.total_seconds() / (365 * 86400)
    for row, t in zip(chains.itertuples(), years, strict=True):
        price = black_scholes_merton(
            row.option_type.lower(),
            row.underlying_price,
            row.strike,
            t,
            r,
            row.implied_volatility,
            q,
        )
        assert row.bid <= price + 1e-9 and price <= row.ask + 1e-9, row


def test_put_call_parity_on_mid_prices(small: SimulatedMarket) -> None:
    chains = small.option_chains
    key = ["symbol", "ts", "expiry", "strike"]
    calls = chains[chains["option_type"] == "C"].set_index(key)
    puts = chains[chains["option_type"] == "P"].set_index(key).loc[calls.index]
    r, q = small.params["risk_free_rate"], small.params["dividend_yield"]
    years = (
        (
            calls.index.get_level_values("expiry") - calls.index.get_level_values("ts")
        ).total_seconds()
        / (365 * 86400)
    ).to_numpy()
    strike = calls.index.get_level_values("strike").to_numpy()
    spot = calls["underlying_price"].to_numpy()
    parity = spot * np.exp(-q * years) - strike * np.exp(-r * years)
    mid_c = ((calls["bid"] + calls["ask"]) / 2).to_numpy()
    mid_p = ((puts["bid"] + puts["ask"]) / 2).to_numpy()
    half_spreads = ((calls["ask"] - calls["bid"]) + (puts["ask"] - puts["bid"])).to_numpy() / 2
    assert (np.abs(mid_c - mid_p - parity) <= half_spreads + 0.01).all()


def test_iv_surface_has_put_skew(small: SimulatedMarket) -> None:
    chains = small.option_chains
    for _, one in chains[chains["option_type"] == "P"].groupby(["symbol", "ts", "expiry"]):
        atm = one.iloc[(one["strike"] - one["underlying_price"]).abs().argmin()]
        assert one["implied_volatility"].iloc[0] > atm["implied_volatility"]


# --- input errors -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        ({"symbols": "AAPL", "days": 2}, "not a bare string"),
        ({"symbols": ["A", "A"], "days": 2}, "duplicate"),
        ({"symbols": ["SPY"], "days": 2}, "benchmark"),
        ({"symbols": 2, "days": 0}, "positive integer"),
        ({"symbols": 2, "days": 2, "seed": -1}, "non-negative"),
        ({"symbols": 2, "days": 2, "signal_strength": 0.5}, "feeds on itself"),
        ({"symbols": 2, "days": 2, "horizon": 400}, "horizon"),
        ({"symbols": 2, "days": 2, "volatility": 0.2}, "unknown option"),
    ],
)
def test_bad_inputs_raise_a_specific_error(kwargs: dict, message: str) -> None:
    with pytest.raises(SimulatorInputError, match=message):
        simulate_market(**kwargs)
