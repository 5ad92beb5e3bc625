"""The indicator registry: the OHLCV container, the ``Indicator`` entry, scale-free
helpers, history ("memory") rules, and the functions that run an entry.

The entries themselves live in :mod:`signal_pipeline.features.indicators`, which fills
:data:`REGISTRY` when imported; import that module, not this one, to use indicators.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping
from dataclasses import dataclass, field
from functools import lru_cache
from typing import Any, NamedTuple

import numpy as np

# Decay target for recursive filters: start-up state shrinks below this factor.
_DECAY_EPS = 1e-15


class Ohlcv(NamedTuple):
    """Contiguous float64 arrays of one symbol's bars of one timeframe, oldest first."""

    open: np.ndarray
    high: np.ndarray
    low: np.ndarray
    close: np.ndarray
    volume: np.ndarray

    def tail(self, n: int) -> Ohlcv:
        """The last ``n`` bars (views, no copy)."""
        return Ohlcv(*(a[-n:] for a in self))


Compute = Callable[..., dict[str, np.ndarray]]


@dataclass(frozen=True)
class Indicator:
    """One registry entry: defaults, the compute function and its history needs."""

    name: str
    family: str  # trend | momentum | volatility | volume | cycle | statistic | price | pattern
    defaults: Mapping[str, Any]
    compute: Compute
    memory: Callable[..., int]
    source: str
    description: str
    validate: Callable[..., str | None] = field(default=lambda **_: None)


def _fmt(value: Any) -> str:
    """Parameter as it appears in a column name: 2.0 -> '2', 0.02 -> '0p02'."""
    if isinstance(value, float) and value.is_integer():
        value = int(value)
    return str(value).replace(".", "p").replace("-", "m")


@lru_cache(maxsize=8192)  # the online engine asks for the same names on every bar
def stem(name: str, *params: Any) -> str:
    """Column name without the timeframe suffix, e.g. ``stem('rsi', 14) == 'rsi_14'``."""
    return "_".join([name, *(_fmt(p) for p in params)])


def decay_bars(alpha: float, eps: float = _DECAY_EPS) -> int:
    """Bars after which a recursive filter's start-up state weighs less than ``eps``."""
    return math.ceil(math.log(eps) / math.log1p(-alpha))


def _ema_mem(period: int, depth: int = 1) -> int:
    # Chained EMAs: each stage adds its seed window; the polynomial factor of chained
    # decay is covered by the extra ``depth`` decay lengths.
    return depth * period + depth * decay_bars(2.0 / (period + 1))


def _wilder_mem(period: int, extra: int = 0) -> int:
    return 2 * period + extra + decay_bars(1.0 / period)


def _dist(level: np.ndarray, close: np.ndarray) -> np.ndarray:
    """Distance of the close to a price level, percent of the close."""
    return 100.0 * (close - level) / close


def _per_close(diff: np.ndarray, close: np.ndarray) -> np.ndarray:
    return 100.0 * diff / close


def _ratio(num: np.ndarray, den: np.ndarray, when_zero: float) -> np.ndarray:
    """num/den where den != 0, else ``when_zero``; NaN stays NaN (warm-up)."""
    out = np.full_like(num, when_zero)
    np.divide(num, den, out=out, where=den != 0)
    out[np.isnan(num) | np.isnan(den)] = np.nan
    return out


REGISTRY: dict[str, Indicator] = {}


def register(
    name: str,
    family: str,
    defaults: Mapping[str, Any],
    memory: Callable[..., int],
    source: str,
    description: str,
    validate: Callable[..., str | None] | None = None,
) -> Callable[[Compute], Compute]:
    """Decorator adding a compute function to :data:`REGISTRY`."""

    def wrap(fn: Compute) -> Compute:
        REGISTRY[name] = Indicator(
            name, family, dict(defaults), fn, memory, source, description,
            validate or (lambda **_: None),
        )  # fmt: skip
        return fn

    return wrap


def _periods_ok(_min: int = 2, **params: Any) -> str | None:
    for key, value in params.items():
        is_length = "period" in key or key in ("fast", "slow", "signal")
        if is_length and (not isinstance(value, int) or isinstance(value, bool) or value < _min):
            return f"{key} must be an integer >= {_min}, got {value!r}"
    return None


def _lags_ok(**params: Any) -> str | None:
    return _periods_ok(1, **params)


# ----------------------------------------------------------------------- public API
def compute_indicator(name: str, bars: Ohlcv, params: Mapping[str, Any]) -> dict[str, np.ndarray]:
    """Columns (without timeframe suffix) of one indicator over ``bars``."""
    return REGISTRY[name].compute(bars, **params)


def reference_walk(n: int) -> Ohlcv:
    """A fixed-seed random walk of OHLCV bars (for warm-up probing and tests)."""
    rng = np.random.default_rng(12345)
    close = 100.0 * np.exp(np.cumsum(rng.normal(0, 0.002, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    spread = np.abs(rng.normal(0, 0.001, n)) * close
    high = np.maximum(open_, close) + spread
    low = np.minimum(open_, close) - spread
    volume = rng.integers(1_000, 50_000, n).astype(np.float64)
    return Ohlcv(open_, high, low, close, volume)


@lru_cache(maxsize=4096)
def _warmup_cached(name: str, params: tuple[tuple[str, Any], ...]) -> tuple[tuple[str, int], ...]:
    kwargs = dict(params)
    n = max(REGISTRY[name].memory(**kwargs), 400) + 50
    cols = compute_indicator(name, reference_walk(n), kwargs)
    return tuple((col, int(np.argmax(~np.isnan(values)))) for col, values in cols.items())


def warmup_bars(name: str, params: Mapping[str, Any]) -> dict[str, int]:
    """Leading bars that are NaN for each output column (TA-Lib's lookback)."""
    return dict(_warmup_cached(name, tuple(sorted(params.items()))))


def output_columns(name: str, params: Mapping[str, Any]) -> list[str]:
    """Output column stems of one indicator, in output order."""
    return list(warmup_bars(name, params))
