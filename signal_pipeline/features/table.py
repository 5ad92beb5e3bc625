"""Stored feature tables: what the Dagster feature assets call, one symbol at a time.

A feature row at ``ts`` must not depend on how the table was produced (one partition
or a backfill of many), so every symbol's features are computed over its whole stored
history up to the last requested date, and only the requested dates are kept. The
look-ahead test of ``compute_features`` guarantees that later bars never change
earlier rows, so the rows of a date are the same however late they are recomputed.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from signal_pipeline.data.storage import Warehouse, session_dates
from signal_pipeline.features.pipeline import SymbolTask, map_symbol_features, resolve_spec
from signal_pipeline.features.process_pool import check_workers
from signal_pipeline.features.spec import FeatureSpec
from signal_pipeline.features.timeframes import TIMEFRAMES, resample
from signal_pipeline.features.validation import ROW_COLUMN

BAR_FIELDS = ("open", "high", "low", "close", "volume", "vwap", "trades")


@dataclass(frozen=True)
class SymbolFeatures:
    """One symbol's feature rows for the requested dates."""

    symbol: str
    frame: pd.DataFrame  # symbol, ts, ROW_COLUMN, features...
    history_rows: int  # 1-minute bars the computation used (warm-up included)


def _history(
    warehouse: Warehouse, table: str, symbol: str, dates: Sequence[str]
) -> pd.DataFrame | None:
    if not dates:
        return None
    frame = warehouse.read(table, symbols=[symbol], dates=dates)
    return frame if len(frame) else None


def stored_symbols(
    warehouse: Warehouse, dates: Sequence[str], table: str = "raw_bars"
) -> list[str]:
    """Symbols with bars on any of ``dates``."""
    present = sorted(set(dates) & set(warehouse.partitions(table)))
    if not present:
        return []
    frame = warehouse.query(
        f'SELECT DISTINCT symbol FROM "{table}" WHERE date IN (SELECT unnest(?)) ORDER BY 1',
        [present],
    )
    return frame["symbol"].tolist()


def iter_feature_table(
    warehouse: Warehouse,
    dates: Sequence[str],
    *,
    spec: FeatureSpec | None = None,
    symbols: Sequence[str] | None = None,
    workers: int | None = None,
) -> Iterator[SymbolFeatures]:
    """Feature rows of ``dates`` for each symbol, from the stored bars, quotes and chains.

    ``workers``: None or 1 computes in this process; n > 1 computes the symbols on n
    worker processes (same rows). The stored history is read here, one symbol at a time
    as the workers take them; only the computation goes to the pool.
    """
    spec = resolve_spec(spec)
    last = max(dates)
    names = list(symbols) if symbols is not None else stored_symbols(warehouse, dates)
    tasks = _symbol_tasks(warehouse, names, last, spec)
    # Starting processes costs ~1-2 s: not worth it for a single symbol.
    n_workers = check_workers(workers)
    n_workers = n_workers if len(names) > 1 else 1
    for frame in map_symbol_features(tasks, n_workers):
        history_rows = len(frame)  # one feature row per stored 1-minute bar
        frame.insert(2, ROW_COLUMN, np.arange(history_rows, dtype=np.int64))
        keep = session_dates(frame["ts"]).isin(list(dates)).to_numpy()
        symbol = str(frame["symbol"].iloc[0])
        yield SymbolFeatures(symbol, frame.loc[keep].reset_index(drop=True), history_rows)


def _symbol_tasks(
    warehouse: Warehouse, symbols: Sequence[str], last: str, spec: FeatureSpec
) -> Iterator[SymbolTask]:
    """Each symbol's stored history up to ``last`` (symbols without bars are skipped)."""
    # the stored dates of each table, listed once for all symbols
    dates = {
        table: [d for d in warehouse.partitions(table) if d <= last]
        for table in ("raw_bars", "option_chains", "quotes")
    }
    for symbol in symbols:
        bars = _history(warehouse, "raw_bars", symbol, dates["raw_bars"])
        if bars is None:
            continue
        chains = _history(warehouse, "option_chains", symbol, dates["option_chains"])
        quotes = _history(warehouse, "quotes", symbol, dates["quotes"])
        yield symbol, bars, spec, chains, quotes


def resample_bars(bars: pd.DataFrame, timeframe: str) -> pd.DataFrame:
    """Closed ``timeframe`` bars (bar contract, stamped at their close) of 1-minute bars.

    Sessions are respected: no bar spans two sessions, and a bucket still open at the
    end of the data is left out.
    """
    if timeframe not in TIMEFRAMES:
        raise ValueError(f"timeframe {timeframe!r} is not one of {sorted(TIMEFRAMES)}")
    frames = []
    for symbol, part in bars.groupby("symbol", sort=True):
        keep = [c for c in ("ts", *BAR_FIELDS) if c in part.columns]
        result = resample(part[keep].reset_index(drop=True), timeframe)
        frame = pd.DataFrame({"ts": result.ts, **result.columns})
        frame.insert(0, "symbol", symbol)
        frames.append(frame)
    if not frames:
        return bars.iloc[0:0]
    out = pd.concat(frames, ignore_index=True)
    out["ts"] = pd.to_datetime(out["ts"], utc=True)
    return out
