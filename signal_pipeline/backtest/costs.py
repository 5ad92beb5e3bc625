"""Transaction costs: commission, half-spread and slippage of one fill.

A fill of ``delta`` shares (positive buys, negative sells) at a reference price ``p``
(the next bar's open, a stop or target level, or an expiry close) executes at

    fill = p * (1 + side * (half_spread + slippage)),   side = sign(delta)

so buys pay up and sells receive less, and pays a commission

    commission = max(minimum, per_share * |delta| + bps_commission * |delta| * fill)

for every non-zero fill. ``half_spread`` is a fraction of price: from quotes when the
bars carry ``bid``/``ask`` (``(ask - bid) / (ask + bid)``, i.e. half the spread over the
mid), else the ``half_spread_bps`` assumption. ``slippage`` grows with the bar's
volatility (its high-low range over the open, a per-bar volatility proxy) and with the
order's participation in the bar's volume:

    slippage = slippage_bps / 1e4 + volatility_coef * (high - low) / open
               + participation_coef * |delta| / volume

Everything here works on numpy arrays (one element per filled symbol) so the engine can
cost a whole rebalance in one call.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from signal_pipeline.backtest.errors import BacktestConfigError

BPS = 1e-4


@dataclass(frozen=True)
class CostModel:
    """Parameters of the commission, spread and slippage model (see module docstring).

    Defaults approximate a US retail/institutional equity broker: $0.005 per share with a
    $1 minimum, a 1 bp half-spread and 1 bp of fixed slippage; the volatility and
    participation terms are off unless set.
    """

    commission_per_share: float = 0.005
    commission_bps: float = 0.0
    min_commission: float = 1.0
    half_spread_bps: float = 1.0
    use_quotes: bool = True
    slippage_bps: float = 1.0
    volatility_coef: float = 0.0
    participation_coef: float = 0.0

    def __post_init__(self) -> None:
        for name in (
            "commission_per_share",
            "commission_bps",
            "min_commission",
            "half_spread_bps",
            "slippage_bps",
            "volatility_coef",
            "participation_coef",
        ):
            value = getattr(self, name)
            if not np.isfinite(value) or value < 0:
                raise BacktestConfigError(
                    f"CostModel.{name}={value!r} is invalid: costs must be finite and >= 0; "
                    "pass 0 to switch a component off"
                )

    @classmethod
    def free(cls) -> CostModel:
        """No costs at all: useful to check a strategy's gross return."""
        return cls(
            commission_per_share=0.0,
            min_commission=0.0,
            half_spread_bps=0.0,
            use_quotes=False,
            slippage_bps=0.0,
        )

    def price_impact(
        self,
        delta: np.ndarray,
        *,
        half_spread: np.ndarray | None = None,
        bar_range: np.ndarray | None = None,
        volume: np.ndarray | None = None,
    ) -> np.ndarray:
        """Fractional price adjustment (>= 0) of each fill: half-spread plus slippage.

        ``half_spread`` (fraction of price, from quotes) replaces ``half_spread_bps``
        where finite; ``bar_range`` is (high - low) / open of the fill bar; ``volume`` the
        fill bar's volume (a zero or missing volume adds no participation term, rather
        than an infinite one).
        """
        impact = np.full(delta.shape, (self.half_spread_bps + self.slippage_bps) * BPS)
        if half_spread is not None and self.use_quotes:
            quoted = np.isfinite(half_spread)
            impact = np.where(quoted, half_spread + self.slippage_bps * BPS, impact)
        if bar_range is not None and self.volatility_coef > 0:
            impact = impact + self.volatility_coef * np.where(
                np.isfinite(bar_range), bar_range, 0.0
            )
        if volume is not None and self.participation_coef > 0:
            with np.errstate(divide="ignore", invalid="ignore"):
                participation = np.where(volume > 0, np.abs(delta) / volume, 0.0)
            impact = impact + self.participation_coef * np.where(
                np.isfinite(participation), participation, 0.0
            )
        return impact

    def fill_prices(self, price: np.ndarray, delta: np.ndarray, impact: np.ndarray) -> np.ndarray:
        """Execution prices: buys pay ``price * (1 + impact)``, sells get ``price * (1 - impact)``."""
        return price * (1.0 + np.sign(delta) * impact)

    def commissions(self, delta: np.ndarray, fill_price: np.ndarray) -> np.ndarray:
        """Commission of each fill; zero where nothing traded, else at least the minimum."""
        size = np.abs(delta)
        raw = self.commission_per_share * size + self.commission_bps * BPS * size * fill_price
        return np.where(size > 0, np.maximum(raw, self.min_commission), 0.0)


def half_spread_from_quotes(bid: np.ndarray, ask: np.ndarray) -> np.ndarray:
    """Half the quoted spread as a fraction of the mid: ``(ask - bid) / (ask + bid)``.

    Crossed or missing quotes give NaN, so the cost model falls back to its bps assumption.
    """
    with np.errstate(divide="ignore", invalid="ignore"):
        out = (ask - bid) / (ask + bid)
    return np.where((ask >= bid) & (bid > 0), out, np.nan)
