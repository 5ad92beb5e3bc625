"""The simulator's parameters: every knob with its default, and the checks on the
arguments of :func:`signal_pipeline.data.simulate_market`."""

from __future__ import annotations

import dataclasses
import datetime as dt
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
import pandas as pd

from signal_pipeline.data.sim_paths import BARS_PER_DAY

BENCHMARKS: dict[str, dict[str, float]] = {
    # beta to the market factor, own annualised vol, first price, shares per day
    "QQQ": {"beta": 1.25, "idio_vol": 0.08, "start_price": 400.0, "daily_volume": 4.0e7},
    "SPY": {"beta": 1.0, "idio_vol": 0.02, "start_price": 470.0, "daily_volume": 6.0e7},
}


class SimulatorInputError(ValueError):
    """An argument of the simulator is out of its domain."""


@dataclass(frozen=True)
class SimulatorConfig:
    """Every knob of the generative model, with its default. Vols are annualised;
    durations are in 1-minute bars. ``docs/simulator.md`` explains each one."""

    # Negative: a short-term reversal. Momentum (positive) feeds back into itself and
    # makes prices trend far beyond their volatility; see docs/simulator.md.
    signal_strength: float = -0.15
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


def make_config(**values: Any) -> SimulatorConfig:
    """A checked :class:`SimulatorConfig`; unknown names and out-of-domain values raise
    :class:`SimulatorInputError`."""
    known = {f.name for f in dataclasses.fields(SimulatorConfig)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise SimulatorInputError(
            f"simulate_market: unknown option(s) {unknown}; valid: {sorted(known)}"
        )
    config = SimulatorConfig(**values)
    h, k, lam = config.horizon, config.signal_lookback, config.signal_strength
    if not _is_int(h) or not 1 <= h < BARS_PER_DAY:
        raise SimulatorInputError(f"horizon={h!r}: must be an integer in [1, {BARS_PER_DAY - 1}]")
    if not _is_int(k) or k < 2:
        raise SimulatorInputError(f"signal_lookback={k!r}: must be an integer >= 2")
    if not math.isfinite(lam) or abs(lam) * math.sqrt(k) >= 1.0:
        # The drift feeds back into the state it is computed from with gain about
        # |lambda| * sqrt(K): at 1 or more momentum runs away (trends lock at the clip)
        # and reversal overshoots into oscillation.
        raise SimulatorInputError(
            f"signal_strength={lam!r}: |signal_strength| * sqrt(signal_lookback={k}) must be "
            f"< 1 (here {abs(lam) * math.sqrt(k):.3g}) or the planted drift feeds on itself; "
            "lower it or shorten signal_lookback"
        )
    if not config.label_threshold_sd > 0:
        raise SimulatorInputError(
            f"label_threshold_sd={config.label_threshold_sd!r}: must be > 0 (in sds)"
        )
    if not config.state_clip > 0:
        raise SimulatorInputError(f"state_clip={config.state_clip!r}: must be > 0")
    if min(config.option_tenors_days, default=0) < 1:
        raise SimulatorInputError(
            f"option_tenors_days={config.option_tenors_days!r}: need at least one tenor, "
            "each >= 1 calendar day"
        )
    return config


def symbol_names(symbols: Sequence[str] | int) -> list[str]:
    """Ticker names sorted (frames are sorted by symbol); an integer n gives SYM000..."""
    if _is_int(symbols):
        n = int(symbols)  # type: ignore[arg-type]
        if n < 1:
            raise SimulatorInputError(f"symbols={n}: give a positive count or a list of names")
        width = max(3, len(str(n - 1)))
        return [f"SYM{i:0{width}d}" for i in range(n)]
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
        raise SimulatorInputError(f"symbols: duplicate names {dupes}; give each name once")
    clash = sorted(set(names) & set(BENCHMARKS))
    if clash:
        raise SimulatorInputError(
            f"symbols: {clash} are the simulated benchmark indices (see .benchmarks); "
            "choose other names"
        )
    return sorted(names)


def check_run(days: Any, seed: Any, start: Any) -> pd.DatetimeIndex:
    """The trading days of a run (weekdays from ``start``), after checking the inputs."""
    if not _is_int(days) or days < 1:
        raise SimulatorInputError(f"days={days!r}: must be a positive integer number of days")
    if not _is_int(seed) or seed < 0:
        raise SimulatorInputError(f"seed={seed!r}: must be a non-negative integer")
    try:
        first = pd.Timestamp(start)
    except (TypeError, ValueError) as exc:
        raise SimulatorInputError(
            f"start={start!r}: not a date ({exc}); use 'YYYY-MM-DD' or a datetime.date"
        ) from exc
    if first.tzinfo is not None or first != first.normalize():
        raise SimulatorInputError(
            f"start={start!r}: must be a calendar date without time or zone, e.g. '2024-01-02'"
        )
    return pd.bdate_range(first, periods=int(days))


def _is_int(value: Any) -> bool:
    return isinstance(value, int | np.integer) and not isinstance(value, bool)


def as_date(day: str | dt.date | pd.Timestamp) -> dt.date:
    try:
        return pd.Timestamp(day).date()
    except (TypeError, ValueError) as exc:
        raise SimulatorInputError(f"day={day!r}: not a date ({exc}); use 'YYYY-MM-DD'") from exc
