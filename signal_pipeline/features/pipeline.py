"""Batch feature tables: ``compute_features(bars) -> (symbol, ts)``-keyed float64 frame.

Per symbol: check the 1-minute grid, resample to each timeframe of the spec (closed bars
only), compute that timeframe's technical indicators and microstructure features on
its own bars, and join them as-of onto the 1-minute rows (a higher-timeframe value
appears at the minute its bar closes). Option-chain features are computed per
snapshot and joined as-of on the snapshot stamp with the suffix ``_1d`` (one snapshot
a day, at the 16:00 close). Rows before a feature's warm-up stay, with NaN.
"""

from __future__ import annotations

import importlib
import mmap
import weakref
from collections.abc import Callable, Iterable, Iterator, Mapping
from typing import Any, NamedTuple

import numpy as np
import pandas as pd
from numba import njit

from signal_pipeline.features.indicators import Ohlcv, compute_indicator
from signal_pipeline.features.process_pool import check_workers, ordered_map
from signal_pipeline.features.shared_frames import SharedBlock, SharedFrame, ShmFiles
from signal_pipeline.features.spec import FeatureSpec, load_feature_spec
from signal_pipeline.features.timeframes import (
    TIMEFRAMES,
    BarStreamError,
    TimeframeBars,
    asof_take,
    check_minute_grid,
    resample_arrays,
)

BAR_REQUIRED = ("symbol", "ts", "open", "high", "low", "close", "volume")
OPTIONS_SUFFIX = "1d"


class FeatureInputError(ValueError):
    """Inputs to the feature pipeline that cannot be used (missing columns or modules)."""


def _optional_module(name: str) -> Any | None:
    """Engineer D's option/microstructure modules, when installed in this tree."""
    try:
        return importlib.import_module(f"signal_pipeline.features.{name}")
    except ModuleNotFoundError as exc:
        if exc.name != f"signal_pipeline.features.{name}":
            raise
        return None


def resolve_spec(spec: FeatureSpec | Mapping[str, Any] | str | None) -> FeatureSpec:
    return spec if isinstance(spec, FeatureSpec) else load_feature_spec(spec)


def check_bar_values(symbol: str, bars: pd.DataFrame) -> None:
    """Prices positive and finite, volume finite and >= 0: otherwise name the first bad bar."""
    cols = {c: bars[c].to_numpy(np.float64) for c in ("open", "high", "low", "close", "volume")}
    _check_values(symbol, cols, bars["ts"])


def _check_values(symbol: str, cols: Mapping[str, np.ndarray], stamps: Any) -> None:
    """:func:`check_bar_values` on the bars' float64 columns (``stamps``: their ``ts``)."""
    volume = cols["volume"]
    with np.errstate(invalid="ignore"):
        good = np.isfinite(volume) & (volume >= 0)
        for c in ("open", "high", "low", "close"):
            good &= cols[c] > 0  # NaN compares False; +inf is caught below
            good &= cols[c] < np.inf
    if not good.all():
        i = int(np.flatnonzero(~good)[0])
        raise BarStreamError(symbol, pd.Series(stamps).iloc[i], "positive_finite",
                             "prices must be finite and > 0, volume finite and >= 0")  # fmt: skip


def technical_block(spec: FeatureSpec, tf: str, bars: Ohlcv) -> dict[str, np.ndarray]:
    """All technical columns of timeframe ``tf`` over ``bars`` of that timeframe."""
    out: dict[str, np.ndarray] = {}
    for d in spec.technical[tf]:
        if len(bars.close) == 0:  # no closed bar of this timeframe yet
            out.update({c: np.empty(0) for c in d.columns})
            continue
        for stem, values in compute_indicator(d.indicator, bars, d.params).items():
            out[f"{stem}_{tf}"] = values
    return out


def microstructure_block(
    spec: FeatureSpec, tf: str, bars: TimeframeBars, quotes: Any | None
) -> dict[str, np.ndarray]:
    """Microstructure features of ``tf`` bars, suffixed with ``_<tf>``; ``quotes`` is the
    symbol's :class:`~.microstructure.QuoteArrays` (converted once for every timeframe)."""
    if not spec.microstructure.enabled or tf not in spec.microstructure.timeframes:
        return {}
    module = _micro_module()
    cols = bars.columns
    high, low, close = cols["high"], cols["low"], cols["close"]
    price = cols["vwap"] if "vwap" in cols else (high + low + close) / 3.0
    micro = module.MicroBars(
        bars.ts.asi8, high, low, close, cols["volume"], price, cols.get("bid"), cols.get("ask")
    )
    params = module.microstructure_params(spec.microstructure.params_for(tf))
    result = module.microstructure_columns(micro, quotes, params)
    return {f"{c}_{tf}": values for c, values in result.items()}


def _micro_module() -> Any:
    module = _optional_module("microstructure")
    if module is None:
        raise FeatureInputError(
            "the spec enables microstructure features but signal_pipeline.features."
            "microstructure is missing; disable them in the spec (microstructure.enabled: false)"
        )
    return module


def options_block(
    spec: FeatureSpec, chains: pd.DataFrame | None, ts: pd.DatetimeIndex
) -> dict[str, np.ndarray]:
    """Option-chain features as of each 1-minute stamp (NaN before the first snapshot)."""
    per_snapshot, asof = _options_per_snapshot(spec, chains, ts)
    return {c: asof_take(values, asof) for c, values in per_snapshot.items()}


def _options_per_snapshot(
    spec: FeatureSpec, chains: pd.DataFrame | None, ts: pd.DatetimeIndex
) -> tuple[dict[str, np.ndarray], np.ndarray]:
    """Option features per snapshot (suffixed) and, per 1-minute row, the snapshot it takes."""
    if not spec.options.enabled or chains is None or chains.empty:
        return {}, np.empty(0, dtype=np.int64)
    module = _optional_module("options")
    if module is None:
        raise FeatureInputError(
            "option chains were given but signal_pipeline.features.options is missing; "
            "pass option_chains=None or disable options in the spec"
        )
    snap_ts, per_snapshot = module.options_arrays(chains, spec.options.params)
    asof = np.searchsorted(snap_ts, ts.asi8, side="right") - 1
    values = {f"{c}_{OPTIONS_SUFFIX}": v for c, v in per_snapshot.items()}
    return values, asof


class _AsofMap(NamedTuple):
    """Where each 1m row takes its value: ``index`` into the timeframe's values (clipped at
    0), and ``missing`` leading rows before the first bar (``asof`` never decreases)."""

    index: np.ndarray
    missing: int

    @classmethod
    def of(cls, asof: np.ndarray) -> _AsofMap:
        return cls(np.maximum(asof, 0), int(np.searchsorted(asof, 0)))

    def fill(self, rows: np.ndarray, values: list[np.ndarray]) -> None:
        """Write the as-of join of each of ``values`` (arrays over the timeframe's bars)
        into the matching row of ``rows`` in place (= :func:`asof_take`)."""
        sizes = {v.size for v in values}
        if sizes == {0}:
            rows[:] = np.nan
        elif len(sizes) == 1:
            _asof_fill(rows, np.stack(values).astype(np.float64, copy=False), self.index,
                       self.missing)  # fmt: skip
        else:  # arrays of different lengths (not from one timeframe's bars): one by one
            for row, v in zip(rows, values, strict=True):
                _AsofMap.fill(self, row[None, :], [v])


@njit(cache=True)
def _asof_fill(rows: np.ndarray, values: np.ndarray, index: np.ndarray, missing: int) -> None:
    """``rows[c, i] = values[c, index[i]]``, NaN for the first ``missing`` rows: a compiled
    gather, about twice as fast as ``np.take(out=row)`` into a large, cache-cold block."""
    for c in range(rows.shape[0]):
        for i in range(missing):
            rows[c, i] = np.nan
        for i in range(missing, rows.shape[1]):
            rows[c, i] = values[c, index[i]]


class BlockPool:
    """``allocate`` for :func:`symbol_features` in one process: float64 blocks in anonymous
    mappings, each reused once the frame built on it is freed.

    A fresh 94 MB block (one symbol, 60 days, 505 features) costs ~10 ms of page faults
    and zeroing before the first value is written; a consumer that drops each frame before
    the next one (``for frame in iter_features(...)``) gets the previous pages instead.
    A mapping returns to the pool only when the array every view of the block derives from
    is garbage (a finalizer), so a frame the caller holds is never overwritten; at most
    ``keep`` free mappings are kept. Blocks under ``min_bytes`` come from ``np.empty``: the
    allocator reuses freed heap memory for those already, and a fresh mapping would cost
    a system call and page faults (the single-symbol, few-hundred-bar request).
    """

    def __init__(self, keep: int = 1, min_bytes: int = 32 * 2**20) -> None:
        self.keep = keep
        self.min_bytes = min_bytes
        self._free: list[mmap.mmap] = []
        self._closed = False

    def __call__(self, shape: tuple[int, int]) -> np.ndarray:
        count = shape[0] * shape[1]
        nbytes = count * 8
        if nbytes < self.min_bytes:
            return np.empty(shape, dtype=np.float64)
        fits = [m for m in self._free if len(m) >= nbytes]
        if fits:
            mapping = min(fits, key=len)
            self._free.remove(mapping)
        else:
            mapping = mmap.mmap(-1, nbytes)
            if hasattr(mmap, "MADV_HUGEPAGE"):
                mapping.madvise(mmap.MADV_HUGEPAGE)
        base = np.frombuffer(mapping, dtype=np.float64, count=count)
        weakref.finalize(base, self._release, mapping)
        return base.reshape(shape)

    def _release(self, mapping: mmap.mmap) -> None:
        if self._closed:
            return  # the mapping is unmapped when garbage
        self._free.append(mapping)
        if len(self._free) > self.keep:
            self._free.sort(key=len)
            self._free.pop(0)  # the smallest goes; it is unmapped when garbage

    def close(self) -> None:
        """Drop the free mappings and keep no more (blocks in use stay valid)."""
        self._closed = True
        self._free.clear()


def _bar_columns(
    bars: pd.DataFrame, spec: FeatureSpec, quotes: Any | None
) -> dict[str, np.ndarray]:
    """The bar fields the features use, as float64 arrays: OHLCV, and for microstructure
    the bar ``vwap`` and, without a quote table, the bar ``bid``/``ask``."""
    names = list(BAR_REQUIRED[2:])
    if spec.microstructure.enabled:
        names += ["vwap"] if quotes is not None else ["vwap", "bid", "ask"]
    return {c: bars[c].to_numpy(np.float64) for c in names if c in bars.columns}


def symbol_features(
    symbol: str,
    bars: pd.DataFrame,
    spec: FeatureSpec,
    option_chains: pd.DataFrame | None = None,
    quotes: pd.DataFrame | None = None,
    *,
    allocate: Callable[[tuple[int, int]], np.ndarray] | None = None,
) -> pd.DataFrame:
    """Feature table of ONE symbol's 1-minute bars (columns symbol, ts, features...).

    ``allocate(shape)`` gives the float64 (features, rows) block the features are written
    into (default ``np.empty``); a worker process passes a shared-memory one.
    """
    stamps = pd.DatetimeIndex(bars["ts"])
    clock = check_minute_grid(symbol, stamps)
    bar_cols = _bar_columns(bars, spec, quotes)
    _check_values(symbol, bar_cols, stamps)
    # Each column's values on its own timeframe, and the as-of map onto the 1m rows.
    columns: dict[str, tuple[np.ndarray, _AsofMap | None]] = {}
    quote_arrays = None
    if quotes is not None and spec.microstructure.enabled:
        quote_arrays = _micro_module().quote_arrays(quotes)
    for tf in spec.timeframes:
        tfb = resample_arrays(stamps, bar_cols, tf, clock)
        ohlcv = Ohlcv(*(tfb.columns[c] for c in ("open", "high", "low", "close", "volume")))
        block = technical_block(spec, tf, ohlcv)
        block.update(microstructure_block(spec, tf, tfb, quote_arrays))
        asof = None if TIMEFRAMES[tf] == 1 else _AsofMap.of(tfb.asof)
        for col, values in block.items():
            columns[col] = (values, asof)
    per_snapshot, snap_asof = _options_per_snapshot(spec, option_chains, stamps)
    snap_map = _AsofMap.of(snap_asof)
    columns.update({c: (values, snap_map) for c, values in per_snapshot.items()})
    # One (features x rows) block, filled one run of columns sharing an as-of map (one
    # timeframe, or the option snapshots) at a time, the as-of join written straight into
    # it: pandas adopts it without the copy that stacking separate arrays costs.
    shape = (len(columns), len(stamps))
    block = np.empty(shape, dtype=np.float64) if allocate is None else allocate(shape)
    entries = list(columns.values())
    start = 0
    while start < len(entries):
        asof = entries[start][1]
        stop = start + 1
        while stop < len(entries) and entries[stop][1] is asof:
            stop += 1
        values = [v for v, _ in entries[start:stop]]
        if asof is None:  # 1m columns: copied as they are
            np.stack(values, out=block[start:stop])
        else:
            asof.fill(block[start:stop], values)
        start = stop
    index = pd.RangeIndex(len(stamps))
    # ``.array`` keeps the tz-aware dtype (``to_numpy`` would box every stamp).
    keys = pd.DataFrame({"symbol": symbol, "ts": bars["ts"].array}, index=index)
    features = pd.DataFrame(block.T, index=index, columns=list(columns), copy=False)
    return pd.concat([keys, features], axis=1, copy=False)


def _split_by_symbol(frame: pd.DataFrame | None) -> dict[str, np.ndarray]:
    """Row positions of each symbol in ``frame``, found in one pass (not one per symbol)."""
    if frame is None:
        return {}
    if "symbol" not in frame.columns:
        raise FeatureInputError("quotes/option_chains need a 'symbol' column (data contracts)")
    return {str(k): v for k, v in frame.groupby("symbol", sort=False).indices.items()}


def _for_symbol(
    frame: pd.DataFrame | None, rows: dict[str, np.ndarray], symbol: str
) -> pd.DataFrame | None:
    if frame is None or symbol not in rows:
        return None
    return frame.take(rows[symbol]).reset_index(drop=True)


def _single_symbol(frame: pd.DataFrame) -> str | None:
    """The symbol when every row of ``frame`` has the same ``str`` symbol, else None."""
    if len(frame) == 0:
        return None
    symbols = frame["symbol"].to_numpy()
    first = symbols[0]
    if type(first) is not str or not (symbols == first).all():
        return None
    return first


def _only(frame: pd.DataFrame | None, symbol: str) -> pd.DataFrame | bool | None:
    """``frame`` as :func:`_for_symbol` would give it for ``symbol`` when that needs no row
    selection (None, empty, or only ``symbol``'s rows); False when it does."""
    if frame is None:
        return None
    if "symbol" not in frame.columns:
        raise FeatureInputError("quotes/option_chains need a 'symbol' column (data contracts)")
    if len(frame) == 0:
        return None
    return frame if _single_symbol(frame) == symbol else False


# symbol_features' arguments: symbol, its bars, spec, its option chains, its quotes.
SymbolTask = tuple[str, pd.DataFrame, FeatureSpec, pd.DataFrame | None, pd.DataFrame | None]


def _symbol_tasks(
    bars: pd.DataFrame,
    spec: FeatureSpec,
    option_chains: pd.DataFrame | None,
    quotes: pd.DataFrame | None,
) -> Iterator[SymbolTask]:
    """``symbol_features`` arguments of each symbol, in order of first appearance: only
    that symbol's rows, so a worker process receives one symbol's inputs, not the frames."""
    single = _single_symbol(bars)
    if single is not None:  # one symbol (a service request): no grouping, no copies
        chains = _only(option_chains, single)
        quotes_of = _only(quotes, single)
        if chains is not False and quotes_of is not False:
            yield single, bars, spec, chains, quotes_of
            return
    chain_rows, quote_rows = _split_by_symbol(option_chains), _split_by_symbol(quotes)
    for symbol, part in bars.groupby("symbol", sort=False):
        name = str(symbol)
        yield (name, part, spec, _for_symbol(option_chains, chain_rows, name),
               _for_symbol(quotes, quote_rows, name))  # fmt: skip


def _shared_symbol_features(reuse: str | None, *args: Any) -> SharedFrame | pd.DataFrame:
    """In a worker: :func:`symbol_features`, its float block written straight into shared
    memory (the free file ``reuse`` when the parent has one)."""
    block = SharedBlock(reuse)
    try:
        return block.share(symbol_features(*args, allocate=block))
    except BaseException:
        block.discard()
        raise


def _warm_worker() -> None:
    """In a new worker, while the parent prepares the first tasks: import the feature
    modules and start numba (its first compiled call loads its registries, ~0.3 s)."""
    _optional_module("options")
    _optional_module("microstructure")
    _asof_fill(np.empty((1, 1)), np.zeros((1, 1)), np.zeros(1, dtype=np.int64), 0)


def _discard(result: object) -> None:
    if isinstance(result, SharedFrame):
        result.discard()


def map_symbol_features(
    tasks: Iterable[SymbolTask], workers: int | None = None
) -> Iterator[pd.DataFrame]:
    """:func:`symbol_features` of each task ``(symbol, bars, spec, option_chains, quotes)``,
    in order: in this process (``workers`` None or 1) or on ``workers`` processes, at most
    ``2 * workers`` tasks in flight (tasks are drawn from the iterable as they are sent)."""
    n_workers = check_workers(workers)
    if n_workers == 1:
        pool = BlockPool()
        try:
            yield from (symbol_features(*task, allocate=pool) for task in tasks)
        finally:
            pool.close()
        return
    files = ShmFiles()
    try:
        # A free file is picked as each task is sent (the generator runs at submission).
        sent = ((files.take(), *task) for task in tasks)
        results = ordered_map(
            _shared_symbol_features, sent, n_workers, discard=_discard, warm=_warm_worker
        )
        for result in results:
            yield result.load(files) if isinstance(result, SharedFrame) else result
    finally:
        files.close()


def iter_features(
    bars: pd.DataFrame,
    spec: FeatureSpec | Mapping[str, Any] | str | None = None,
    option_chains: pd.DataFrame | None = None,
    quotes: pd.DataFrame | None = None,
    workers: int | None = None,
) -> Iterator[pd.DataFrame]:
    """Yield one feature frame per symbol, in order of first appearance (bounded memory).

    ``workers``: None or 1 computes in this process; n > 1 computes symbols on n worker
    processes (:mod:`.process_pool`), at most 2n symbols in flight. The frames and any
    exception are the same either way.
    """
    spec = resolve_spec(spec)
    n_workers = check_workers(workers)
    missing = [c for c in BAR_REQUIRED if c not in bars.columns]
    if missing:
        raise FeatureInputError(
            f"bars lack columns {missing}; the bar contract is {list(BAR_REQUIRED)} "
            "(+ optional vwap, trades, bid, ask)"
        )
    tasks = _symbol_tasks(bars, spec, option_chains, quotes)
    # Starting processes costs ~1-2 s: not worth it for a single symbol.
    parallel = n_workers > 1 and bars["symbol"].nunique() > 1
    for frame in map_symbol_features(tasks, n_workers if parallel else 1):
        frame.attrs["feature_spec_hash"] = spec.version_hash
        yield frame


def compute_features(
    bars: pd.DataFrame,
    spec: FeatureSpec | Mapping[str, Any] | str | None = None,
    option_chains: pd.DataFrame | None = None,
    quotes: pd.DataFrame | None = None,
    workers: int | None = None,
) -> pd.DataFrame:
    """Feature table keyed (symbol, ts) on the 1-minute grid, one float64 column per
    feature, ``df.attrs["feature_spec_hash"]`` = the spec's version hash. ``workers``: see
    :func:`iter_features`."""
    spec = resolve_spec(spec)
    frames = list(iter_features(bars, spec, option_chains, quotes, workers))
    if not frames:
        raise FeatureInputError("bars are empty: nothing to compute features from")
    out = frames[0] if len(frames) == 1 else pd.concat(frames, ignore_index=True)
    out.attrs["feature_spec_hash"] = spec.version_hash
    return out
