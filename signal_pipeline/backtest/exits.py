"""Trade lifecycles of signals: entry at the next open, exit at stop, target, expiry or reversal.

Conventions (all conservative, all path-dependent only within one symbol):

* **Entry**: a signal stamped ``ts`` enters at the OPEN of the first bar whose close stamp
  is strictly after ``ts`` and whose open exists, i.e. a signal computed at the close of
  bar t fills at the open of bar t+1, never at the price that produced it.
* **Stop / target** are checked against the high/low of every bar from the entry bar on
  (the entry bar's range after its open is reachable). A level inside a bar fills AT the
  level; a bar that OPENS beyond a level (a gap) fills at its open. If a bar touches
  both levels and did not open beyond either, the stop is assumed first (the order of
  prices inside a bar is unknown; assuming the loss is the conservative choice). A
  missing bar (NaN) triggers nothing.
* **Expiry**: the last bar stamped at or before ``expires_at`` (or the entry bar +
  ``holding_bars - 1``) exits at its CLOSE; if that bar is missing, at the last close
  before it in the window.
* **Reversal**: an opposite signal while a trade is open closes it at the opposite
  signal's entry open and opens the new trade there. A same-direction signal while a
  trade is open is ignored (no pyramiding).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

STOP, TARGET, EXPIRY, REVERSAL, GAP_STOP, GAP_TARGET = (
    "stop",
    "target",
    "expiry",
    "reversal",
    "stop_gap",
    "target_gap",
)


@dataclass(frozen=True)
class Exit:
    row: int
    price: float
    reason: str
    at_open: bool


def first_exit(
    direction: float,
    stop: float,
    target: float,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
    start: int,
    stop_row: int,
) -> Exit:
    """First exit of one trade over rows ``start..stop_row`` (inclusive) of one symbol."""
    window = slice(start, stop_row + 1)
    op, hi, lo = open_[window], high[window], low[window]
    with np.errstate(invalid="ignore"):
        if direction > 0:
            stop_hit = lo <= stop
            target_hit = hi >= target
            gap_target = op >= target
            gap_stop = op <= stop
        else:
            stop_hit = hi >= stop
            target_hit = lo <= target
            gap_target = op <= target
            gap_stop = op >= stop
    hit = stop_hit | target_hit
    if hit.any():
        k = int(np.argmax(hit))
        row = start + k
        # The open is the bar's first price: a gap beyond a level is resolved before the
        # ambiguous intrabar case, which goes to the stop.
        if gap_target[k]:
            return Exit(row, float(op[k]), GAP_TARGET, True)
        if gap_stop[k]:
            return Exit(row, float(op[k]), GAP_STOP, True)
        if stop_hit[k]:
            return Exit(row, float(stop), STOP, False)
        return Exit(row, float(target), TARGET, False)
    closes = close[window]
    finite = np.flatnonzero(np.isfinite(closes))
    k = int(finite[-1]) if finite.size else 0
    return Exit(start + k, float(closes[k]), EXPIRY, False)


@dataclass(frozen=True)
class PlannedTrade:
    """One trade of the lifecycle pass, before sizing."""

    signal_index: int
    symbol: int
    direction: float
    entry_row: int
    entry_price: float
    stop: float
    target: float
    exit: Exit


def plan_symbol_trades(
    signal_index: np.ndarray,
    entry_row: np.ndarray,
    last_row: np.ndarray,
    direction: np.ndarray,
    stop: np.ndarray,
    target: np.ndarray,
    stop_distance: np.ndarray,
    target_distance: np.ndarray,
    symbol: int,
    open_: np.ndarray,
    high: np.ndarray,
    low: np.ndarray,
    close: np.ndarray,
) -> list[PlannedTrade]:
    """Lifecycles of one symbol's signals, in entry order (see module docstring).

    ``stop``/``target`` are absolute levels (NaN when the signal gave none); where NaN,
    ``stop_distance``/``target_distance`` (price units, NaN = no level) set the level
    around the entry open.
    """
    n_bars = open_.shape[0]
    planned: list[PlannedTrade] = []
    for i in np.argsort(entry_row, kind="stable"):
        row = int(entry_row[i])
        end = int(min(last_row[i], n_bars - 1))
        # First bar with an open at or after the nominal entry bar.
        while row <= end and not np.isfinite(open_[row]):
            row += 1
        if row > end:
            continue  # expired before any bar could fill it
        if planned:
            current = planned[-1]
            # Still open at this open? (An exit AT this open happens first and frees it.)
            if row <= current.exit.row and not (row == current.exit.row and current.exit.at_open):
                if direction[i] == current.direction:
                    continue  # no pyramiding
                reversed_exit = Exit(row, float(open_[row]), REVERSAL, True)
                planned[-1] = PlannedTrade(
                    current.signal_index,
                    symbol,
                    current.direction,
                    current.entry_row,
                    current.entry_price,
                    current.stop,
                    current.target,
                    reversed_exit,
                )
        entry_price = float(open_[row])
        d = float(direction[i])
        stop_level = stop[i] if np.isfinite(stop[i]) else entry_price - d * stop_distance[i]
        target_level = target[i] if np.isfinite(target[i]) else entry_price + d * target_distance[i]
        exit_ = first_exit(d, stop_level, target_level, open_, high, low, close, row, end)
        planned.append(
            PlannedTrade(
                int(signal_index[i]),
                symbol,
                d,
                row,
                entry_price,
                float(stop_level),
                float(target_level),
                exit_,
            )
        )
    return planned
