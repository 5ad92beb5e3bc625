"""Real-time features: one 1-minute bar in, the symbol's full latest feature row out.

Per symbol the engine keeps one buffer of bars per timeframe, each as long as the
longest ``memory`` of that timeframe's features (see :mod:`.indicators`): computing an
indicator on its trailing ``memory`` bars gives the batch value to ~1e-14, so the
online row equals :func:`compute_features`'s row for the same bar. Higher timeframes
are aggregated bar by bar and their features recomputed only when their bar closes;
between closes the cached row is reused (the as-of join of the batch table). The
1-minute set is recomputed on every bar, each indicator on its own trailing window; the
microstructure family computes only the newest bar's row
(:func:`~.microstructure_online.microstructure_last`), each window once.
"""

from __future__ import annotations

import datetime as dt
import math
from collections import deque
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

import numpy as np
import pandas as pd

from signal_pipeline.features.indicators import compute_indicator
from signal_pipeline.features.kernels import Kernel, make_kernel
from signal_pipeline.features.kernels import available as available_kernels
from signal_pipeline.features.online_buffers import QUOTE_COLS, BarRing, Bucket
from signal_pipeline.features.pipeline import (
    OPTIONS_SUFFIX,
    _optional_module,
    check_bar_values,
    resolve_spec,
)
from signal_pipeline.features.spec import FeatureDef, FeatureSpec
from signal_pipeline.features.timeframes import (
    SESSION_MINUTES,
    SESSION_TZ,
    TIMEFRAMES,
    BarStreamError,
    bucket_close_minute,
)

_OHLCV = ("open", "high", "low", "close", "volume")
_OPTIONAL = ("vwap", "trades", "bid", "ask")
_TZ = ZoneInfo(SESSION_TZ)


def _finite(*values: float) -> bool:
    return all(map(math.isfinite, values))


@dataclass
class _Timeframe:
    name: str
    minutes: int
    ring: BarRing
    groups: list[tuple[int, list[tuple[FeatureDef, int]]]]  # (def, first slot) by memory
    tech_columns: list[str]  # in spec order, as in the batch table
    micro_window: int
    # Indicators with a streaming kernel (features.kernels): (def, first slot). Per symbol
    # their kernels are warmed once on the trailing ``memory`` bars, then stepped per bar.
    kernel_defs: list[tuple[FeatureDef, int]] = field(default_factory=list)
    kernels: list[tuple[Kernel, int]] = field(default_factory=list)
    warm: bool = False
    pending: int = 0  # bars appended since the kernels last advanced
    tech: np.ndarray = field(default_factory=lambda: np.empty(0))  # technical values
    micro_names: tuple[str, ...] = ()
    bucket: Bucket = field(default_factory=Bucket)
    columns: list[str] = field(default_factory=list)
    values: np.ndarray = field(default_factory=lambda: np.empty(0))
    dirty: bool = True
    micro_params: dict[str, Any] | None = None


class _SymbolState:
    def __init__(self, symbol: str, names: tuple[str, ...], engine: OnlineFeatureEngine) -> None:
        self.symbol = symbol
        self.names = names
        # How a higher-timeframe bar aggregates the optional columns (after OHLCV).
        self.sum_cols = [i for i, n in enumerate(names) if n == "trades"]
        self.last_cols = [i for i, n in enumerate(names) if i >= 5 and n != "trades"]
        self.vwap_col = names.index("vwap") if "vwap" in names else -1
        self.last_ts: int | None = None
        self.day = -1
        self.minute = -1
        self.tfs = [engine._make_tf(tf, len(names)) for tf in engine.spec.timeframes]
        self.quote: tuple[int, list[float]] = (-1, [np.nan] * len(QUOTE_COLS))
        self.seen_quote = False
        # One entry per option-chain snapshot: [stamp, chain, its per-snapshot option
        # features (None until computed)]; the IV rank/percentiles come from the entries'
        # ATM IVs, so a new snapshot costs one snapshot's features, not the whole history.
        self.chains: deque[list[Any]] = deque(maxlen=engine.options_history)
        self.pending_chain = False
        self.opt_columns: list[str] = []
        self.opt_values = np.empty(0)
        self.index: pd.Index | None = None
        self.index_key: tuple[int, ...] = ()


class OnlineFeatureEngine:
    """Streaming feature engine, one state per symbol.

    ``history``: bars kept per timeframe (an int for all, or a mapping tf -> bars);
    defaults to what exactness needs (the spec's longest memory per timeframe, and the
    microstructure window). A shorter history is allowed but then online values may
    differ from batch ones for recursive indicators. ``options_history``: chain
    snapshots kept (default: the options family's ``iv_lookback`` + 1). ``kernels``: use
    the compiled streaming kernels (:mod:`.kernels`) for the indicators that have one
    (default); False recomputes every indicator with TA-Lib on its trailing window.
    ``cache=False`` recomputes every block from the buffers on every bar (kernels
    re-warmed from a fresh state), which is what the cache saves.
    """

    def __init__(
        self,
        spec: FeatureSpec | Mapping[str, Any] | str | None = None,
        history: int | Mapping[str, int] | None = None,
        cache: bool = True,
        options_history: int | None = None,
        kernels: bool = True,
    ) -> None:
        self.spec = resolve_spec(spec)
        self.history = history
        self.cache = cache
        self.kernels = kernels
        self._kernel_names = set(available_kernels()) if kernels else set()
        self._micro = (
            _optional_module("microstructure") if self.spec.microstructure.enabled else None
        )
        self._micro_online = (
            _optional_module("microstructure_online") if self._micro is not None else None
        )
        self._options = _optional_module("options") if self.spec.options.enabled else None
        if options_history is None:
            # The option features look back ``iv_lookback`` snapshots (IV rank/percentiles).
            defaults = getattr(self._options, "DEFAULT_OPTIONS_PARAMS", {})
            lookback = {**defaults, **self.spec.options.params}.get("iv_lookback", 252)
            options_history = int(lookback) + 1
        self.options_history = options_history
        self._states: dict[str, _SymbolState] = {}
        self._opt_names: list[str] = []  # option feature names, from the first snapshot
        self._stats = {"updates": 0, "columns_computed": 0, "columns_reused": 0,
                       "blocks_computed": 0, "blocks_reused": 0}  # fmt: skip

    # ------------------------------------------------------------------ construction
    def _micro_window(self, tf: str) -> int:
        if self._micro is None or tf not in self.spec.microstructure.timeframes:
            return 0
        per_day = -(-SESSION_MINUTES // TIMEFRAMES[tf])
        # The session VWAP needs the bars since the open: one session more than the rolling windows.
        return (
            int(self._micro.microstructure_warmup(self.spec.microstructure.params_for(tf)))
            + per_day
            + 2
        )

    def buffer_lengths(self) -> dict[str, int]:
        """Bars kept per timeframe (what exactness needs, or the ``history`` given)."""
        out = {}
        for tf in self.spec.timeframes:
            need = max(self.spec.memory(tf), self._micro_window(tf), 1)
            if isinstance(self.history, int):
                need = self.history
            elif isinstance(self.history, Mapping) and tf in self.history:
                need = int(self.history[tf])
            out[tf] = need
        return out

    def _make_tf(self, tf: str, ncols: int) -> _Timeframe:
        keep = self.buffer_lengths()[tf]
        # Indicators sharing a window length share its slice; results go to the slot of
        # their columns so the row keeps the spec's (= the batch table's) column order.
        groups: dict[int, list[tuple[FeatureDef, int]]] = {}
        kernel_defs: list[tuple[FeatureDef, int]] = []
        columns: list[str] = []
        for d in self.spec.technical[tf]:
            if self.kernels and d.indicator in self._kernel_names:
                kernel_defs.append((d, len(columns)))
            else:
                groups.setdefault(min(d.memory, keep), []).append((d, len(columns)))
            columns.extend(d.columns)
        return _Timeframe(tf, TIMEFRAMES[tf], BarRing(ncols, keep), sorted(groups.items()),
                          columns, min(self._micro_window(tf), keep), kernel_defs,
                          tech=np.full(len(columns), np.nan))  # fmt: skip

    # ------------------------------------------------------------------- public API
    @property
    def cache_stats(self) -> dict[str, float]:
        """Counts of feature columns/blocks computed vs served from the cache."""
        s = dict(self._stats)
        total = s["columns_computed"] + s["columns_reused"]
        s["saved_share"] = s["columns_reused"] / total if total else 0.0
        return s

    def latest(self, symbol: str) -> pd.Series:
        """The latest feature row of ``symbol`` (after :meth:`warm_start` or :meth:`update`)."""
        state = self._states.get(symbol)
        if state is None or state.last_ts is None:
            raise KeyError(f"no bars seen for symbol {symbol!r}: warm_start or update it first")
        return self._row(state)

    def warm_start(
        self,
        bars: pd.DataFrame,
        quotes: pd.DataFrame | None = None,
        option_chains: pd.DataFrame | None = None,
    ) -> None:
        """Load history (bar contract, any symbols) without producing rows; the next
        :meth:`update` continues the stream. Features are computed once at the end."""
        for symbol, part in bars.groupby("symbol", sort=False):
            symbol = str(symbol)
            part = part.reset_index(drop=True)
            check_bar_values(symbol, part)
            q_ts, q_values = np.empty(0, dtype=np.int64), np.empty((0, len(QUOTE_COLS)))
            if quotes is not None:
                q = quotes[quotes["symbol"] == symbol].sort_values("ts", kind="stable")
                q_ts = pd.DatetimeIndex(q["ts"]).asi8
                q_values = q[list(QUOTE_COLS)].to_numpy(np.float64)
            chains_by_ts = {}
            if option_chains is not None:
                c = option_chains[option_chains["symbol"] == symbol]
                chains_by_ts = {pd.Timestamp(t).value: g for t, g in c.groupby("ts", sort=True)}
            extras = [c for c in _OPTIONAL if c in part.columns]
            cols = [*_OHLCV, *extras]
            values = part[cols].to_numpy(np.float64)
            stamps = pd.DatetimeIndex(part["ts"]).asi8
            state = self._state(symbol, tuple(cols))
            j = 0
            for i in range(len(part)):
                ts = int(stamps[i])
                while j < len(q_ts) and q_ts[j] <= ts:  # the latest quote known at the close
                    self._add_quote(state, int(q_ts[j]), tuple(q_values[j].tolist()))
                    j += 1
                self._ingest(state, ts, values[i].tolist())
            for ts_chain, chain in chains_by_ts.items():
                if ts_chain <= int(stamps[-1]):
                    state.chains.append([ts_chain, chain, None])
                    state.pending_chain = True
            for tf in state.tfs:
                tf.dirty = True
            self._compute(state)

    def update(
        self,
        bar: Mapping[str, Any] | pd.Series,
        chain: pd.DataFrame | None = None,
        quote: Mapping[str, Any] | pd.Series | None = None,
    ) -> pd.Series:
        """Take the next 1-minute bar of one symbol (bar contract fields) and return the
        full latest feature row for it (float64 Series named by feature)."""
        symbol = str(bar["symbol"])
        ts = pd.Timestamp(bar["ts"]).value
        state = self._states.get(symbol)
        try:
            row = [float(bar[c]) for c in (state.names if state else _OHLCV)]
        except KeyError as exc:
            raise BarStreamError(symbol, pd.Timestamp(ts, tz="UTC"), "columns",
                                 f"bar lacks field {exc.args[0]!r}") from exc  # fmt: skip
        if state is None:
            names = tuple([*_OHLCV, *(c for c in _OPTIONAL if c in bar)])
            row = [float(bar[c]) for c in names]
            state = self._state(symbol, names)
        o, h, lo, c, v = row[:5]
        if not (lo > 0 and o > 0 and h > 0 and c > 0 and v >= 0 and _finite(o, h, lo, c, v)):
            raise BarStreamError(symbol, pd.Timestamp(ts, tz="UTC"), "positive_finite",
                                 "prices must be finite and > 0, volume finite and >= 0")  # fmt: skip
        # Every check runs before any state changes: a refused bar leaves the stream as it was.
        position = self._locate(state, ts)
        stamp = pd.Timestamp(ts, tz="UTC")
        qts = ts
        if quote is not None:
            qts = pd.Timestamp(quote["ts"]).value if "ts" in quote else ts
            if qts > ts:
                raise BarStreamError(symbol, stamp, "quote_not_future",
                                     "the quote is stamped after the bar")  # fmt: skip
        snapshots: list[list[Any]] = []
        if chain is not None and len(chain) and self._options is not None:
            if (pd.DatetimeIndex(chain["ts"]).asi8 > ts).any():
                raise BarStreamError(symbol, stamp, "chain_not_future",
                                     "option chain snapshot is later than the bar")  # fmt: skip
            snapshots = self._new_snapshots(state, chain)  # a bad chain raises here
        if quote is not None:
            self._add_quote(state, qts, tuple(float(quote[k]) for k in QUOTE_COLS))
        self._ingest(state, ts, row, position)
        for entry in snapshots:
            if state.chains and state.chains[-1][0] == entry[0]:
                state.chains.pop()  # the same snapshot, revised: it replaces the last one
            state.chains.append(entry)
            state.pending_chain = True
        self._compute(state)
        self._stats["updates"] += 1
        return self._row(state)

    # ---------------------------------------------------------------- internals
    def _state(self, symbol: str, names: tuple[str, ...]) -> _SymbolState:
        state = self._states.get(symbol)
        if state is None:
            state = self._states[symbol] = _SymbolState(symbol, names, self)
        elif state.names != names:
            raise BarStreamError(symbol, "warm start", "columns",
                                 f"bars carry {names}, earlier ones {state.names}")  # fmt: skip
        return state

    def _locate(self, state: _SymbolState, ts: int) -> tuple[int, int]:
        """(session day, minute 1..390) of a close stamp, checking the gap rules."""
        last = state.last_ts
        if last is not None and ts - last == 60_000_000_000 and 1 <= state.minute < SESSION_MINUTES:
            return state.day, state.minute + 1  # the common case: next minute, same session
        stamp = pd.Timestamp(ts, tz="UTC")
        if last is not None and ts <= last:
            rule = "unique" if ts == last else "sorted"
            raise BarStreamError(state.symbol, stamp, rule,
                                 f"previous bar is {pd.Timestamp(last, tz='UTC')}")  # fmt: skip
        local = dt.datetime.fromtimestamp(ts // 1_000_000_000, tz=_TZ)
        day = local.toordinal()
        minute = (local.hour * 60 + local.minute) - (9 * 60 + 30)
        if ts % 60_000_000_000 or not 1 <= minute <= SESSION_MINUTES:
            raise BarStreamError(state.symbol, stamp, "in_session",
                                 "stamp not on a whole minute of 09:31-16:00 America/New_York")  # fmt: skip
        if last is not None and (
            (day == state.day) or state.minute != SESSION_MINUTES or minute != 1
        ):
            raise BarStreamError(state.symbol, stamp, "no_gap",
                                 f"previous bar is {pd.Timestamp(last, tz='UTC')}; "
                                 "minutes are missing")  # fmt: skip
        return day, minute

    def _ingest(
        self,
        state: _SymbolState,
        ts: int,
        row: list[float],
        position: tuple[int, int] | None = None,
    ) -> None:
        day, minute = position or self._locate(state, ts)
        state.last_ts, state.day, state.minute = ts, day, minute
        for tf in state.tfs:
            if tf.minutes == 1:
                tf.ring.append(ts, row, state.quote)
                tf.dirty = True
                tf.pending += 1
                continue
            b = tf.bucket
            close_minute = int(bucket_close_minute(minute, tf.minutes))
            if b.count == 0 or b.day != day or b.close_minute != close_minute:
                b.day, b.close_minute, b.count = day, close_minute, 0
                b.row, b.pv, b.vsum, b.vwap_sum = list(row), 0.0, 0.0, 0.0
            else:
                r = b.row
                # high: max, low: min, volume and trades: sums, the rest: last value
                if row[1] > r[1]:
                    r[1] = row[1]
                if row[2] < r[2]:
                    r[2] = row[2]
                r[3] = row[3]
                r[4] += row[4]
                for i in state.sum_cols:
                    r[i] += row[i]
                for i in state.last_cols:
                    r[i] = row[i]
            b.count += 1
            iv = state.vwap_col
            if iv >= 0:
                b.pv += row[iv] * row[4]
                b.vsum += row[4]
                b.vwap_sum += row[iv]
            if minute == close_minute:
                bar = list(b.row)
                if iv >= 0:
                    # Same as the batch: volume-weighted, the plain mean when no volume traded.
                    bar[iv] = b.pv / b.vsum if b.vsum > 0 else b.vwap_sum / b.count
                tf.ring.append(ts, bar, state.quote)
                tf.dirty = True
                tf.pending += 1
                b.count = 0

    def _add_quote(self, state: _SymbolState, ts: int, q: tuple[float, ...]) -> None:
        state.quote = (ts, list(q))
        state.seen_quote = True

    def _new_snapshots(self, state: _SymbolState, chain: pd.DataFrame) -> list[list[Any]]:
        """The chain's snapshots with their option features computed, less the one that
        repeats the last snapshot unchanged (its cached row stands)."""
        out = []
        for ts_chain, snap in chain.groupby(pd.DatetimeIndex(chain["ts"]).asi8, sort=True):
            snap = snap.reset_index(drop=True)
            last = state.chains[-1] if state.chains else None
            if last is not None and last[0] == ts_chain and last[1].equals(snap):
                continue
            out.append([int(ts_chain), snap, None])
        if out:
            self._fill_snapshot_rows(out)
        return out

    def _fill_snapshot_rows(self, entries: list[list[Any]]) -> None:
        """Per-snapshot option features of the entries without them (one batch call)."""
        per = self._options.options_features(
            pd.concat([e[1] for e in entries], ignore_index=True), self.spec.options.params
        )
        names = [c for c in per.columns if c not in ("ts", "symbol")]
        by_ts = dict(zip(pd.DatetimeIndex(per["ts"]).asi8.tolist(),
                         per[names].to_numpy(np.float64), strict=True))  # fmt: skip
        self._opt_names = names
        for e in entries:
            e[2] = by_ts[e[0]]

    def _options_row(self, state: _SymbolState) -> None:
        """The latest snapshot's option features, its IV rank and percentiles taken over
        the kept snapshots (as the batch does over the same snapshots)."""
        entries = state.chains
        todo = [e for e in entries if e[2] is None or not self.cache]
        if todo:
            self._fill_snapshot_rows(todo)
        names = self._opt_names
        params = {**self._options.DEFAULT_OPTIONS_PARAMS, **self.spec.options.params}
        days = list(params["term_days"])
        anchor = 30 if 30 in days else days[len(days) // 2]  # as options_features picks it
        atm = names.index(f"atm_iv_{anchor}d")
        values = entries[-1][2].copy()
        look = int(params["iv_lookback"])
        history = np.array([e[2][atm] for e in list(entries)[-look:]])
        for name, column in self._options._iv_history_features(history, params).items():
            values[names.index(name)] = column[-1]
        state.opt_columns = [f"{c}_{OPTIONS_SUFFIX}" for c in names]
        state.opt_values = values

    def _advance_kernels(self, tf: _Timeframe) -> None:
        """Bring the kernels up to the ring's last bar: warm fresh ones on the trailing
        window (first time, after more bars than the ring holds, or without the cache),
        else step them over the bars appended since."""
        ring, tech = tf.ring, tf.tech
        pending, tf.pending = tf.pending, 0
        if not tf.warm or not self.cache or pending >= ring.n:
            tf.kernels = []
            for d, slot in tf.kernel_defs:
                k = make_kernel(d.indicator, d.params)
                k.warm(ring.ohlcv(min(d.memory, ring.n)), tech, slot)
                tf.kernels.append((k, slot))
            tf.warm = True
        elif pending == 1:
            i = ring.n - 1
            o, h, lo, c, v = ring.data[:5, i].tolist()
            for k, slot in tf.kernels:
                k.step(k.state, o, h, lo, c, v, tech, slot)
        elif pending:
            bars = ring.ohlcv(pending)
            for k, slot in tf.kernels:
                k.warm(bars, tech, slot)

    def _compute_tf(self, state: _SymbolState, tf: _Timeframe) -> None:
        ring, tech = tf.ring, tf.tech
        if ring.n == 0:  # no closed bar yet: every value is missing
            tf.columns, tf.values = list(tf.tech_columns), np.full(len(tf.tech_columns), np.nan)
            return
        if tf.kernel_defs:
            self._advance_kernels(tf)
        for memory, defs in tf.groups:
            window = ring.ohlcv(memory)
            for d, slot in defs:
                outputs = compute_indicator(d.indicator, window, d.params)
                for i, values in enumerate(outputs.values()):
                    tech[slot + i] = values[-1] if values.size else np.nan
        if tf.micro_window and self._micro is not None:
            names, micro = self._micro_last(state, tf)
            if names != tf.micro_names:
                tf.micro_names = names
                tf.columns = [*tf.tech_columns, *(f"{c}_{tf.name}" for c in names)]
            tf.values = np.concatenate((tech, micro))
        else:
            tf.columns, tf.values = tf.tech_columns, tech

    def _micro_last(
        self, state: _SymbolState, tf: _Timeframe
    ) -> tuple[tuple[str, ...], np.ndarray]:
        """The microstructure features of the last bar only, from the trailing buffer:
        (names, values)."""
        m = self._micro
        ring, names = tf.ring, state.names
        s, e = max(0, ring.n - tf.micro_window), ring.n
        d = ring.data
        high, low, close = d[1, s:e], d[2, s:e], d[3, s:e]
        col = {name: i for i, name in enumerate(names)}
        price = d[col["vwap"], s:e] if "vwap" in col else (high + low + close) / 3.0
        has_bid_ask = "bid" in col and "ask" in col
        bars = m.MicroBars(ring.ts[s:e], high, low, close, d[4, s:e], price,
                           d[col["bid"], s:e] if has_bid_ask else None,
                           d[col["ask"], s:e] if has_bid_ask else None)  # fmt: skip
        quotes = None
        if state.seen_quote:
            # The quote known at the last bar's close is the one the as-of join would take.
            known = slice(e - 1, e) if ring.qts[e - 1] >= 0 else slice(0, 0)
            quotes = m.QuoteArrays(ring.qts[known], *(ring.quote[i, known] for i in range(4)))
        if tf.micro_params is None:
            tf.micro_params = m.microstructure_params(self.spec.microstructure.params_for(tf.name))
        mo = self._micro_online
        return (mo.microstructure_last_names(tf.micro_params, quotes is not None),
                mo.microstructure_last_values(bars, quotes, tf.micro_params))  # fmt: skip

    def _compute(self, state: _SymbolState) -> None:
        for tf in state.tfs:
            if tf.dirty or not self.cache:
                self._compute_tf(state, tf)
                tf.dirty = False
                self._stats["blocks_computed"] += 1
                self._stats["columns_computed"] += len(tf.columns)
            else:
                self._stats["blocks_reused"] += 1
                self._stats["columns_reused"] += len(tf.columns)
        if self._options is not None and state.chains:
            if state.pending_chain or not self.cache:
                self._options_row(state)
                state.pending_chain = False
                self._stats["columns_computed"] += len(state.opt_columns)
            else:
                self._stats["columns_reused"] += len(state.opt_columns)

    def _row(self, state: _SymbolState) -> pd.Series:
        key = (*(len(tf.columns) for tf in state.tfs), len(state.opt_columns))
        if state.index is None or key != state.index_key:
            names = [c for tf in state.tfs for c in tf.columns] + state.opt_columns
            state.index, state.index_key = pd.Index(names), key
        values = np.concatenate([*(tf.values for tf in state.tfs), state.opt_values])
        return pd.Series(values, index=state.index, name=pd.Timestamp(state.last_ts, tz="UTC"),
                         copy=False)  # fmt: skip
