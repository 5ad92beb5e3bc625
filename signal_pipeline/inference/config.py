"""Settings of the signal engine: input limits, filters, risk levels and the cache.

Every field has a default that suits 1-minute US equity bars; pass ``EngineConfig(...)``
or a mapping of overrides to :class:`~signal_pipeline.inference.SignalEngine`.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from datetime import timedelta
from typing import Any


class EngineConfigError(ValueError):
    """An engine setting out of its range; the message names the setting and the fix."""


@dataclass(frozen=True)
class EngineConfig:
    """Tunable behaviour of :class:`SignalEngine` (see docs/inference.md)."""

    #: Bars needed before a signal is produced; None = the longest warm-up of the
    #: model's features plus one bucket of the largest timeframe.
    min_bars: int | None = None
    #: Larger requests are refused (HTTP 413) rather than slowing every caller down.
    max_bars: int = 20_000
    #: The newest bar may be at most this old relative to ``now``; None disables the check
    #: (offline replays, backtests).
    max_bar_age: timedelta | None = timedelta(minutes=5)
    #: A BUY/SELL whose calibrated confidence is below this becomes HOLD; None = only the
    #: ensemble's own threshold applies.
    min_confidence: float | None = None
    #: A BUY/SELL is turned into HOLD when the relative quoted spread (ask - bid) / mid is
    #: wider than this; None disables the filter.
    max_spread: float | None = 0.005
    #: Target and stop distances from the entry, in ATRs.
    target_atr: float = 2.0
    stop_atr: float = 1.0
    #: The feature holding the ATR as % of close (TA-Lib NATR), read from the feature row.
    atr_feature: str = "atr_14_1m"
    #: Volatility targeting: annualised volatility a full-confidence position aims at,
    #: and the largest position as a fraction of capital.
    target_annual_vol: float = 0.15
    max_position: float = 1.0
    #: Lifetime of a signal (its outcome horizon): the labels' 15-bar horizon.
    horizon: timedelta = timedelta(minutes=15)
    #: Features named in the reasoning text, and how they are found: "saabas" (XGBoost's
    #: approximate per-path contributions, ~0.4 ms), "shap" (exact TreeSHAP, ~6 ms for
    #: 100 trees) or "importance" (global importances, no per-row work).
    reasoning_top: int = 5
    explain: str = "saabas"
    #: Suppress (``emitted=False``) a signal equal to the symbol's still-active last one.
    dedupe: bool = True
    #: Signal-cache lifetime in seconds (0 disables the cache) and in-process capacity.
    cache_ttl: float = 30.0
    cache_size: int = 4096
    #: Accept NaN model features on the last row (the members then see NaN); off by
    #: default because training dropped every row with a missing feature.
    allow_missing_features: bool = False
    #: Threads per XGBoost member at predict time: one is fastest for one-row requests.
    member_threads: int | None = 1

    def __post_init__(self) -> None:
        checks = {
            "max_bars": self.max_bars >= 1,
            "min_bars": self.min_bars is None or self.min_bars >= 1,
            "min_confidence": self.min_confidence is None or 0.0 <= self.min_confidence <= 1.0,
            "max_spread": self.max_spread is None or self.max_spread > 0,
            "target_atr": self.target_atr > 0,
            "stop_atr": self.stop_atr > 0,
            "target_annual_vol": self.target_annual_vol > 0,
            "max_position": self.max_position >= 0,
            "horizon": self.horizon > timedelta(0),
            "cache_ttl": self.cache_ttl >= 0,
            "cache_size": self.cache_size >= 1,
            "reasoning_top": self.reasoning_top >= 0,
            "explain": self.explain in ("saabas", "shap", "importance"),
        }
        bad = [name for name, ok in checks.items() if not ok]
        if bad:
            values = {name: getattr(self, name) for name in bad}
            raise EngineConfigError(
                f"engine settings {values} are out of range: sizes, multiples and limits must "
                "be positive, confidences within [0, 1]."
            )

    @classmethod
    def build(cls, config: EngineConfig | Mapping[str, Any] | None) -> EngineConfig:
        """``config`` itself, the defaults, or the defaults with a mapping's overrides."""
        if config is None:
            return cls()
        if isinstance(config, EngineConfig):
            return config
        known = {f.name for f in fields(cls)}
        unknown = sorted(set(config) - known)
        if unknown:
            raise EngineConfigError(
                f"unknown engine settings {unknown}: choose among {sorted(known)}."
            )
        values = dict(config)
        for name in ("max_bar_age", "horizon"):
            if isinstance(values.get(name), int | float):
                values[name] = timedelta(seconds=float(values[name]))
        return replace(cls(), **values)
