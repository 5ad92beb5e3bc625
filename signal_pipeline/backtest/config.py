"""``BacktestConfig``: strategy and portfolio parameters of a backtest."""

from __future__ import annotations

from dataclasses import dataclass

from signal_pipeline.backtest.errors import BacktestConfigError
from signal_pipeline.backtest.sizing import CHANCE_CONFIDENCE

BARS_PER_DAY = 390
BARS_PER_YEAR = 252 * BARS_PER_DAY


@dataclass(frozen=True)
class BacktestConfig:
    """Strategy and portfolio parameters of a backtest (all weights are fractions of equity).

    ``holding_bars`` is the expiry of signals that carry neither ``expires_at`` nor
    ``holding_bars``. Signals without ``stop_loss``/``target_price`` get levels at
    ``stop_multiple``/``target_multiple`` times the expected move over the holding period,
    ``sigma_bar * sqrt(holding_bars) * price`` (``sigma_bar``: std of the last
    ``volatility_window`` one-bar log returns); ``None`` means no such level.
    """

    initial_capital: float = 1_000_000.0
    max_gross_exposure: float = 1.0
    max_position_weight: float = 0.10
    max_borrow: float = 0.0
    allow_short: bool = True
    min_confidence: float = 0.0
    holding_bars: int = 60
    stop_multiple: float | None = 2.0
    target_multiple: float | None = 3.0
    volatility_window: int = 390
    target_volatility: float = 0.20
    confidence_floor: float = CHANCE_CONFIDENCE
    bars_per_year: float = BARS_PER_YEAR

    def __post_init__(self) -> None:
        if self.initial_capital <= 0 or self.max_gross_exposure <= 0:
            raise BacktestConfigError(
                f"initial_capital={self.initial_capital}, max_gross_exposure="
                f"{self.max_gross_exposure}: both must be > 0"
            )
        if not 0 < self.max_position_weight <= self.max_gross_exposure:
            raise BacktestConfigError(
                f"max_position_weight={self.max_position_weight} must be in "
                f"(0, max_gross_exposure={self.max_gross_exposure}]"
            )
        if self.holding_bars < 1 or self.volatility_window < 2:
            raise BacktestConfigError(
                f"holding_bars={self.holding_bars} must be >= 1 and volatility_window="
                f"{self.volatility_window} >= 2"
            )
        for name in ("stop_multiple", "target_multiple"):
            value = getattr(self, name)
            if value is not None and value <= 0:
                raise BacktestConfigError(f"{name}={value} must be > 0, or None for no level")
