"""Outcome tracking: what a signal actually earned once its horizon has passed.

Conventions (bars follow the bar contract: ``ts`` is the bar's close moment, UTC):

- **entry** = close of the last bar with ``ts <= created_at`` (the price known when the
  signal was made); **exit** = close of the last bar with ``ts <= expires_at``.
- ``raw_return = exit / entry - 1``; ``direction_return = d * raw_return`` with d = +1
  for BUY, -1 for SELL, 0 for HOLD. ``hit`` = ``direction_return > 0`` (None for HOLD).
- **first hit**: scanning bars with ``created_at < ts <= expires_at`` in order, a BUY's
  target is hit when ``high >= target_price`` and its stop when ``low <= stop_loss``
  (mirrored for a SELL). When both fall in the same bar the order inside it is unknown
  and the stop is assumed first (the conservative reading).
- ``max_favorable`` / ``max_adverse``: best and worst direction-signed excursion of
  high/low against the entry over the horizon.
- A signal is evaluated only when the bars reach ``expires_at`` (the horizon is over
  and seen) and an entry price exists; otherwise it stays pending.

The signal's ``performance`` column receives ``direction_return`` in percent.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import asdict, dataclass
from datetime import UTC, datetime, timedelta
from typing import Literal

import numpy as np
import pandas as pd

from signal_pipeline.signals.db import in_list
from signal_pipeline.signals.model import Signal, SignalType, to_utc
from signal_pipeline.signals.store import SELECT_COLUMNS, SignalStore

FirstHit = Literal["TARGET", "STOP", "NONE"]
_PERFORMANCE_LIMIT = 999.99  # DECIMAL(5,2)


class BarsContractError(ValueError):
    """The bars given to the tracker miss columns of the bar contract."""


@dataclass(frozen=True)
class Outcome:
    """Realised performance of one signal (a row of ``signal_outcomes``)."""

    signal_id: int
    evaluated_at: datetime
    entry_ts: datetime
    entry_price: float
    exit_ts: datetime
    exit_price: float
    raw_return: float
    direction_return: float
    hit: bool | None
    first_hit: FirstHit
    first_hit_at: datetime | None
    max_favorable: float
    max_adverse: float
    n_bars: int

    @property
    def performance_pct(self) -> float:
        """``direction_return`` in percent, clipped to the DECIMAL(5,2) column's range."""
        return float(
            np.clip(
                round(self.direction_return * 100.0, 2), -_PERFORMANCE_LIMIT, _PERFORMANCE_LIMIT
            )
        )


def _symbol_bars(bars: pd.DataFrame, symbol: str) -> pd.DataFrame:
    missing = {"symbol", "ts", "high", "low", "close"} - set(bars.columns)
    if missing:
        raise BarsContractError(
            f"bars lack columns {sorted(missing)}; the tracker needs symbol, ts, high, low, close"
        )
    out = bars[bars["symbol"] == symbol]
    if not out["ts"].is_monotonic_increasing:
        out = out.sort_values("ts")
    return out


def compute_outcome(
    signal: Signal, bars: pd.DataFrame, *, evaluated_at: datetime | None = None
) -> Outcome | None:
    """The outcome of ``signal`` from ``bars``, or None while it cannot be evaluated yet."""
    if signal.id is None:
        raise ValueError("compute_outcome needs a stored signal (signal.id is None)")
    sb = _symbol_bars(bars, signal.symbol)
    if sb.empty:
        return None
    ts = pd.DatetimeIndex(sb["ts"]).tz_convert(UTC)
    created = pd.Timestamp(signal.created_at)
    expires = pd.Timestamp(signal.expires_at)
    if ts[-1] < expires:
        return None  # the horizon is not fully covered by the bars yet
    entry_pos = int(ts.searchsorted(created, side="right")) - 1
    if entry_pos < 0:
        return None  # no price known at creation: nothing to measure against
    end_pos = int(ts.searchsorted(expires, side="right"))  # bars with ts <= expires
    close = sb["close"].to_numpy(float)
    high = sb["high"].to_numpy(float)[entry_pos + 1 : end_pos]
    low = sb["low"].to_numpy(float)[entry_pos + 1 : end_pos]
    entry_price = float(close[entry_pos])
    exit_pos = end_pos - 1
    exit_price = float(close[exit_pos])
    direction = SignalType(signal.signal_type).direction
    raw = exit_price / entry_price - 1.0
    first_hit, first_hit_at = _first_hit(signal, high, low, ts[entry_pos + 1 : end_pos])
    if direction == 0 or len(high) == 0:
        favorable = adverse = 0.0
    elif direction > 0:
        favorable, adverse = high.max() / entry_price - 1.0, low.min() / entry_price - 1.0
    else:
        favorable, adverse = 1.0 - low.min() / entry_price, 1.0 - high.max() / entry_price
    return Outcome(
        signal_id=signal.id,
        evaluated_at=to_utc(evaluated_at or datetime.now(UTC), "evaluated_at"),
        entry_ts=ts[entry_pos].to_pydatetime(),
        entry_price=entry_price,
        exit_ts=ts[exit_pos].to_pydatetime(),
        exit_price=exit_price,
        raw_return=raw,
        direction_return=direction * raw,
        hit=None if direction == 0 else bool(direction * raw > 0),
        first_hit=first_hit,
        first_hit_at=first_hit_at,
        max_favorable=float(favorable),
        max_adverse=float(adverse),
        n_bars=len(high),
    )


def _first_hit(
    signal: Signal, high: np.ndarray, low: np.ndarray, ts: pd.DatetimeIndex
) -> tuple[FirstHit, datetime | None]:
    target, stop = signal.target_price, signal.stop_loss
    kind = SignalType(signal.signal_type)
    if kind is SignalType.HOLD or len(high) == 0 or (target is None and stop is None):
        return "NONE", None
    none = np.zeros(len(high), dtype=bool)
    if kind is SignalType.BUY:
        hit_target = high >= target if target is not None else none
        hit_stop = low <= stop if stop is not None else none
    else:
        hit_target = low <= target if target is not None else none
        hit_stop = high >= stop if stop is not None else none
    either = np.flatnonzero(hit_target | hit_stop)
    if either.size == 0:
        return "NONE", None
    first = int(either[0])
    # Both in one bar: the path inside it is unknown, so assume the stop came first.
    label: FirstHit = "STOP" if hit_stop[first] else "TARGET"
    return label, ts[first].to_pydatetime()


def pending_signals(store: SignalStore, now: datetime | None = None) -> list[Signal]:
    """Stored signals (live or archived) whose horizon ended by ``now`` and have no outcome."""
    rows = store.fetch(
        f"SELECT {SELECT_COLUMNS} FROM all_signals s WHERE s.expires_at <= :now AND NOT EXISTS "
        "(SELECT 1 FROM signal_outcomes o WHERE o.signal_id = s.id) ORDER BY s.id",
        {"now": to_utc(now or datetime.now(UTC), "now")},
    )
    return [store.to_signal(r) for r in rows]


@dataclass(frozen=True)
class BarsWindow:
    """The bars needed to settle some signals: these symbols, ``start <= ts <= end``."""

    symbols: list[str]
    start: datetime
    end: datetime


def bars_window(
    signals: Sequence[Signal], *, slack: timedelta = timedelta(days=4)
) -> BarsWindow | None:
    """Symbols and time range of bars that settle ``signals`` (None when there are none).

    ``slack`` widens both ends so the entry bar before a weekend and the first bar after
    an overnight expiry are included.
    """
    if not signals:
        return None
    return BarsWindow(
        symbols=sorted({s.symbol for s in signals}),
        start=min(s.created_at for s in signals) - slack,
        end=max(s.expires_at for s in signals if s.expires_at is not None) + slack,
    )


def record_outcomes(store: SignalStore, outcomes: Sequence[Outcome]) -> int:
    """Store outcomes (idempotent per signal) and set each signal's ``performance``."""
    if not outcomes:
        return 0
    columns = list(asdict(outcomes[0]))
    written = 0
    with store.transaction() as tx:
        for outcome in outcomes:
            values = asdict(outcome)
            written += len(
                tx.execute(
                    f"INSERT INTO signal_outcomes ({', '.join(columns)}) VALUES "
                    f"({', '.join(':' + c for c in columns)}) "
                    "ON CONFLICT (signal_id) DO NOTHING RETURNING signal_id",
                    values,
                )
            )
            for table in ("trading_signals", "signals_archive"):
                tx.execute(
                    f"UPDATE {table} SET performance = :performance WHERE id = :id",
                    {"performance": outcome.performance_pct, "id": outcome.signal_id},
                )
    return written


def track_outcomes(
    store: SignalStore, bars: pd.DataFrame, *, now: datetime | None = None
) -> list[Outcome]:
    """Evaluate every pending signal the bars can settle; store and return the outcomes."""
    now = to_utc(now or datetime.now(UTC), "now")
    outcomes = [
        outcome
        for signal in pending_signals(store, now)
        if (outcome := compute_outcome(signal, bars, evaluated_at=now)) is not None
    ]
    record_outcomes(store, outcomes)
    return outcomes


def outcomes_frame(store: SignalStore, signal_ids: Sequence[int] | None = None) -> pd.DataFrame:
    """Stored outcomes as a DataFrame (all, or those of ``signal_ids``)."""
    where, params = "", {}
    if signal_ids is not None:
        if not signal_ids:
            return pd.DataFrame()
        placeholders, params = in_list("i", list(signal_ids))
        where = f"WHERE signal_id IN {placeholders}"
    rows = store.fetch(f"SELECT * FROM signal_outcomes {where} ORDER BY signal_id", params)
    return pd.DataFrame(rows)
