"""The champion's latest signal for every symbol of a bar table (``signal_snapshot``).

Each symbol is answered from its own last ``history`` bars with the engine's batch path
(the same code as the service), judged as of the symbol's last bar (a snapshot of stored
data is a replay, not a live request). A symbol the engine refuses (too little history,
invalid bars) is reported with the engine's message, never dropped silently.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import pandas as pd

from signal_pipeline.inference.engine import SignalEngine
from signal_pipeline.inference.errors import InferenceInputError
from signal_pipeline.inference.result import Inference

MINUTES_PER_SESSION = 390


@dataclass
class Snapshot:
    """Answers per symbol, and the symbols that got none with the reason."""

    answers: dict[str, Inference] = field(default_factory=dict)
    skipped: dict[str, str] = field(default_factory=dict)

    def table(self) -> pd.DataFrame:
        rows = [
            {
                "symbol": symbol,
                "signal_type": str(a.signal.signal_type),
                "confidence": a.signal.confidence,
                "p_sell": a.proba[0],
                "p_hold": a.proba[1],
                "p_buy": a.proba[2],
                "target_price": a.signal.target_price,
                "stop_loss": a.signal.stop_loss,
                "position_size": a.signal.position_size,
                "degraded": a.degraded,
                "model_version": a.signal.model_version,
                "created_at": a.signal.created_at,
            }
            for symbol, a in sorted(self.answers.items())
        ]
        return pd.DataFrame(rows)


def sessions_needed(min_bars: int, history: int | None = None) -> int:
    """Session dates to read so that each symbol has ``history`` (default ``min_bars``)
    one-minute bars: one more than the bars fill, as the latest session may be partial."""
    bars = max(history or 0, min_bars)
    return math.ceil(bars / MINUTES_PER_SESSION) + 1


def _latest(table: pd.DataFrame | None, symbol: str, last_ts: pd.Timestamp) -> pd.DataFrame | None:
    """Rows of ``symbol`` stamped at the latest ``ts`` not after ``last_ts`` (the quote or
    option chain known at the signal's bar), or None."""
    if table is None or table.empty:
        return None
    own = table[(table["symbol"] == symbol) & (table["ts"] <= last_ts)]
    if own.empty:
        return None
    return own[own["ts"] == own["ts"].max()].reset_index(drop=True)


def snapshot_signals(
    engine: SignalEngine,
    bars: pd.DataFrame,
    *,
    history: int | None = None,
    quotes: pd.DataFrame | None = None,
    option_chains: pd.DataFrame | None = None,
) -> Snapshot:
    """One answer per symbol of ``bars`` (bar contract, any symbols) from its last
    ``history`` bars (default: ``engine.min_bars``, at least 300), with the latest quote
    and option chain known at its last bar when ``quotes`` / ``option_chains`` are given
    (models with quote or option features need them)."""
    keep = max(history or 0, engine.min_bars, 300)
    out = Snapshot()
    for symbol, group in bars.groupby("symbol", sort=True):
        recent = group.sort_values("ts").tail(keep).reset_index(drop=True)
        last_ts = pd.Timestamp(recent["ts"].iat[-1])
        try:
            out.answers[str(symbol)] = engine.infer(
                str(symbol),
                recent,
                _latest(option_chains, str(symbol), last_ts),
                _latest(quotes, str(symbol), last_ts),
                now=last_ts.to_pydatetime(),
            )
        except InferenceInputError as exc:
            out.skipped[str(symbol)] = str(exc)
    return out
