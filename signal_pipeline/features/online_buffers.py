"""Per-timeframe bar buffers of the online engine: a ring of recent bars (with the quote
known at each close) and the higher-timeframe bar being built from 1-minute bars."""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np

from signal_pipeline.features.indicators import Ohlcv

QUOTE_COLS = ("bid", "ask", "bid_size", "ask_size")


class BarRing:
    """Columns of float64 bars plus int64 stamps; appends are O(1) amortised, and the
    trailing ``k`` bars are contiguous views (what TA-Lib needs)."""

    def __init__(self, ncols: int, keep: int) -> None:
        self.keep = keep
        # Shifting the last ``keep`` bars to the front every ``slack`` appends costs one
        # copy of the buffer per ``slack`` bars; storage starts small and doubles up to
        # ``cap``, so a daily buffer sized for years costs little while it fills.
        self.cap = keep + max(1024, keep // 4)
        size = min(self.cap, 1024)
        self.data = np.empty((ncols, size))
        self.ts = np.empty(size, dtype=np.int64)
        # The quote known at each bar's close (its own stamp and bid, ask, sizes), so the
        # microstructure quote features of old bars stay reproducible.
        self.qts = np.empty(size, dtype=np.int64)
        self.quote = np.empty((len(QUOTE_COLS), size))
        self.n = 0

    def _grow(self) -> None:
        size = min(self.cap, 2 * self.ts.size)
        n = self.n
        for name in ("data", "quote"):
            old = getattr(self, name)
            new = np.empty((old.shape[0], size))
            new[:, :n] = old[:, :n]
            setattr(self, name, new)
        for name in ("ts", "qts"):
            old = getattr(self, name)
            new = np.empty(size, dtype=np.int64)
            new[:n] = old[:n]
            setattr(self, name, new)

    def append(self, ts: int, row: list[float], quote: tuple[int, list[float]]) -> None:
        if self.n == self.ts.size:
            if self.ts.size < self.cap:
                self._grow()
            else:
                k, n = self.keep, self.n
                self.data[:, :k] = self.data[:, n - k : n]
                self.ts[:k] = self.ts[n - k : n]
                self.qts[:k] = self.qts[n - k : n]
                self.quote[:, :k] = self.quote[:, n - k : n]
                self.n = k
        self.data[:, self.n] = row
        self.ts[self.n] = ts
        self.qts[self.n] = quote[0]
        self.quote[:, self.n] = quote[1]
        self.n += 1

    def ohlcv(self, k: int) -> Ohlcv:
        s = max(0, self.n - k)
        d = self.data
        return Ohlcv(d[0, s : self.n], d[1, s : self.n], d[2, s : self.n], d[3, s : self.n],
                     d[4, s : self.n])  # fmt: skip


@dataclass
class Bucket:
    """A higher-timeframe bar being built from 1-minute bars."""

    close_minute: int = -1
    day: int = -1
    row: list[float] = field(default_factory=list)
    pv: float = 0.0  # sum of vwap * volume, for the bucket's vwap
    vsum: float = 0.0
    vwap_sum: float = 0.0
    count: int = 0
