"""Portfolio simulation of planned trades: sizing at entry, limits, costs, marking.

Each bar with an entry or exit is processed in the order its prices happen:

1. exits at this bar's OPEN (reversals, gaps through a level) free their capital;
2. entries at the open, sized on the equity at the previous close:
   ``shares = direction * min(|weight|, max_position_weight) * equity / open``, then
   scaled down together so gross exposure stays within ``max_gross_exposure * equity``
   and buys so cash stays above ``-max_borrow * equity`` (before costs, which may take it
   slightly lower); an entry scaled to nothing keeps its row in the trades frame with
   ``executed = False``;
3. exits inside the bar (stop, target) and at its close (expiry).

Every fill goes through the cost model. Between these bars holdings are fixed, so the
equity of a block of bars is one matrix-vector product.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from signal_pipeline.backtest.costs import CostModel
from signal_pipeline.backtest.exits import PlannedTrade
from signal_pipeline.backtest.positions import SimulationPaths, forward_filled


def simulate_trades(
    planned: list[PlannedTrade],
    weights: np.ndarray,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    *,
    volume: np.ndarray | None = None,
    half_spread: np.ndarray | None = None,
    costs: CostModel,
    initial_capital: float,
    max_gross_exposure: float,
    max_position_weight: float,
    max_borrow: float,
) -> tuple[SimulationPaths, pd.DataFrame]:
    """Simulate ``planned`` trades with requested ``weights`` (one per trade, |w| used)."""
    n_bars, n_symbols = close.shape
    mark = forward_filled(close)
    n = len(planned)
    sym = np.array([t.symbol for t in planned], dtype=np.int64)
    direction = np.array([t.direction for t in planned])
    entry_row = np.array([t.entry_row for t in planned], dtype=np.int64)
    exit_row = np.array([t.exit.row for t in planned], dtype=np.int64)
    exit_open = np.array([t.exit.at_open for t in planned], dtype=bool)
    entry_ref = np.array([t.entry_price for t in planned])
    exit_ref = np.array([t.exit.price for t in planned])
    shares = np.zeros(n)
    entry_fill = np.full(n, np.nan)
    exit_fill = np.full(n, np.nan)
    commission = np.zeros(n)
    entered = np.zeros(n, dtype=bool)

    equity = np.empty(n_bars)
    cash_path = np.empty(n_bars)
    gross = np.empty(n_bars)
    net = np.empty(n_bars)
    traded = np.zeros(n_bars)
    cost_path = np.zeros(n_bars)
    holdings = np.zeros(n_symbols)
    cash = float(initial_capital)
    last = 0

    def mark_block(stop: int) -> None:
        if stop <= last:
            return
        values = mark[last:stop] @ np.column_stack((holdings, np.abs(holdings)))
        equity[last:stop] = cash + values[:, 0]
        cash_path[last:stop] = cash
        net[last:stop] = values[:, 0]
        gross[last:stop] = values[:, 1]

    def fill(
        idx: np.ndarray, qty: np.ndarray, ref: np.ndarray, row: int
    ) -> tuple[np.ndarray, np.ndarray]:
        cols = sym[idx]
        impact = costs.price_impact(
            qty,
            half_spread=None if half_spread is None else half_spread[max(row - 1, 0), cols],
            bar_range=(high[row, cols] - low[row, cols]) / open_[row, cols],
            volume=None if volume is None else volume[row, cols],
        )
        prices = costs.fill_prices(ref, qty, impact)
        comm = costs.commissions(qty, prices)
        cost_path[row] += float(comm.sum() + np.abs(qty) @ (ref * impact))
        traded[row] += float(np.abs(qty) @ prices)
        return prices, comm

    def close_trades(idx: np.ndarray, row: int) -> None:
        nonlocal cash
        idx = idx[entered[idx] & (shares[idx] != 0)]
        if idx.size == 0:
            return
        qty = -shares[idx]
        prices, comm = fill(idx, qty, exit_ref[idx], row)
        exit_fill[idx] = prices
        commission[idx] += comm
        cash -= float(qty @ prices + comm.sum())
        holdings[sym[idx]] = 0.0

    event_rows = np.unique(np.concatenate([entry_row, exit_row]))
    by_entry = pd.Series(np.arange(n)).groupby(entry_row).indices if n else {}
    by_exit = pd.Series(np.arange(n)).groupby(exit_row).indices if n else {}
    for row in event_rows.tolist():
        mark_block(row)
        last = row
        equity_before = equity[row - 1] if row > 0 else cash
        exits = np.asarray(by_exit.get(row, []), dtype=np.int64)
        close_trades(exits[exit_open[exits] & (entry_row[exits] < row)], row)
        entries = np.asarray(by_entry.get(row, []), dtype=np.int64)
        if entries.size:
            price = entry_ref[entries]
            weight = np.minimum(np.abs(weights[entries]), max_position_weight)
            qty = direction[entries] * weight * equity_before / price
            prev_mark = mark[row - 1] if row > 0 else np.zeros(n_symbols)
            room = max(
                0.0, max_gross_exposure * equity_before - float(np.abs(holdings) @ prev_mark)
            )
            wanted = float(np.abs(qty) @ price)
            if wanted > room:
                qty = qty * (room / wanted)
            buys = qty > 0
            buy_cost = float(qty[buys] @ price[buys])
            available = cash + float(-qty[~buys] @ price[~buys]) + max_borrow * equity_before
            if buy_cost > available:
                qty = np.where(buys, qty * max(0.0, available) / buy_cost, qty)
            ok = np.abs(qty * price) > 1e-9 * max(equity_before, 1.0)
            entries, qty = entries[ok], qty[ok]
            if entries.size:
                prices, comm = fill(entries, qty, entry_ref[entries], row)
                shares[entries] = qty
                entry_fill[entries] = prices
                commission[entries] += comm
                entered[entries] = True
                holdings[sym[entries]] += qty
                cash -= float(qty @ prices + comm.sum())
        remaining = exits[~(exit_open[exits] & (entry_row[exits] < row))]
        close_trades(remaining, row)
    mark_block(n_bars)

    pnl = shares * (exit_fill - entry_fill) - commission
    with np.errstate(divide="ignore", invalid="ignore"):
        trade_return = pnl / np.abs(shares * entry_fill)
    frame = pd.DataFrame(
        {
            "signal_index": np.array([t.signal_index for t in planned], dtype=np.int64),
            "symbol_index": sym,
            "direction": direction,
            "entry_row": entry_row,
            "exit_row": exit_row,
            "entry_price": entry_ref,
            "entry_fill": entry_fill,
            "exit_price": exit_ref,
            "exit_fill": exit_fill,
            "exit_reason": [t.exit.reason for t in planned],
            "stop": [t.stop for t in planned],
            "target": [t.target for t in planned],
            "weight": np.abs(weights) if n else np.empty(0),
            "shares": shares,
            "commission": commission,
            "pnl": pnl,
            "return": trade_return,
            "executed": entered,
        }
    )
    paths = SimulationPaths(
        equity=equity,
        cash=cash_path,
        gross_exposure=gross,
        net_exposure=net,
        traded_notional=traded,
        costs=cost_path,
        trades={},
        final_shares=holdings.copy(),
    )
    return paths, frame
