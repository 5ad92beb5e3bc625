"""Signal filters and dedupe: they act on a computed signal and never raise.

A BUY/SELL whose confidence is below ``min_confidence`` or whose quoted spread is too
wide to trade becomes HOLD, with the reason recorded (:func:`apply_signal_filters`);
:class:`SignalDeduplicator` tells whether a signal repeats the symbol's still-active
previous one, so that it is not emitted twice.
"""

from __future__ import annotations

import threading
from dataclasses import dataclass

import numpy as np
import pandas as pd

from signal_pipeline.labels import CLASS_NAMES, HOLD
from signal_pipeline.signals.model import Signal


def relative_spread(quote: pd.DataFrame | None, bars: pd.DataFrame) -> float | None:
    """(ask - bid) / mid of the quote given, else of the last bar's bid/ask, else None."""
    if quote is not None:
        bid, ask = float(quote["bid"].iloc[-1]), float(quote["ask"].iloc[-1])
    elif {"bid", "ask"} <= set(bars.columns):
        bid, ask = float(bars["bid"].iloc[-1]), float(bars["ask"].iloc[-1])
    else:
        return None
    mid = (bid + ask) / 2.0
    if not (np.isfinite(mid) and mid > 0):
        return None
    return (ask - bid) / mid


@dataclass(frozen=True)
class FilteredSignal:
    """A class decision after the filters: ``label`` (0/1/2), its ``confidence`` and why
    it was changed (empty when it was not)."""

    label: int
    confidence: float
    filtered_by: tuple[str, ...] = ()


def apply_signal_filters(
    proba: np.ndarray,
    label: int,
    confidence: float,
    *,
    min_confidence: float | None,
    spread: float | None,
    max_spread: float | None,
) -> FilteredSignal:
    """BUY/SELL -> HOLD when less confident than ``min_confidence`` or when the spread is
    wider than ``max_spread``; a forced HOLD reports ``p_hold`` as its confidence (the
    ensemble's convention for HOLDs below the threshold)."""
    if label == HOLD:
        return FilteredSignal(label, confidence)
    reasons: list[str] = []
    if min_confidence is not None and confidence < min_confidence:
        reasons.append(
            f"confidence {confidence:.3f} of {CLASS_NAMES[label]} below min_confidence "
            f"{min_confidence:.3f}"
        )
    if max_spread is not None and spread is not None and spread > max_spread:
        reasons.append(f"spread {spread:.5f} wider than max_spread {max_spread:.5f}")
    if not reasons:
        return FilteredSignal(label, confidence)
    return FilteredSignal(HOLD, float(proba[HOLD]), tuple(reasons))


class SignalDeduplicator:
    """Remembers each symbol's last emitted signal; a new one with the same type and
    model version created before that one expires is a repeat, not emitted again.
    Thread-safe; in-process (one per engine)."""

    def __init__(self) -> None:
        self._last: dict[str, Signal] = {}
        self._lock = threading.Lock()

    def should_emit(self, signal: Signal) -> bool:
        """True (and remembered) for a new signal, False for a repeat of the active one."""
        with self._lock:
            last = self._last.get(signal.symbol)
            if (
                last is not None
                and last.signal_type == signal.signal_type
                and last.model_version == signal.model_version
                and last.expires_at is not None
                and last.created_at <= signal.created_at < last.expires_at
            ):
                return False
            if last is None or signal.created_at >= last.created_at:
                self._last[signal.symbol] = signal
            return True

    def forget(self, symbol: str | None = None) -> None:
        with self._lock:
            if symbol is None:
                self._last.clear()
            else:
                self._last.pop(symbol, None)
