"""Array API of the target-weight simulation: (time x symbol) numpy arrays in, paths out.

``weights[t, j]`` is the target fraction of equity in symbol ``j`` decided at the CLOSE of
bar ``t``. It executes at the OPEN of bar ``t + 1`` (never at the price that produced it),
sized on the equity at the close of bar ``t``: ``shares = w * equity[t] / open[t + 1]``.
Holdings then stay fixed in shares until the target of that symbol changes: there is no
drift rebalancing, so an unchanged target costs nothing. A target on the last bar cannot
execute and is ignored. ``initial_weights`` (decided before the first bar) execute at the
first bar's open, sized on the initial capital.

Limits: when a rebalance would take gross exposure (market value of all holdings over
equity) past ``max_gross_exposure``, the new targets of the symbols that change are scaled
down together until it fits; holdings of the other symbols are not touched (rescaling
every position whenever one target moves would churn the whole book and pay costs for
nothing). A symbol scaled down this way stays below its target until its target changes.
Buys of one rebalance are then scaled down so cash stays above ``-max_borrow * equity``
(short-sale proceeds count as cash, as in a margin account).

Missing bars (NaN open) are explicit: a symbol without an open at ``t + 1`` does not trade
there; its order stays pending and executes at its next available open. Marking uses the
last known close (leading gaps mark at 0, where no position can exist yet).

Speed: the loop runs over rebalance rows only, and each step is vectorised over the
symbols that change; between rebalances the equity of a whole block of bars is one
matrix-vector product. Round trips (flat -> position -> flat, or a sign flip) are
recorded as trades for the trade statistics.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from signal_pipeline.backtest.costs import CostModel
from signal_pipeline.backtest.errors import BacktestConfigError, BacktestInputError


@dataclass
class SimulationPaths:
    """Per-bar paths and trade records of one simulation (arrays indexed by bar row)."""

    equity: np.ndarray
    cash: np.ndarray
    gross_exposure: np.ndarray
    net_exposure: np.ndarray
    traded_notional: np.ndarray
    costs: np.ndarray
    trades: dict[str, np.ndarray]
    final_shares: np.ndarray


def forward_filled(prices: np.ndarray) -> np.ndarray:
    """Last finite value at or before each row, column-wise; 0 before the first one."""
    finite = np.isfinite(prices)
    if finite.all():
        return prices
    rows = np.where(finite, np.arange(prices.shape[0])[:, None], -1)
    np.maximum.accumulate(rows, axis=0, out=rows)
    filled = np.take_along_axis(prices, np.maximum(rows, 0), axis=0)
    return np.where(rows >= 0, filled, 0.0)


def _check_arrays(name_to_array: dict[str, np.ndarray | None], shape: tuple[int, int]) -> None:
    for name, array in name_to_array.items():
        if array is not None and array.shape != shape:
            raise BacktestInputError(
                f"{name} has shape {array.shape} but close has {shape}: every array must be "
                "(bars, symbols) on the same grid; pivot all inputs with the same index/columns"
            )


def round_trips(
    fills: dict[str, np.ndarray], last_row: int, final_shares: np.ndarray, last_mark: np.ndarray
) -> dict[str, np.ndarray]:
    """Round trips (flat -> position -> flat, or a sign flip) from the fill log.

    ``fills`` has one row per fill: ``row, col, old, new`` (shares before/after),
    ``price`` (fill price) and ``commission``. A fill that flips the sign is split into a
    closing leg (charged the whole commission) and an opening leg. A trade still open at
    the end is marked at the last close without exit costs and flagged ``still_open``.
    """
    order = np.lexsort((fills["row"], fills["col"]))
    row, col = fills["row"][order], fills["col"][order]
    old, new = fills["old"][order], fills["new"][order]
    price, commission = fills["price"][order], fills["commission"][order]
    had = old != 0
    closes = had & ((new == 0) | (np.sign(new) != np.sign(old)))
    opening_qty = np.where(had, np.where(closes, new, 0.0), new)
    opens = opening_qty != 0
    existing_qty = np.where(closes, -old, np.where(had, new - old, 0.0))
    # Trade ids: each opening leg starts the next trade; fills are grouped by symbol, so the
    # trade an existing-position leg belongs to is the last one opened before it.
    opened_so_far = np.cumsum(opens)
    id_open = opened_so_far - 1
    id_existing = opened_so_far - opens - 1
    n_trades = int(opened_so_far[-1]) if opened_so_far.size else 0
    flow_existing = np.where(had, -existing_qty * price - commission, 0.0)
    flow_open = np.where(opens, -opening_qty * price - np.where(had, 0.0, commission), 0.0)
    pnl = np.zeros(n_trades)
    pnl += np.bincount(id_existing[had], flow_existing[had], minlength=n_trades)
    pnl += np.bincount(id_open[opens], flow_open[opens], minlength=n_trades)
    symbol = col[opens]
    entry_row = row[opens]
    exit_row = np.full(n_trades, last_row, dtype=np.int64)
    exit_row[id_existing[closes]] = row[closes]
    still_open = np.ones(n_trades, dtype=bool)
    still_open[id_existing[closes]] = False
    pnl[still_open] += final_shares[symbol[still_open]] * last_mark[symbol[still_open]]
    return {
        "symbol": symbol,
        "entry_row": entry_row,
        "exit_row": exit_row,
        "direction": np.sign(opening_qty[opens]),
        "pnl": pnl,
        "entry_notional": np.abs(opening_qty[opens] * price[opens]),
        "still_open": still_open,
    }


def simulate_positions(
    open_: np.ndarray,
    close: np.ndarray,
    weights: np.ndarray,
    *,
    high: np.ndarray | None = None,
    low: np.ndarray | None = None,
    volume: np.ndarray | None = None,
    half_spread: np.ndarray | None = None,
    costs: CostModel | None = None,
    initial_capital: float = 1_000_000.0,
    max_gross_exposure: float = 1.0,
    max_borrow: float = 0.0,
    initial_weights: np.ndarray | None = None,
) -> SimulationPaths:
    """Simulate target weights on (bars x symbols) float64 arrays; see the module docstring.

    ``high``/``low`` feed the volatility slippage term, ``volume`` the participation term,
    ``half_spread`` (fraction of price, decided-bar quotes) the spread term; all optional.
    NaN weights mean 0 (flat).
    """
    costs = costs or CostModel()
    if close.ndim != 2:
        raise BacktestInputError(f"close must be 2-D (bars, symbols), got shape {close.shape}")
    shape = close.shape
    _check_arrays(
        {
            "open": open_,
            "weights": weights,
            "high": high,
            "low": low,
            "volume": volume,
            "half_spread": half_spread,
        },
        shape,
    )
    if initial_capital <= 0 or max_gross_exposure <= 0 or max_borrow < 0:
        raise BacktestConfigError(
            f"initial_capital={initial_capital}, max_gross_exposure={max_gross_exposure}, "
            f"max_borrow={max_borrow}: capital and gross limit must be > 0, borrow >= 0"
        )
    n_bars, n_symbols = shape
    if np.isnan(weights).any():  # copy only when needed: the weights can be gigabytes
        weights = np.nan_to_num(weights, nan=0.0)
    mark = forward_filled(close)

    changed = np.empty(n_bars, dtype=bool)
    start = np.zeros(n_symbols) if initial_weights is None else np.nan_to_num(initial_weights)
    if start.shape != (n_symbols,):
        raise BacktestInputError(
            f"initial_weights has shape {start.shape}; expected ({n_symbols},), one per symbol"
        )
    changed[0] = bool(np.any(weights[0] != start))
    changed[1:] = np.any(weights[1:] != weights[:-1], axis=1)
    exec_rows = np.flatnonzero(changed[:-1]) + 1
    if start.any():
        exec_rows = np.concatenate([[0], exec_rows])

    equity = np.empty(n_bars)
    cash_path = np.empty(n_bars)
    gross = np.empty(n_bars)
    net = np.empty(n_bars)
    traded = np.zeros(n_bars)
    cost_path = np.zeros(n_bars)
    # Column 0: shares held, column 1: their absolute value; one matmul marks both.
    held = np.zeros((n_symbols, 2))
    shares = held[:, 0]
    executed_w = np.zeros(n_symbols)
    cash = float(initial_capital)
    log: dict[str, list[np.ndarray]] = {k: [] for k in ("col", "old", "new", "price", "commission")}
    log_rows: list[int] = []
    log_sizes: list[int] = []
    last = 0  # rows [last, row) are marked with the current holdings

    def mark_block(stop: int) -> None:
        if stop <= last:
            return
        values = mark[last:stop] @ held
        equity[last:stop] = cash + values[:, 0]
        cash_path[last:stop] = cash
        net[last:stop] = values[:, 0]
        gross[last:stop] = values[:, 1]

    queue = iter(exec_rows.tolist())
    next_row = next(queue, None)
    pending = False
    while next_row is not None or pending:
        row = last + 1 if pending and (next_row is None or last + 1 < next_row) else next_row
        if row is None or row >= n_bars:
            break
        if row == next_row:
            next_row = next(queue, None)
        decided = row - 1
        mark_block(row)
        if decided < 0:  # initial weights: nothing held yet, sized on the initial capital
            equity_decided, target, prev_mark = cash, start, np.zeros(n_symbols)
        else:
            equity_decided, target, prev_mark = equity[decided], weights[decided], mark[decided]
        cols = np.flatnonzero(target != executed_w)
        price = open_[row, cols]
        tradable = np.isfinite(price) & (price > 0)
        pending = not tradable.all()
        cols, price = cols[tradable], price[tradable]
        last = row
        if cols.size == 0:
            continue
        old = shares[cols]
        wanted = target[cols] * equity_decided / price
        # Gross exposure of the holdings that stay, valued at the decision bar's close, plus
        # the new targets at this open.
        gross_others = float(held[:, 1] @ prev_mark - np.abs(old) @ prev_mark[cols])
        gross_new = float(np.abs(wanted) @ price)
        room = max(0.0, max_gross_exposure * equity_decided - gross_others)
        if gross_new > room:
            wanted *= room / gross_new
        delta = wanted - old
        impact = costs.price_impact(
            delta,
            half_spread=None if half_spread is None else half_spread[max(decided, 0), cols],
            bar_range=None
            if high is None or low is None
            else (high[row, cols] - low[row, cols]) / price,
            volume=None if volume is None else volume[row, cols],
        )
        fill = costs.fill_prices(price, delta, impact)
        commission = costs.commissions(delta, fill)
        outflow = float(delta @ fill + commission.sum())
        floor = -max_borrow * equity_decided
        if cash - outflow < floor:
            buys = delta > 0
            buy_cost = float(delta[buys] @ fill[buys])
            factor = max(0.0, 1.0 - (floor - (cash - outflow)) / buy_cost) if buy_cost > 0 else 1.0
            delta = np.where(buys, delta * factor, delta)
            commission = costs.commissions(delta, fill)
            outflow = float(delta @ fill + commission.sum())
        new = old + delta
        for key, values in (
            ("col", cols),
            ("old", old),
            ("new", new),
            ("price", fill),
            ("commission", commission),
        ):
            log[key].append(values)
        log_rows.append(row)
        log_sizes.append(cols.size)
        size = np.abs(delta)
        held[cols, 0] = new
        held[cols, 1] = np.abs(new)
        executed_w[cols] = target[cols]
        cash -= outflow
        traded[row] = float(size @ fill)
        cost_path[row] = float(commission.sum() + size @ (price * impact))
    mark_block(n_bars)
    fills = {
        k: np.concatenate(v) if v else np.empty(0, dtype=np.int64 if k == "col" else float)
        for k, v in log.items()
    }
    fills["row"] = np.repeat(np.asarray(log_rows, dtype=np.int64), log_sizes)
    # Orders scaled to nothing by the limits are not fills.
    fills = {k: v[fills["old"] != fills["new"]] for k, v in fills.items()}
    trades = round_trips(fills, n_bars - 1, shares, mark[-1])
    return SimulationPaths(
        equity=equity,
        cash=cash_path,
        gross_exposure=gross,
        net_exposure=net,
        traded_notional=traded,
        costs=cost_path,
        trades=trades,
        final_shares=shares.copy(),
    )
