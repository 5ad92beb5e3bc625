"""A seeded market simulator with a planted, learnable signal and its exact oracle.

``simulate_market(symbols, days, seed)`` returns 1-minute bars of a US equity session,
closing quotes, the benchmark indices ``SPY`` and ``QQQ``, daily option chains and,
for every bar, the exact probabilities of the next-horizon class (SELL/HOLD/BUY) with
the realised class, so the best achievable accuracy is known. The generative model
is documented in ``docs/simulator.md``; its pieces: ``sim_config`` (parameters),
``sim_paths`` (regimes, returns, signal, oracle), ``sim_bars`` (prices, volume,
quotes), ``sim_options`` (chains) and ``sim_frames`` (layout as contract frames).

Reproducibility: every random stream comes from ``numpy.random.SeedSequence(seed,
spawn_key=...)`` keyed by its role and, for a symbol, by the symbol's name. A symbol's
data therefore does not depend on which other symbols are simulated with it, and a
run over more days begins with exactly the data of a shorter run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from signal_pipeline.data.sim_bars import NOISE_FIELDS, BarStyle, bar_arrays
from signal_pipeline.data.sim_config import (
    BENCHMARKS,
    SimulatorConfig,
    SimulatorInputError,
    as_date,
    check_run,
    make_config,
    symbol_names,
)
from signal_pipeline.data.sim_frames import (
    SESSION_TZ,
    bar_close_stamps,
    bars_frame,
    chains_frame,
    oracle_frame,
    quotes_frame,
    session_bounds,
)
from signal_pipeline.data.sim_options import ChainStyle, expiry_stamps, simulate_chains
from signal_pipeline.data.sim_paths import (
    BARS_PER_DAY,
    REGIME_NAMES,
    RegimeModel,
    intraday_vol_profile,
    lagged,
    oracle_probabilities,
    simulate_regimes,
    simulate_returns,
)

__all__ = ["SimulatedMarket", "SimulatorConfig", "SimulatorInputError", "simulate_market"]

PER_MINUTE = 1.0 / math.sqrt(252 * BARS_PER_DAY)  # annualised vol -> per 1-minute bar
# First element of every spawn key: which role a random stream plays.
_ROLE_MARKET, _ROLE_SYMBOL, _ROLE_BENCHMARK, _ROLE_OPTIONS = 0, 1, 2, 3
# Last element: which stream of that role (noise streams follow, one per NOISE_FIELDS).
_STREAM_MAIN, _STREAM_REGIME, _STREAM_GAP, _STREAM_IDIO, _STREAM_NOISE = 0, 1, 2, 3, 4
_SERIES_PARAMS = ("beta", "idio_vol", "start_price", "daily_volume", "trade_size")


# eq=False: comparing frames with == is ambiguous; compare the frames themselves.
@dataclass(frozen=True, eq=False)
class SimulatedMarket:
    """Frames of one simulation run. ``oracle`` holds, per bar, ``p_sell, p_hold,
    p_buy`` (NaN where the horizon crosses the close), ``label`` (nullable Int8:
    0 SELL, 1 HOLD, 2 BUY, <NA> without a complete horizon), ``horizon`` and the
    diagnostics ``expected_return, return_sd, threshold, forward_return``."""

    bars: pd.DataFrame
    quotes: pd.DataFrame
    option_chains: pd.DataFrame
    benchmarks: pd.DataFrame
    oracle: pd.DataFrame
    params: dict[str, Any] = field(repr=False)

    @property
    def symbols(self) -> list[str]:
        return list(self.params["symbols"])

    @property
    def trading_days(self) -> list[dt.date]:
        return [dt.date.fromisoformat(d) for d in self.params["trading_days"]]

    def for_day(self, day: str | dt.date | pd.Timestamp) -> SimulatedMarket:
        """The same run restricted to one trading day (ET date): its 390 bars per
        symbol, quotes, oracle rows, benchmark bars and 16:00 ET option snapshot."""
        date = as_date(day)
        if date.isoformat() not in self.params["trading_days"]:
            raise SimulatorInputError(
                f"for_day: {date.isoformat()} is not a trading day of this run "
                f"({self.params['trading_days'][0]} .. {self.params['trading_days'][-1]}, "
                "weekdays only); pass one of SimulatedMarket.trading_days"
            )
        opens, closes = session_bounds(date)

        def in_session(df: pd.DataFrame) -> pd.DataFrame:
            return df[(df["ts"] > opens) & (df["ts"] <= closes)].reset_index(drop=True)

        chains = self.option_chains
        return dataclasses.replace(
            self,
            bars=in_session(self.bars),
            quotes=in_session(self.quotes),
            oracle=in_session(self.oracle),
            benchmarks=in_session(self.benchmarks),
            option_chains=chains[chains["ts"] == closes].reset_index(drop=True),
        )

    def oracle_summary(self) -> dict[str, float]:
        """Class frequencies and the oracle's accuracy over bars with a label; the
        majority-class frequency is the accuracy of always predicting the prior."""
        labelled = self.oracle[self.oracle["label"].notna()]
        probs = labelled[["p_sell", "p_hold", "p_buy"]].to_numpy()
        labels = labelled["label"].to_numpy(dtype=np.int64)
        freq = np.bincount(labels, minlength=3) / max(len(labels), 1)
        return {
            "labelled_rows": float(len(labels)),
            "freq_sell": float(freq[0]),
            "freq_hold": float(freq[1]),
            "freq_buy": float(freq[2]),
            "mean_p_sell": float(probs[:, 0].mean()),
            "mean_p_hold": float(probs[:, 1].mean()),
            "mean_p_buy": float(probs[:, 2].mean()),
            "prior_accuracy": float(freq.max()),
            "oracle_expected_accuracy": float(probs.max(axis=1).mean()),
            "oracle_realised_accuracy": float((probs.argmax(axis=1) == labels).mean()),
        }


def simulate_market(
    symbols: Sequence[str] | int,
    days: int,
    seed: int = 0,
    *,
    start: str | dt.date = "2024-01-02",
    signal_strength: float = SimulatorConfig.signal_strength,
    horizon: int = SimulatorConfig.horizon,
    **options: Any,
) -> SimulatedMarket:
    """Simulate ``days`` trading days (weekdays from ``start``) of 1-minute bars.

    ``symbols``: ticker names, or a count n for ``SYM000`` .. ``SYM{n-1}``.
    ``signal_strength``: drift per unit of the momentum state, in bar sds (negative:
    reversal, the default; 0: no signal). ``horizon``: bars ahead the labels look.
    ``options``: any other field of :class:`SimulatorConfig` (e.g. ``option_chains=False``
    to skip the chains, ``label_threshold_sd``, ``market_vol``).
    """
    names = symbol_names(symbols)
    config = make_config(signal_strength=signal_strength, horizon=horizon, **options)
    trading_days = check_run(days, seed, start)
    seed, n_days = int(seed), len(trading_days)
    stamps = bar_close_stamps(trading_days)
    n_bars = len(stamps)
    profile = np.tile(intraday_vol_profile(), n_days)
    multipliers = np.asarray(config.regime_multipliers)
    gap_scale = PER_MINUTE * math.sqrt(config.overnight_gap_minutes)

    # The market factor: one path shared by every symbol and both benchmarks.
    market_model = RegimeModel(
        multipliers=config.regime_multipliers,
        mean_duration_bars=config.market_regime_mean_duration_bars,
        jump_weights=config.regime_jump_weights,
    )
    market_regime = simulate_regimes(_rng(seed, _ROLE_MARKET, _STREAM_REGIME), n_bars, market_model)
    market = {
        "regime": market_regime,
        "sd": config.market_vol
        * PER_MINUTE
        * multipliers[lagged(market_regime, horizon)]
        * profile,
        "gap": config.market_vol
        * gap_scale
        * _rng(seed, _ROLE_MARKET, _STREAM_GAP).standard_normal(n_days),
    }
    market["return"] = market["sd"] * _rng(seed, _ROLE_MARKET, _STREAM_MAIN).standard_normal(n_bars)

    universe = _draw_series(
        [(_ROLE_SYMBOL, _name_key(n)) for n in names], None, seed, n_bars, config
    )
    symbol_model = dataclasses.replace(
        market_model, mean_duration_bars=config.regime_mean_duration_bars
    )
    universe["regime"] = np.stack(
        [simulate_regimes(g, n_bars, symbol_model) for g in universe.pop("regime_rng")]
    )
    bench_names = sorted(BENCHMARKS)
    bench = _draw_series(
        [(_ROLE_BENCHMARK, _name_key(b)) for b in bench_names],
        [BENCHMARKS[b] for b in bench_names],
        seed,
        n_bars,
        config,
    )
    # Benchmarks take the market's regime for their own noise too.
    bench["regime"] = np.broadcast_to(market_regime, (len(bench_names), n_bars))

    paths, arrays = _simulate_series(universe, market, profile, config, signal_strength)
    oracle = oracle_probabilities(paths, horizon=horizon, threshold_sd=config.label_threshold_sd)
    del paths
    oracle_df = oracle_frame(names, stamps, oracle, horizon)
    del oracle
    bars, quotes = bars_frame(names, stamps, arrays), quotes_frame(names, stamps, arrays)
    day_end = np.arange(n_days) * BARS_PER_DAY + BARS_PER_DAY - 1
    close_at_day_end = arrays["close"][:, day_end]
    del arrays
    bench_arrays = _simulate_series(bench, market, profile, config, 0.0)[1]
    benchmarks = bars_frame(bench_names, stamps, bench_arrays)
    del bench_arrays
    chains = (
        _option_chains(
            names, trading_days, stamps[day_end], close_at_day_end, universe, market, seed, config
        )
        if config.option_chains
        else chains_frame([])
    )
    params = _params(config, names, trading_days, seed, universe)
    return SimulatedMarket(bars, quotes, chains, benchmarks, oracle_df, params)


def _simulate_series(
    group: dict[str, Any],
    market: dict[str, np.ndarray],
    profile: np.ndarray,
    config: SimulatorConfig,
    signal_strength: float,
) -> tuple[Any, dict[str, np.ndarray]]:
    """Returns (with the planted drift) and bar arrays of one group of series."""
    multipliers = np.asarray(config.regime_multipliers)
    idio_sd = (
        group["idio_vol"][:, None]
        * PER_MINUTE
        * multipliers[lagged(group["regime"], config.horizon)]
        * profile
    )
    # The overnight gap sits on each day's first bar: market part plus own part.
    gap = np.zeros_like(idio_sd)
    gap[:, ::BARS_PER_DAY] = (
        group["beta"][:, None] * market["gap"][None, :]
        + group["idio_vol"][:, None]
        * PER_MINUTE
        * math.sqrt(config.overnight_gap_minutes)
        * group["gap_shock"]
    )
    paths = simulate_returns(
        market_return=market["return"],
        market_sd=market["sd"],
        beta=group["beta"],
        idio_sd=idio_sd,
        idio_shock=group.pop("idio_shock"),
        gap=gap,
        signal_strength=signal_strength,
        horizon=config.horizon,
        lookback=config.signal_lookback,
        state_clip=config.state_clip,
    )
    del idio_sd
    style = BarStyle(
        start_price=group["start_price"],
        minute_volume=group["daily_volume"] / BARS_PER_DAY,
        trade_size=group["trade_size"],
        excursion_scale=config.excursion_scale,
        volume_noise=config.volume_noise,
        volume_return_sensitivity=config.volume_return_sensitivity,
        spread_bps=config.spread_bps,
        spread_vol_coef=config.spread_vol_coef,
    )
    return paths, bar_arrays(paths.log_return, gap, paths.bar_sd, group["noise"], style)


def _name_key(name: str) -> int:
    """The symbol's name as an integer, so its streams depend on nothing else."""
    return int.from_bytes(name.encode("utf-8"), "big")


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(seed, spawn_key=key)))


def _draw_series(
    keys: list[tuple[int, int]],
    fixed: list[dict[str, float]] | None,
    seed: int,
    n_bars: int,
    config: SimulatorConfig,
) -> dict[str, Any]:
    """Per-series parameters, shocks and regime streams. Every series and every use has
    its own stream, drawn in bar order, so series are independent of each other and a
    longer run extends a shorter one. ``fixed``: given parameters (the benchmarks)."""
    n, n_days = len(keys), n_bars // BARS_PER_DAY
    out: dict[str, Any] = {key: np.empty(n) for key in _SERIES_PARAMS}
    out["idio_shock"] = np.empty((n, n_bars))
    out["gap_shock"] = np.empty((n, n_days))
    out["regime_rng"] = []
    for i, key in enumerate(keys):
        u = _rng(seed, *key, _STREAM_MAIN).random(5)
        if fixed is None:
            out["beta"][i] = _uniform(config.beta_range, u[0])
            out["idio_vol"][i] = _uniform(config.idio_vol_range, u[1])
            out["start_price"][i] = round(_log_uniform(config.price_range, u[2]), 2)
            out["daily_volume"][i] = _log_uniform(config.daily_volume_range, u[3])
            out["trade_size"][i] = _uniform(config.trade_size_range, u[4])
        else:
            for name in ("beta", "idio_vol", "start_price", "daily_volume"):
                out[name][i] = fixed[i][name]
            out["trade_size"][i] = 200.0
        _rng(seed, *key, _STREAM_IDIO).standard_normal(out=out["idio_shock"][i])
        _rng(seed, *key, _STREAM_GAP).standard_normal(out=out["gap_shock"][i])
        out["regime_rng"].append(_rng(seed, *key, _STREAM_REGIME))
    out["noise"] = _noise_source(keys, seed, n_bars)
    return out


def _noise_source(
    keys: list[tuple[int, int]], seed: int, n_bars: int
) -> Callable[[str], np.ndarray]:
    def noise(use: str) -> np.ndarray:
        # Drawn on demand and dropped by the caller after use: peak memory stays low.
        stream = _STREAM_NOISE + NOISE_FIELDS.index(use)
        arr = np.empty((len(keys), n_bars))
        for i, key in enumerate(keys):
            _rng(seed, *key, stream).standard_normal(out=arr[i])
        return arr

    return noise


def _uniform(bounds: tuple[float, float], u: float) -> float:
    return bounds[0] + u * (bounds[1] - bounds[0])


def _log_uniform(bounds: tuple[float, float], u: float) -> float:
    return math.exp(_uniform((math.log(bounds[0]), math.log(bounds[1])), u))


def _option_chains(
    names: list[str],
    trading_days: pd.DatetimeIndex,
    snapshot_ns: np.ndarray,
    close_at_day_end: np.ndarray,
    universe: dict[str, Any],
    market: dict[str, np.ndarray],
    seed: int,
    config: SimulatorConfig,
) -> pd.DataFrame:
    style = ChainStyle(
        tenors_days=config.option_tenors_days,
        strike_range=config.option_strike_range,
        risk_free_rate=config.risk_free_rate,
        dividend_yield=config.dividend_yield,
        iv_premium=config.iv_premium,
        iv_skew=config.iv_skew,
        iv_curvature=config.iv_curvature,
        iv_term_decay_days=config.iv_term_decay_days,
        spread_fraction=config.option_spread_fraction,
        min_spread=config.option_min_spread,
    )
    expiry_ns = expiry_stamps(trading_days, style.tenors_days, SESSION_TZ)
    mult = np.asarray(config.regime_multipliers)
    day_end = np.arange(len(trading_days)) * BARS_PER_DAY + BARS_PER_DAY - 1
    # The regime at the close drives the vol of the bars ahead (vol lags regime by H).
    market_now = config.market_vol * mult[market["regime"][day_end]]
    parts = []
    for i, name in enumerate(names):
        beta, idio = universe["beta"][i], universe["idio_vol"][i]
        idio_now = idio * mult[universe["regime"][i, day_end]]
        parts.append(
            simulate_chains(
                symbol=name,
                rng=_rng(seed, _ROLE_OPTIONS, _name_key(name)),
                snapshot_ns=snapshot_ns,
                expiry_ns=expiry_ns,
                spot=close_at_day_end[i],
                vol_now=np.hypot(beta * market_now, idio_now),
                vol_long=math.hypot(beta * config.market_vol, idio),
                base_open_interest=0.02 * universe["daily_volume"][i] / 100.0,
                style=style,
            )
        )
    return chains_frame(parts)


def _params(
    config: SimulatorConfig,
    names: list[str],
    trading_days: pd.DatetimeIndex,
    seed: int,
    universe: dict[str, Any],
) -> dict[str, Any]:
    params = dataclasses.asdict(config)
    params.update(
        seed=seed,
        symbols=list(names),
        days=len(trading_days),
        start=trading_days[0].date().isoformat(),
        trading_days=[d.date().isoformat() for d in trading_days],
        bars_per_day=BARS_PER_DAY,
        regime_names=list(REGIME_NAMES),
        benchmarks={k: dict(v) for k, v in BENCHMARKS.items()},
        symbol_params={
            name: {key: float(universe[key][i]) for key in _SERIES_PARAMS}
            for i, name in enumerate(names)
        },
    )
    return params
