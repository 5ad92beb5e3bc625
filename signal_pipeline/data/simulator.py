"""A seeded market simulator with a planted, learnable signal and its exact oracle.

``simulate_market(symbols, days, seed)`` returns 1-minute bars of a US equity session,
closing quotes, the benchmark indices ``SPY`` and ``QQQ``, daily option chains and,
for every bar, the exact probabilities of the next-horizon class (SELL/HOLD/BUY) with
the realised class, so the best achievable accuracy is known. The generative model
is documented in ``docs/simulator.md``; its pieces live in ``sim_paths`` (regimes,
returns, signal, oracle), ``sim_bars`` (prices, volume, quotes) and ``sim_options``.

Reproducibility: every random stream comes from ``numpy.random.SeedSequence(seed,
spawn_key=...)`` keyed by its role and, for a symbol, by the symbol's name. A symbol's
data therefore does not depend on which other symbols are simulated with it, and a
run over more days begins with exactly the bars of a shorter run.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from signal_pipeline.data.sim_bars import NOISE_FIELDS, BarStyle, bar_arrays
from signal_pipeline.data.sim_options import ChainStyle, expiry_dates, simulate_chains
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

SESSION_TZ = "America/New_York"
MINUTES_PER_YEAR = 252 * BARS_PER_DAY
BENCHMARKS: dict[str, dict[str, float]] = {
    # beta to the market factor, own annualised vol, first price, shares per day
    "SPY": {"beta": 1.0, "idio_vol": 0.02, "start_price": 470.0, "daily_volume": 6.0e7},
    "QQQ": {"beta": 1.25, "idio_vol": 0.08, "start_price": 400.0, "daily_volume": 4.0e7},
}
# First element of every spawn key: which role a random stream plays.
_ROLE_MARKET, _ROLE_SYMBOL, _ROLE_BENCHMARK, _ROLE_OPTIONS = 0, 1, 2, 3
# Second-to-last element: which stream of that role.
_STREAM_MAIN, _STREAM_REGIME, _STREAM_GAP, _STREAM_IDIO, _STREAM_NOISE = 0, 1, 2, 3, 4


class SimulatorInputError(ValueError):
    """An argument of the simulator is out of its domain."""


@dataclass(frozen=True)
class SimulatorConfig:
    """Every knob of the generative model, with its default. Vols are annualised."""

    signal_strength: float = 0.12
    horizon: int = 15
    signal_lookback: int = 30
    state_clip: float = 3.0
    label_threshold_sd: float = 0.43
    market_vol: float = 0.16
    idio_vol_range: tuple[float, float] = (0.15, 0.45)
    beta_range: tuple[float, float] = (0.6, 1.4)
    price_range: tuple[float, float] = (20.0, 500.0)
    daily_volume_range: tuple[float, float] = (5.0e5, 2.0e7)
    trade_size_range: tuple[float, float] = (80.0, 300.0)
    regime_multipliers: tuple[float, float, float] = (0.7, 1.0, 1.8)
    regime_mean_duration_bars: tuple[float, float, float] = (780.0, 1170.0, 390.0)
    market_regime_mean_duration_bars: tuple[float, float, float] = (1560.0, 1950.0, 585.0)
    regime_jump_weights: tuple[float, float, float] = (0.35, 0.45, 0.20)
    overnight_gap_minutes: float = 30.0
    excursion_scale: float = 0.6
    volume_noise: float = 0.5
    volume_return_sensitivity: float = 0.5
    spread_bps: float = 2.0
    spread_vol_coef: float = 0.3
    option_chains: bool = True
    option_tenors_days: tuple[int, ...] = (7, 14, 21, 30, 45, 60, 90)
    option_strike_range: float = 0.25
    risk_free_rate: float = 0.04
    dividend_yield: float = 0.0
    iv_premium: float = 1.1
    iv_skew: float = -0.08
    iv_curvature: float = 0.03
    iv_term_decay_days: float = 30.0
    option_spread_fraction: float = 0.04
    option_min_spread: float = 0.02


@dataclass(frozen=True)
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
        date = pd.Timestamp(day).date()
        if date.isoformat() not in self.params["trading_days"]:
            raise SimulatorInputError(
                f"for_day: {date.isoformat()} is not a trading day of this run "
                f"({self.params['trading_days'][0]} .. {self.params['trading_days'][-1]}, "
                "weekdays only); pass one of SimulatedMarket.trading_days"
            )
        opens = pd.Timestamp(f"{date} 09:30", tz=SESSION_TZ).tz_convert("UTC")
        closes = pd.Timestamp(f"{date} 16:00", tz=SESSION_TZ).tz_convert("UTC")

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
    ``options``: any other field of :class:`SimulatorConfig` (e.g. ``option_chains=False``
    to skip the chains, ``label_threshold_sd``, ``market_vol``).
    """
    names = _symbol_names(symbols)
    config = _config(signal_strength=signal_strength, horizon=horizon, **options)
    if not isinstance(days, int | np.integer) or isinstance(days, bool) or days < 1:
        raise SimulatorInputError(f"days={days!r}: must be a positive integer number of days")
    if not isinstance(seed, int | np.integer) or isinstance(seed, bool) or seed < 0:
        raise SimulatorInputError(f"seed={seed!r}: must be a non-negative integer")
    trading_days = pd.bdate_range(pd.Timestamp(start), periods=int(days))
    stamps = _bar_close_stamps(trading_days)
    n_bars = len(stamps)
    profile = np.tile(intraday_vol_profile(), int(days))
    per_minute = 1.0 / math.sqrt(MINUTES_PER_YEAR)
    gap_scale = math.sqrt(config.overnight_gap_minutes)
    day_start = np.arange(int(days)) * BARS_PER_DAY
    multipliers = np.asarray(config.regime_multipliers)

    # Market factor: one path shared by every symbol and both benchmarks.
    market_model = RegimeModel(
        multipliers=config.regime_multipliers,
        mean_duration_bars=config.market_regime_mean_duration_bars,
        jump_weights=config.regime_jump_weights,
    )
    market_regime = simulate_regimes(_rng(seed, _ROLE_MARKET, _STREAM_REGIME), n_bars, market_model)
    market_sd = config.market_vol * per_minute * multipliers[lagged(market_regime, horizon)]
    market_sd = market_sd * profile
    market_return = market_sd * _rng(seed, _ROLE_MARKET, _STREAM_MAIN).standard_normal(n_bars)
    market_gap = (
        config.market_vol
        * per_minute
        * gap_scale
        * _rng(seed, _ROLE_MARKET, _STREAM_GAP).standard_normal(int(days))
    )

    symbol_model = dataclasses.replace(
        market_model, mean_duration_bars=config.regime_mean_duration_bars
    )
    universe = _draw_universe(
        [(_ROLE_SYMBOL, _name_key(n)) for n in names], None, seed, n_bars, config
    )
    bench_names = sorted(BENCHMARKS)  # frames are sorted by symbol: QQQ, SPY
    bench = _draw_universe(
        [(_ROLE_BENCHMARK, _name_key(b)) for b in bench_names],
        [BENCHMARKS[b] for b in bench_names],
        seed,
        n_bars,
        config,
    )
    results = {}
    for label, group, strength in (("symbols", universe, signal_strength), ("bench", bench, 0.0)):
        if label == "bench":
            # Benchmarks take the market's regime for their own noise too.
            regime = np.broadcast_to(market_regime, (len(group["beta"]), n_bars))
        else:
            regime = np.stack([simulate_regimes(g, n_bars, symbol_model) for g in group["regime"]])
            group["regime"] = regime
        idio_sd = (
            group["idio_vol"][:, None] * per_minute * multipliers[lagged(regime, horizon)] * profile
        )
        gap = np.zeros_like(idio_sd)
        gap[:, day_start] = (
            group["beta"][:, None] * market_gap[None, :]
            + group["idio_vol"][:, None] * per_minute * gap_scale * group["gap_shock"]
        )
        paths = simulate_returns(
            market_return=market_return,
            market_sd=market_sd,
            beta=group["beta"],
            idio_sd=idio_sd,
            idio_shock=group.pop("idio_shock"),
            gap=gap,
            signal_strength=strength,
            horizon=horizon,
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
        arrays = bar_arrays(paths.log_return, gap, paths.bar_sd, group["noise"], style)
        del gap
        results[label] = (paths, arrays)

    paths, arrays = results["symbols"]
    bench_arrays = results["bench"][1]
    del results
    oracle = oracle_probabilities(paths, horizon=horizon, threshold_sd=config.label_threshold_sd)
    del paths
    oracle_frame = _oracle_frame(names, stamps, oracle, horizon)
    del oracle
    bars = _frame(names, stamps, arrays, ["open", "high", "low", "close", "volume"])
    bars = _with(bars, arrays, ["vwap", "trades", "bid", "ask"])
    # Quotes get their own bid/ask arrays: frames must not alias each other's memory.
    quotes = _frame(names, stamps, arrays, ["bid_size", "ask_size"])
    quotes.insert(2, "bid", arrays["bid"].ravel().copy())
    quotes.insert(3, "ask", arrays["ask"].ravel().copy())
    bench_bars = _frame(
        bench_names, stamps, bench_arrays, ["open", "high", "low", "close", "volume"]
    )
    bench_bars = _with(bench_bars, bench_arrays, ["vwap", "trades", "bid", "ask"])
    close_at_day_end = arrays["close"][:, day_start + BARS_PER_DAY - 1]
    del arrays, bench_arrays
    chains = _option_chains(
        names, trading_days, stamps, close_at_day_end, universe, market_regime, seed, config
    )
    params = _params(config, names, trading_days, seed, universe)
    return SimulatedMarket(bars, quotes, chains, bench_bars, oracle_frame, params)


def _symbol_names(symbols: Sequence[str] | int) -> list[str]:
    if isinstance(symbols, int | np.integer) and not isinstance(symbols, bool):
        if symbols < 1:
            raise SimulatorInputError(f"symbols={symbols}: give a positive count or names")
        width = max(3, len(str(int(symbols) - 1)))
        return [f"SYM{i:0{width}d}" for i in range(int(symbols))]
    if isinstance(symbols, str):
        raise SimulatorInputError(
            f"symbols={symbols!r}: pass a list of names (['{symbols}']), not a bare string"
        )
    names = list(symbols)
    bad = [n for n in names if not isinstance(n, str) or not n.strip()]
    if not names or bad:
        raise SimulatorInputError(
            f"symbols={names!r}: need at least one non-empty string name (bad: {bad!r})"
        )
    dupes = sorted({n for n in names if names.count(n) > 1})
    if dupes:
        raise SimulatorInputError(f"symbols: duplicate names {dupes}; each name once")
    clash = sorted(set(names) & set(BENCHMARKS))
    if clash:
        raise SimulatorInputError(
            f"symbols: {clash} are the simulated benchmark indices (see .benchmarks); "
            "choose other names"
        )
    return sorted(names)  # frames are sorted by symbol


def _config(**values: Any) -> SimulatorConfig:
    known = {f.name for f in dataclasses.fields(SimulatorConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SimulatorInputError(
            f"simulate_market: unknown option(s) {unknown}; valid: {sorted(known)}"
        )
    config = SimulatorConfig(**values)
    h, k, lam = config.horizon, config.signal_lookback, config.signal_strength
    if not isinstance(h, int) or not 1 <= h < BARS_PER_DAY:
        raise SimulatorInputError(f"horizon={h!r}: must be an integer in [1, {BARS_PER_DAY - 1}]")
    if not isinstance(k, int) or k < 2:
        raise SimulatorInputError(f"signal_lookback={k!r}: must be an integer >= 2")
    if not math.isfinite(lam) or abs(lam) * math.sqrt(k) >= 1.0:
        # The drift feeds back into the momentum it is computed from with gain
        # |lambda| * sqrt(K); at 1 or more trends lock at the clip and never revert.
        raise SimulatorInputError(
            f"signal_strength={lam!r}: |signal_strength| * sqrt(signal_lookback={k}) must be "
            f"< 1 (here {abs(lam) * math.sqrt(k):.3g}) or planted trends never revert; "
            "lower it or shorten signal_lookback"
        )
    if not config.label_threshold_sd > 0:
        raise SimulatorInputError(
            f"label_threshold_sd={config.label_threshold_sd!r}: must be > 0 (in sds)"
        )
    return config


def _name_key(name: str) -> int:
    """The symbol's name as an integer, so its streams depend on nothing else."""
    return int.from_bytes(name.encode("utf-8"), "big")


def _rng(seed: int, *key: int) -> np.random.Generator:
    return np.random.Generator(np.random.PCG64(np.random.SeedSequence(int(seed), spawn_key=key)))


def _draw_universe(
    keys: list[tuple[int, int]],
    fixed: list[dict[str, float]] | None,
    seed: int,
    n_bars: int,
    config: SimulatorConfig,
) -> dict[str, Any]:
    """Per-series parameters, shocks and regime streams. Every series and every use has
    its own stream, drawn in bar order, so series are independent of each other and a
    longer run extends a shorter one."""
    n, n_days = len(keys), n_bars // BARS_PER_DAY
    out: dict[str, Any] = {
        key: np.empty(n)
        for key in ("beta", "idio_vol", "start_price", "daily_volume", "trade_size")
    }
    out["idio_shock"] = np.empty((n, n_bars))
    out["gap_shock"] = np.empty((n, n_days))
    out["regime"] = []
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
        out["regime"].append(_rng(seed, *key, _STREAM_REGIME))

    def noise(field: str) -> np.ndarray:
        # Drawn on demand and dropped by the caller after use: peak memory stays low.
        stream = _STREAM_NOISE + NOISE_FIELDS.index(field)
        arr = np.empty((n, n_bars))
        for i, key in enumerate(keys):
            _rng(seed, *key, stream).standard_normal(out=arr[i])
        return arr

    out["noise"] = noise
    return out


def _uniform(bounds: tuple[float, float], u: float) -> float:
    return bounds[0] + u * (bounds[1] - bounds[0])


def _log_uniform(bounds: tuple[float, float], u: float) -> float:
    return math.exp(_uniform((math.log(bounds[0]), math.log(bounds[1])), u))


def _bar_close_stamps(trading_days: pd.DatetimeIndex) -> np.ndarray:
    """UTC nanoseconds of every bar close: 09:31 .. 16:00 ET on each day."""
    minutes = pd.to_timedelta(np.arange(1, BARS_PER_DAY + 1), unit="min")
    local = (
        trading_days.normalize().values[:, None]
        + np.timedelta64(9 * 60 + 30, "m")
        + minutes.values[None, :]
    ).ravel()
    utc = pd.DatetimeIndex(local).tz_localize(SESSION_TZ).tz_convert("UTC")
    return utc.asi8.copy()


def _utc(ns: np.ndarray) -> pd.DatetimeIndex:
    return pd.DatetimeIndex(ns.view("M8[ns]")).tz_localize("UTC")


def _frame(
    names: list[str], stamps: np.ndarray, arrays: dict[str, np.ndarray], columns: list[str]
) -> pd.DataFrame:
    data: dict[str, Any] = {
        "symbol": np.repeat(np.array(names, dtype=object), len(stamps)),
        "ts": _utc(np.tile(stamps, len(names))),
    }
    data.update({c: arrays[c].ravel() for c in columns})
    # copy=False keeps one block per column instead of stacking them into a 2-D copy.
    return pd.DataFrame(data, copy=False)


def _with(df: pd.DataFrame, arrays: dict[str, np.ndarray], columns: list[str]) -> pd.DataFrame:
    for c in columns:
        df[c] = arrays[c].ravel()
    return df


def _oracle_frame(names: list[str], stamps: np.ndarray, oracle: Any, horizon: int) -> pd.DataFrame:
    label = oracle.label.ravel()
    df = _frame(
        names,
        stamps,
        {
            "p_sell": oracle.p_sell,
            "p_hold": oracle.p_hold,
            "p_buy": oracle.p_buy,
            "expected_return": oracle.expected_return,
            "return_sd": oracle.return_sd,
            "threshold": oracle.threshold,
            "forward_return": oracle.forward_return,
        },
        ["p_sell", "p_hold", "p_buy"],
    )
    df["label"] = pd.arrays.IntegerArray(label, label < 0)
    df["horizon"] = np.int16(horizon)
    for c, arr in (
        ("expected_return", oracle.expected_return),
        ("return_sd", oracle.return_sd),
        ("threshold", oracle.threshold),
        ("forward_return", oracle.forward_return),
    ):
        df[c] = arr.ravel()
    return df


def _option_chains(
    names: list[str],
    trading_days: pd.DatetimeIndex,
    stamps: np.ndarray,
    close_at_day_end: np.ndarray,
    universe: dict[str, Any],
    market_regime: np.ndarray,
    seed: int,
    config: SimulatorConfig,
) -> pd.DataFrame:
    columns = [
        "symbol",
        "ts",
        "expiry",
        "strike",
        "option_type",
        "bid",
        "ask",
        "last",
        "volume",
        "open_interest",
        "underlying_price",
        "implied_volatility",
    ]
    if not config.option_chains:
        return _chain_frame({c: np.array([]) for c in columns}, columns)
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
    day_end = np.arange(len(trading_days)) * BARS_PER_DAY + BARS_PER_DAY - 1
    snapshot_ns = stamps[day_end]
    expiry_local = pd.DatetimeIndex(
        (expiry_dates(trading_days, style.tenors_days) + np.timedelta64(16, "h"))
        .astype("M8[ns]")
        .ravel()
    )
    expiry_ns = (
        expiry_local.tz_localize(SESSION_TZ)
        .tz_convert("UTC")
        .asi8.reshape(len(trading_days), len(style.tenors_days))
    )
    mult = np.asarray(config.regime_multipliers)
    # The regime at the close drives the volatility of the bars ahead (vol is lagged by H).
    market_now = config.market_vol * mult[market_regime[day_end]]
    parts = []
    for i, name in enumerate(names):
        beta, idio = universe["beta"][i], universe["idio_vol"][i]
        vol_now = np.sqrt(
            (beta * market_now) ** 2 + (idio * mult[universe["regime"][i, day_end]]) ** 2
        )
        parts.append(
            simulate_chains(
                symbol=name,
                rng=_rng(seed, _ROLE_OPTIONS, _name_key(name)),
                snapshot_ns=snapshot_ns,
                expiry_ns=expiry_ns,
                spot=close_at_day_end[i],
                vol_now=vol_now,
                vol_long=math.hypot(beta * config.market_vol, idio),
                base_open_interest=0.02 * universe["daily_volume"][i] / 100.0,
                style=style,
            )
        )
    merged = {c: np.concatenate([p[c] for p in parts]) for c in columns}
    return _chain_frame(merged, columns)


def _chain_frame(data: dict[str, np.ndarray], columns: list[str]) -> pd.DataFrame:
    out = {c: data[c] for c in columns}
    out["symbol"] = out["symbol"].astype(object)
    out["option_type"] = out["option_type"].astype(object)
    out["ts"] = _utc(out["ts"].astype(np.int64))
    out["expiry"] = _utc(out["expiry"].astype(np.int64))
    for c in columns:
        if c not in ("symbol", "option_type", "ts", "expiry"):
            out[c] = out[c].astype(np.float64)
    return pd.DataFrame(out, copy=False)


def _params(
    config: SimulatorConfig,
    names: list[str],
    trading_days: pd.DatetimeIndex,
    seed: int,
    universe: dict[str, Any],
) -> dict[str, Any]:
    params = dataclasses.asdict(config)
    params.update(
        seed=int(seed),
        symbols=list(names),
        days=len(trading_days),
        start=trading_days[0].date().isoformat(),
        trading_days=[d.date().isoformat() for d in trading_days],
        bars_per_day=BARS_PER_DAY,
        regime_names=list(REGIME_NAMES),
        benchmarks={k: dict(v) for k, v in BENCHMARKS.items()},
        symbol_params={
            name: {
                key: float(universe[key][i])
                for key in ("beta", "idio_vol", "start_price", "daily_volume", "trade_size")
            }
            for i, name in enumerate(names)
        },
    )
    return params
