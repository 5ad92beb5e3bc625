"""Streaming indicator kernels: the online engine's compiled, bar-at-a-time form of the
registry's indicators (:mod:`signal_pipeline.features.indicators`).

The batch table keeps TA-Lib as its engine. Recomputing an indicator over its trailing
``memory`` window on every bar (what the online engine did for every entry) costs
O(memory) per bar: 650 bars for a Hilbert transform, 3,654 for EMA 200. A kernel keeps
the recursion's state instead and advances it by one bar in O(1) (O(window) for the
finite-window indicators, in compiled code), reproducing TA-Lib's arithmetic: the same
seed (TA-Lib's lookback and its SMA or sum seeds), the same recursion, the same
scale-free transform as the registry entry. Started on the same first bar as TA-Lib, a
kernel's output for every bar equals the registry column for that bar to within 1e-9
(relative, floor 1), NaN exactly where the registry column is NaN; that is tested for
every kernel against TA-Lib on random walks and on awkward paths (flat prices, zero
volume, gaps) in ``signal_pipeline_tests/features/test_kernels.py``.

A kernel is two things: a ``state`` vector (float64, its own layout, including any ring of
recent inputs) and a numba-jitted ``step(state, o, h, l, c, v, out, at)`` that takes the
next bar, updates ``state`` and writes the indicator's outputs for that bar to
``out[at : at + outputs]``, in the registry entry's column order. Factories register by
indicator name with :func:`kernel`; :func:`make_kernel` returns a fresh kernel, or None
when an indicator has none (the online engine then keeps the window-recompute path).

Modules: ``recursive`` (EMA family, Wilder smoothing, KAMA, SAR, MACD, the ADX family,
A/D and OBV), ``window`` (finite windows: moving averages, regressions, bands, ranges,
oscillators, candle patterns), ``cycle`` (the Hilbert transform family and MAMA);
``_arith`` holds TA-Lib's fused multiply-add.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

import numpy as np

from signal_pipeline.features.indicator_registry import Ohlcv

StepFn = Callable[..., None]


@dataclass(slots=True)
class Kernel:
    """One indicator's streaming state and its jitted step function."""

    name: str
    outputs: int
    state: np.ndarray
    step: StepFn

    def warm(self, bars: Ohlcv, out: np.ndarray, at: int) -> None:
        """Run the kernel over ``bars`` (oldest first); ``out[at:]`` ends with the last
        bar's outputs. A kernel is warmed once, from a fresh state.

        The loop is Python (~0.4 us a bar): a compiled loop taking ``step`` as an
        argument cannot use numba's on-disk cache (the argument's type is keyed per
        process), so it would recompile for every kernel in every process."""
        step, state = self.step, self.state
        for o, h, lo, c, v in zip(*(a.tolist() for a in bars), strict=True):
            step(state, o, h, lo, c, v, out, at)


Factory = Callable[..., tuple[StepFn, np.ndarray, int]]
KERNELS: dict[str, Factory] = {}
# Modules whose import fills KERNELS (one per indicator family).
_MODULES = ("recursive", "window", "cycle")
_loaded = False


def kernel(name: str) -> Callable[[Factory], Factory]:
    """Register a factory ``(**params) -> (step, initial_state, outputs)`` for ``name``."""

    def wrap(factory: Factory) -> Factory:
        if name in KERNELS:
            raise ValueError(f"kernel {name!r} registered twice")
        KERNELS[name] = factory
        return factory

    return wrap


def _load() -> None:
    global _loaded
    if not _loaded:
        for module in _MODULES:
            try:
                importlib.import_module(f"{__name__}.{module}")
            except ModuleNotFoundError as exc:
                if exc.name != f"{__name__}.{module}":
                    raise
        _loaded = True


def check_length(name: str, key: str, value: object, minimum: int = 2) -> int:
    """A kernel factory's window length, or ValueError naming the kernel and the rule."""
    if not isinstance(value, int) or isinstance(value, bool) or value < minimum:
        raise ValueError(f"{name} kernel: {key} must be an integer >= {minimum}, got {value!r}")
    return value


def available() -> list[str]:
    """Indicator names that have a streaming kernel."""
    _load()
    return sorted(KERNELS)


def make_kernel(name: str, params: Mapping[str, Any]) -> Kernel | None:
    """A fresh kernel for one indicator entry, or None when it has no kernel."""
    _load()
    factory = KERNELS.get(name)
    if factory is None:
        return None
    step, state, outputs = factory(**params)
    return Kernel(name, int(outputs), np.array(state, dtype=np.float64), step)


def stream(name: str, params: Mapping[str, Any], bars: Ohlcv) -> np.ndarray:
    """Outputs of a fresh kernel for every bar, shape (bars, outputs): what the tests
    compare with the registry columns."""
    k = make_kernel(name, params)
    if k is None:
        raise KeyError(f"indicator {name!r} has no streaming kernel")
    rows = np.full((len(bars.close), k.outputs), np.nan)
    out = np.full(k.outputs, np.nan)
    for i in range(len(bars.close)):
        k.step(k.state, bars.open[i], bars.high[i], bars.low[i], bars.close[i],
               bars.volume[i], out, 0)  # fmt: skip
        rows[i] = out
    return rows
