"""``run_backtest``: bars plus signals or target positions in, a :class:`BacktestResult` out.

Inputs follow the bar contract (long format, one row per symbol and bar, ``ts`` = the
bar's close stamp in UTC). They are pivoted once to (time x symbol) float64 arrays on the
union of all stamps; a symbol without a bar at a stamp has NaN there, which the
simulators treat explicitly (no fill, no exit trigger, marked at the last close).

Timing: everything decided at a bar's close (a signal, a target weight) fills at the
OPEN of the next bar: a stamp ``ts`` fills at the first bar stamped strictly after it.
See :mod:`signal_pipeline.backtest.exits` for stops, targets and expiry, and
:mod:`signal_pipeline.backtest.positions` for the target-weight path.
"""

from __future__ import annotations

from dataclasses import asdict

import numpy as np
import pandas as pd

from signal_pipeline.backtest.config import BacktestConfig
from signal_pipeline.backtest.costs import CostModel
from signal_pipeline.backtest.errors import BacktestInputError
from signal_pipeline.backtest.grid import BarGrid, decision_rows, pivot_bars, symbol_columns
from signal_pipeline.backtest.positions import SimulationPaths, simulate_positions
from signal_pipeline.backtest.result import BacktestResult
from signal_pipeline.backtest.signals import optional_column, plan_signals
from signal_pipeline.backtest.trades import simulate_trades

__all__ = ["BacktestConfig", "pivot_bars", "run_backtest"]


def _positions_grid(grid: BarGrid, positions: pd.DataFrame) -> tuple[np.ndarray, np.ndarray]:
    """Target weights on the bar grid, each held until the symbol's next given weight, and
    the initial weights (the last given before the first bar, executed at its open)."""
    for column in ("symbol", "ts", "weight"):
        if column not in positions.columns:
            raise BacktestInputError(
                f"positions lack the {column!r} column: expected symbol, ts, weight"
            )
    cols = symbol_columns(grid, positions["symbol"], "positions")
    rows = decision_rows(grid.times, positions["ts"], "positions")
    order = np.argsort(rows, kind="stable")  # the latest stamp wins within a bar
    frame = pd.DataFrame(
        {"row": rows, "col": cols, "weight": positions["weight"].to_numpy(dtype=float)}
    ).iloc[order]
    frame = frame.drop_duplicates(["row", "col"], keep="last")
    before = frame[frame["row"] < 0]
    initial = np.zeros(len(grid.symbols))
    initial[before["col"].to_numpy()] = before["weight"].to_numpy()
    frame = frame[frame["row"] >= 0]
    weights = np.full(grid.close.shape, np.nan)
    weights[frame["row"].to_numpy(), frame["col"].to_numpy()] = frame["weight"].to_numpy()
    weights[0] = np.where(np.isnan(weights[0]), initial, weights[0])
    return pd.DataFrame(weights).ffill().fillna(0.0).to_numpy(), initial


def _result(
    grid: BarGrid,
    paths: SimulationPaths,
    trades: pd.DataFrame,
    config: BacktestConfig,
    costs: CostModel,
    skipped: int,
) -> BacktestResult:
    index = grid.times
    equity = pd.Series(paths.equity, index=index, name="equity")
    previous = np.concatenate([[config.initial_capital], paths.equity[:-1]])
    positions = pd.DataFrame(
        {
            "cash": paths.cash,
            "gross_exposure": paths.gross_exposure / paths.equity,
            "net_exposure": paths.net_exposure / paths.equity,
            "turnover": paths.traded_notional / previous,
            "costs": paths.costs,
        },
        index=index,
    )
    if len(trades):
        trades = trades.copy()
        trades.insert(0, "symbol", grid.symbols[trades["symbol_index"].to_numpy()])
        trades["entry_ts"] = index[trades["entry_row"].to_numpy()]
        trades["exit_ts"] = index[trades["exit_row"].to_numpy()]
    return BacktestResult(
        equity=equity,
        positions=positions,
        trades=trades.reset_index(drop=True),
        initial_capital=config.initial_capital,
        config={**asdict(config), **{f"cost_{k}": v for k, v in asdict(costs).items()}},
        skipped_signals=skipped,
    )


def run_backtest(
    bars: pd.DataFrame,
    signals: pd.DataFrame | None = None,
    positions: pd.DataFrame | None = None,
    *,
    costs: CostModel | None = None,
    config: BacktestConfig | None = None,
) -> BacktestResult:
    """Simulate ``signals`` or target ``positions`` over ``bars``; exactly one of the two.

    ``signals``: ``symbol, ts`` and ``signal_type`` (BUY/SELL/HOLD) or ``direction``
    (+1/-1/0); optional ``confidence`` (default 1), ``target_price``, ``stop_loss``,
    ``expires_at`` or ``holding_bars``, ``position_size`` (weight; default: sized by
    confidence-scaled volatility targeting). ``positions``: ``symbol, ts, weight`` (target
    fraction of equity, negative = short), each held until the symbol's next row.
    """
    if (signals is None) == (positions is None):
        raise BacktestInputError(
            "run_backtest needs exactly one of signals= or positions=; "
            f"got signals={'set' if signals is not None else None}, "
            f"positions={'set' if positions is not None else None}"
        )
    costs = costs or CostModel()
    config = config or BacktestConfig()
    grid = pivot_bars(bars)
    if positions is not None:
        weights, initial = _positions_grid(grid, positions)
        if not config.allow_short and ((weights < 0).any() or (initial < 0).any()):
            raise BacktestInputError(
                "positions contain negative weights but config.allow_short is False"
            )
        cap = config.max_position_weight
        clipped = np.clip(weights, -cap, cap)
        paths = simulate_positions(
            grid.open,
            grid.close,
            clipped,
            high=grid.high,
            low=grid.low,
            volume=grid.volume,
            half_spread=grid.half_spread,
            costs=costs,
            initial_capital=config.initial_capital,
            max_gross_exposure=config.max_gross_exposure,
            max_borrow=config.max_borrow,
            initial_weights=np.clip(initial, -cap, cap),
        )
        t = paths.trades
        with np.errstate(divide="ignore", invalid="ignore"):
            ret = t["pnl"] / t["entry_notional"]
        trades = pd.DataFrame(
            {
                "symbol_index": t["symbol"].astype(np.int64),
                "direction": t["direction"],
                "entry_row": t["entry_row"].astype(np.int64),
                "exit_row": t["exit_row"].astype(np.int64),
                "entry_notional": t["entry_notional"],
                "pnl": t["pnl"],
                "return": ret,
                "still_open": t["still_open"],
            }
        ).sort_values(["entry_row", "symbol_index"], kind="stable")
        return _result(grid, paths, trades, config, costs, 0)

    assert signals is not None
    planned, trade_weights, skipped = plan_signals(grid, signals, config)
    paths, trades = simulate_trades(
        planned,
        trade_weights,
        grid.open,
        grid.high,
        grid.low,
        grid.close,
        volume=grid.volume,
        half_spread=grid.half_spread,
        costs=costs,
        initial_capital=config.initial_capital,
        max_gross_exposure=config.max_gross_exposure,
        max_position_weight=config.max_position_weight,
        max_borrow=config.max_borrow,
    )
    if len(trades):
        trades["signal_ts"] = pd.DatetimeIndex(
            pd.to_datetime(signals["ts"].reset_index(drop=True), utc=True)
        )[trades["signal_index"].to_numpy()]
        trades["confidence"] = optional_column(signals.reset_index(drop=True), "confidence", 1.0)[
            trades["signal_index"].to_numpy()
        ]
    return _result(grid, paths, trades, config, costs, skipped)
