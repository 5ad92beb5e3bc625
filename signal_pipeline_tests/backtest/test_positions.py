"""The array API against a plain per-bar reference loop, and its trade accounting."""

from __future__ import annotations

import numpy as np
import pytest

from signal_pipeline.backtest import CostModel, simulate_positions
from signal_pipeline.backtest.errors import BacktestInputError


def random_market(n_bars: int, n_symbols: int, seed: int) -> dict[str, np.ndarray]:
    rng = np.random.default_rng(seed)
    close = 50 * np.exp(np.cumsum(rng.normal(0, 0.002, (n_bars, n_symbols)), axis=0))
    open_ = np.vstack([np.full(n_symbols, 50.0), close[:-1]]) * (
        1 + rng.normal(0, 5e-4, (n_bars, n_symbols))
    )
    steps = rng.random((n_bars, n_symbols)) < 0.1
    weights = np.where(steps, rng.choice([-0.2, 0.0, 0.1, 0.25], (n_bars, n_symbols)), np.nan)
    weights[0] = 0.0
    for t in range(1, n_bars):  # hold each target until the next draw
        weights[t] = np.where(np.isnan(weights[t]), weights[t - 1], weights[t])
    return {"open": open_, "close": close, "weights": weights}


def reference_equity(market: dict[str, np.ndarray], costs: CostModel) -> np.ndarray:
    """Bar-by-bar loop written for clarity: weights decided at t trade at open t+1."""
    o, c, w = market["open"], market["close"], market["weights"]
    cash, shares, executed = 1e6, np.zeros(c.shape[1]), np.zeros(c.shape[1])
    equity = np.empty(c.shape[0])
    for t in range(c.shape[0]):
        if t > 0:
            for j in np.flatnonzero(w[t - 1] != executed):
                delta = w[t - 1, j] * equity[t - 1] / o[t, j] - shares[j]
                impact = (costs.half_spread_bps + costs.slippage_bps) * 1e-4
                fill = o[t, j] * (1 + np.sign(delta) * impact)
                commission = max(costs.min_commission, costs.commission_per_share * abs(delta))
                cash -= delta * fill + (commission if delta != 0 else 0.0)
                shares[j] += delta
                executed[j] = w[t - 1, j]
        equity[t] = cash + shares @ c[t]
    return equity


@pytest.mark.parametrize("costs", [CostModel.free(), CostModel()])
def test_matches_a_per_bar_reference_loop(costs: CostModel) -> None:
    market = random_market(200, 4, seed=5)  # gross target <= 4 * 0.25 = 1: no limit binds
    paths = simulate_positions(
        market["open"], market["close"], market["weights"], costs=costs, max_borrow=1.0
    )
    np.testing.assert_allclose(paths.equity, reference_equity(market, costs), rtol=1e-12)


def test_round_trip_pnl_adds_up_to_the_equity_change() -> None:
    market = random_market(300, 5, seed=8)
    paths = simulate_positions(
        market["open"], market["close"], market["weights"], costs=CostModel(), max_borrow=1.0
    )
    # Every currency unit gained or lost belongs to exactly one round trip (open ones are
    # marked at the last close), commissions and spreads included.
    assert paths.trades["pnl"].sum() == pytest.approx(paths.equity[-1] - 1e6, abs=1e-6)
    assert (paths.trades["exit_row"] >= paths.trades["entry_row"]).all()


def test_mismatched_shapes_are_refused() -> None:
    market = random_market(10, 2, seed=1)
    with pytest.raises(BacktestInputError, match="weights has shape"):
        simulate_positions(market["open"], market["close"], market["weights"][:, :1])
