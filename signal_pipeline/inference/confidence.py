"""From a calibrated class decision to an order: target, stop and position size.

* **Target and stop** sit ATR multiples from the entry (the last close): a BUY's target
  at ``close + target_atr * ATR`` and stop at ``close - stop_atr * ATR``, mirrored for a
  SELL; a HOLD has neither. The ATR is read from the feature row (TA-Lib NATR, % of
  close), so the online and the batch path use the very same number.
* **Position size** (fraction of capital) by volatility targeting, scaled by
  confidence: ``size = min(max_position, edge * target_annual_vol / sigma_annual)``.
  ``sigma_annual`` is the 1-minute volatility estimated from the ATR, annualised over
  390 minutes x 252 days; ``edge = (confidence - 1/3) / (1 - 1/3)`` is the calibrated
  confidence's margin over chance for three classes (0 at chance, 1 at certainty). The
  ATR of a Brownian bar is ``2 * sqrt(2 / pi) * sigma`` (the expected range, Feller
  1951), so ``sigma = ATR / 1.5958``; true ranges include the gap to the previous
  close, so this slightly overstates sigma (a conservative size).
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from signal_pipeline.labels import BUY, HOLD, SELL

#: E[high - low] / sigma of a Brownian path over one bar: 2 * sqrt(2 / pi).
RANGE_TO_SIGMA = 2.0 * math.sqrt(2.0 / math.pi)
MINUTES_PER_YEAR = 390 * 252
CHANCE = 1.0 / 3.0


@dataclass(frozen=True)
class OrderLevels:
    """Target, stop (None for HOLD or unknown volatility) and position size."""

    target_price: float | None
    stop_loss: float | None
    position_size: float


def confidence_edge(confidence: float) -> float:
    """Margin of a calibrated 3-class confidence over chance, in [0, 1]."""
    return min(1.0, max(0.0, (confidence - CHANCE) / (1.0 - CHANCE)))


def annual_volatility(natr_percent: float) -> float:
    """Annualised volatility implied by a 1-minute ATR given in % of close."""
    return natr_percent / 100.0 / RANGE_TO_SIGMA * math.sqrt(MINUTES_PER_YEAR)


def order_levels(
    label: int,
    confidence: float,
    close: float,
    natr_percent: float | None,
    *,
    target_atr: float,
    stop_atr: float,
    target_annual_vol: float,
    max_position: float,
) -> OrderLevels:
    """Levels of one signal (see the module docstring for the formulas)."""
    usable = (
        natr_percent is not None
        and math.isfinite(natr_percent)
        and natr_percent > 0
        and math.isfinite(close)
        and close > 0
    )
    if label == HOLD or not usable:
        return OrderLevels(None, None, 0.0)
    assert natr_percent is not None  # narrowed by ``usable``
    atr = natr_percent / 100.0 * close
    direction = 1.0 if label == BUY else -1.0
    target = close + direction * target_atr * atr
    stop = close - direction * stop_atr * atr
    if label == SELL and target <= 0:
        target = None  # a SELL target below zero has no meaning: leave it open
    if stop <= 0:
        stop = None
    size = confidence_edge(confidence) * target_annual_vol / annual_volatility(natr_percent)
    return OrderLevels(target, stop, min(max_position, size))
