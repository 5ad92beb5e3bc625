"""Streaming state of the engine: one new bar per symbol in, its latest feature rows out.

:class:`signal_pipeline.features.OnlineFeatureEngine` keeps the per-symbol indicator
buffers (its rows equal the batch rows to ~1e-12); :class:`FeatureStreams` adds what the
ensemble needs on top: each symbol's last ``context_rows`` feature rows (the LSTM's
sequence), the bar count (for the history requirement) and the close, ATR and spread of
the newest bar. One lock guards all of it: bars are ingested one at a time per engine.
"""

from __future__ import annotations

import threading
from collections import deque
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np
import pandas as pd

from signal_pipeline.features.spec import FeatureSpec
from signal_pipeline.features.timeframes import BarStreamError
from signal_pipeline.inference.errors import IncompleteFeaturesError, InvalidBarsError
from signal_pipeline.inference.filters import relative_spread
from signal_pipeline.inference.validation import (
    MAX_CHAIN_ROWS,
    check_chain,
    check_stream_bar,
    check_symbol,
    quote_frame,
    validate_request_bars,
)


@dataclass
class _SymbolRows:
    rows: deque[np.ndarray]
    stamps: deque[pd.Timestamp]
    count: int = 0


@dataclass(frozen=True)
class StreamedRows:
    """A symbol's state after one bar: its latest feature rows (time order, the model's
    columns), their stamps, bars seen so far and the newest bar's close/ATR/spread."""

    symbol: str
    rows: np.ndarray
    stamps: pd.DatetimeIndex
    count: int
    extra: dict[str, Any] = field(default_factory=dict)


class FeatureStreams:
    """Per-symbol streaming feature state (see the module docstring)."""

    def __init__(
        self,
        spec: FeatureSpec,
        feature_names: Sequence[str],
        context_rows: int,
        atr_feature: str,
    ) -> None:
        self.spec = spec
        self.feature_names = list(feature_names)
        self.context_rows = int(context_rows)
        self.atr_feature = atr_feature
        self._online: Any = None  # built on first use: batch-only engines never pay for it
        self._symbols: dict[str, _SymbolRows] = {}
        self._lock = threading.Lock()

    def _engine(self) -> Any:
        if self._online is None:
            from signal_pipeline.features.online import OnlineFeatureEngine

            self._online = OnlineFeatureEngine(self.spec)
        return self._online

    def _state(self, symbol: str) -> _SymbolRows:
        state = self._symbols.get(symbol)
        if state is None:
            n = self.context_rows
            state = self._symbols[symbol] = _SymbolRows(deque(maxlen=n), deque(maxlen=n))
        return state

    def warm_start(
        self,
        bars: pd.DataFrame,
        quotes: pd.DataFrame | None = None,
        option_chains: pd.DataFrame | None = None,
    ) -> None:
        """Load history of any symbols: all but the last ``context_rows`` bars through the
        online engine's warm start, those last bars one by one (their rows are the
        context the next answer needs)."""
        for symbol, part in bars.groupby("symbol", sort=False):
            symbol = check_symbol(str(symbol))
            part = validate_request_bars(symbol, part.reset_index(drop=True), min_bars=1)
            head, tail = part.iloc[: -self.context_rows], part.iloc[-self.context_rows :]
            sym_quotes = None if quotes is None else quotes[quotes["symbol"] == symbol]
            if len(head):
                chains = None
                if option_chains is not None:
                    chains = option_chains[option_chains["symbol"] == symbol]
                with self._lock:
                    try:
                        self._engine().warm_start(head, quotes=sym_quotes, option_chains=chains)
                    except BarStreamError as exc:
                        raise InvalidBarsError("bars", exc.rule, str(exc)) from exc
                    self._state(symbol).count += len(head)
            by_ts = {}
            if sym_quotes is not None:
                by_ts = {pd.Timestamp(q["ts"]): q for q in sym_quotes.to_dict("records")}
            for bar in tail.to_dict("records"):
                quote = by_ts.get(pd.Timestamp(bar["ts"]))
                self.push(bar, None, quote)

    def push(
        self,
        bar: Mapping[str, Any] | pd.Series,
        chain: pd.DataFrame | None,
        quote: Mapping[str, Any] | pd.Series | None,
    ) -> StreamedRows:
        """Ingest one bar (validated here) and return the symbol's updated rows."""
        symbol, ts = check_stream_bar(bar)
        quotes = quote_frame(symbol, quote, ts)
        chains = check_chain(symbol, chain, max_rows=MAX_CHAIN_ROWS)
        quote_in = None if quotes is None else quotes.iloc[0]
        bid_ask = pd.DataFrame([dict(bar)]) if {"bid", "ask"} <= set(bar.keys()) else None
        with self._lock:
            try:
                row = self._engine().update(bar, chain=chains, quote=quote_in)
            except BarStreamError as exc:
                raise InvalidBarsError("bar", exc.rule, str(exc)) from exc
            state = self._state(symbol)
            state.count += 1
            missing = [name for name in self.feature_names if name not in row.index]
            if missing:
                raise IncompleteFeaturesError(
                    "features",
                    "model_features",
                    f"the stream does not produce features {missing[:8]} the model was "
                    "trained on: send the quote/option chain with each bar.",
                )
            state.rows.append(row.reindex(self.feature_names).to_numpy(dtype=np.float64))
            state.stamps.append(ts)
            rows, stamps, count = np.vstack(state.rows), pd.DatetimeIndex(state.stamps), state.count
        extra = {
            "close": float(bar["close"]),
            "natr": float(row[self.atr_feature]),
            "spread": relative_spread(quotes, bid_ask if bid_ask is not None else pd.DataFrame()),
        }
        return StreamedRows(symbol, rows, stamps, count, extra)
