"""Position sizing: confidence-scaled volatility targeting.

The weight (fraction of equity, signed) of a new position is

    w = direction * confidence_scale * min(max_weight, target_volatility / volatility)

with ``confidence_scale = clip((confidence - floor) / (1 - floor), 0, 1)``. The floor
defaults to 1/3, the chance level of a 3-class (SELL/HOLD/BUY) model: a signal at chance
confidence gets no capital, a certain one gets the full volatility-targeted weight.
``volatility`` and ``target_volatility`` are annualised; a missing or zero volatility
falls back to ``max_weight`` (no information to scale on, so the cap decides).
"""

from __future__ import annotations

import numpy as np

from signal_pipeline.backtest.errors import BacktestConfigError

CHANCE_CONFIDENCE = 1.0 / 3.0


def confidence_scale(confidence: np.ndarray, floor: float = CHANCE_CONFIDENCE) -> np.ndarray:
    """Linear map of confidence from ``[floor, 1]`` onto ``[0, 1]`` (clipped)."""
    if not 0.0 <= floor < 1.0:
        raise BacktestConfigError(
            f"confidence floor={floor!r} is invalid: it must lie in [0, 1); "
            "use 1/3 (chance for 3 classes) or 0 to scale by raw confidence"
        )
    return np.clip((np.asarray(confidence, dtype=float) - floor) / (1.0 - floor), 0.0, 1.0)


def volatility_target_weights(
    direction: np.ndarray,
    confidence: np.ndarray,
    volatility: np.ndarray,
    *,
    target_volatility: float = 0.20,
    max_weight: float = 0.10,
    confidence_floor: float = CHANCE_CONFIDENCE,
) -> np.ndarray:
    """Signed weights of new positions (see module docstring for the formula)."""
    if target_volatility <= 0 or max_weight <= 0:
        raise BacktestConfigError(
            f"target_volatility={target_volatility!r}, max_weight={max_weight!r}: both must be > 0"
        )
    vol = np.asarray(volatility, dtype=float)
    with np.errstate(divide="ignore", invalid="ignore"):
        vol_weight = np.where(vol > 0, target_volatility / vol, max_weight)
    vol_weight = np.minimum(np.nan_to_num(vol_weight, nan=max_weight), max_weight)
    scale = confidence_scale(confidence, confidence_floor)
    return np.sign(np.asarray(direction, dtype=float)) * scale * vol_weight


def trailing_volatility(close: np.ndarray, row: int, window: int, periods_per_year: float) -> float:
    """Annualised std of the log returns of ``close[row - window : row + 1]`` (NaN-aware).

    Uses only prices known at ``row`` (its close included), so it is safe for sizing an
    order decided at that bar.
    """
    start = max(0, row - window)
    prices = close[start : row + 1]
    prices = prices[np.isfinite(prices)]
    if prices.size < 3:
        return float("nan")
    returns = np.diff(np.log(prices))
    return float(np.std(returns, ddof=1) * np.sqrt(periods_per_year))
