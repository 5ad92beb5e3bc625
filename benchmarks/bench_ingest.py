"""Ingest throughput: ``read_bars`` over 100 symbols x 60 days of 1-minute bars.

The files are written here with numpy (one file per symbol, 390 bars a day,
2,340,000 rows in all), the way vendors ship them:

* CSV: open-stamped ISO times with the New York offset (``-05:00`` / ``-04:00``, the
  60 weekdays from 2024-01-02 cross the March DST change), so the reader must detect
  the open stamps and shift them;
* Parquet: the contract shape (UTC close stamps, float64 columns).

Each format is read in a fresh child process so its peak resident memory is its own.
Figures: seconds, rows/s and peak RSS per format, plus validation alone on an
in-memory frame.
"""

from __future__ import annotations

import json
import subprocess
import sys
import tempfile
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv

SYMBOLS = 100
DAYS = 60
BARS_PER_DAY = 390

_CHILD = """
import json, resource, sys, time
import pandas as pd
from signal_pipeline.data.loaders import read_bars
base = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
start = time.perf_counter()
bars = read_bars(sys.argv[1])
seconds = time.perf_counter() - start
peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
print(json.dumps({"rows": len(bars), "seconds": seconds, "peak_rss_mib": peak, "base_rss_mib": base}))
"""


def session_open_stamps(days: int) -> pd.DatetimeIndex:
    """Open stamps 09:30..15:59 New York of ``days`` weekdays from 2024-01-02."""
    dates = pd.bdate_range("2024-01-02", periods=days)
    minutes = pd.to_timedelta(np.arange(BARS_PER_DAY), unit="min") + pd.Timedelta(
        hours=9, minutes=30
    )
    local = (dates.values[:, None] + minutes.values[None, :]).ravel()
    return pd.DatetimeIndex(local).tz_localize("America/New_York")


def symbol_bars(rng: np.random.Generator, n: int) -> dict[str, np.ndarray]:
    """A positive random walk with consistent OHLC and integer volumes."""
    close = 100.0 * np.exp(np.cumsum(rng.normal(0.0, 0.0008, n)))
    open_ = np.concatenate([[100.0], close[:-1]])
    spread = np.abs(rng.normal(0.0, 0.0005, (2, n)))
    return {
        "open": open_,
        "high": np.maximum(open_, close) * (1 + spread[0]),
        "low": np.minimum(open_, close) * (1 - spread[1]),
        "close": close,
        "volume": rng.integers(100, 10_000, n).astype(np.float64),
    }


def write_files(folder: Path) -> tuple[Path, Path, int]:
    csv_dir, pq_dir = folder / "csv", folder / "parquet"
    csv_dir.mkdir()
    pq_dir.mkdir()
    opens = session_open_stamps(DAYS)
    iso = pa.array(
        opens.strftime("%Y-%m-%dT%H:%M:%S%z").str.replace(r"(\d{2})(\d{2})$", r"\1:\2", regex=True)
    )
    closes = (opens + pd.Timedelta(minutes=1)).tz_convert("UTC")
    rng = np.random.default_rng(0)
    for i in range(SYMBOLS):
        symbol = f"S{i:03d}"
        values = symbol_bars(rng, len(opens))
        pa_csv.write_csv(pa.table({"timestamp": iso, **values}), csv_dir / f"{symbol}.csv")
        frame = pd.DataFrame({"symbol": symbol, "ts": closes, **values})
        frame.to_parquet(pq_dir / f"{symbol}.parquet", index=False)
    return csv_dir, pq_dir, SYMBOLS * len(opens)


def read_in_child(folder: Path) -> dict[str, float]:
    proc = subprocess.run(
        [sys.executable, "-c", _CHILD, str(folder)],
        capture_output=True,
        text=True,
        check=True,
        cwd=Path(__file__).resolve().parent.parent,
    )
    return json.loads(proc.stdout.strip().splitlines()[-1])


def run() -> dict:
    from signal_pipeline.data.validation import validate_bars

    figures: dict[str, float | int] = {
        "symbols": SYMBOLS,
        "days": DAYS,
        "bars_per_day": BARS_PER_DAY,
    }
    with tempfile.TemporaryDirectory(prefix="bench_ingest_") as tmp:
        start = time.perf_counter()
        csv_dir, pq_dir, rows = write_files(Path(tmp))
        figures["rows"] = rows
        figures["write_files_s"] = round(time.perf_counter() - start, 2)
        figures["csv_mib_on_disk"] = round(
            sum(p.stat().st_size for p in csv_dir.iterdir()) / 2**20, 1
        )
        figures["parquet_mib_on_disk"] = round(
            sum(p.stat().st_size for p in pq_dir.iterdir()) / 2**20, 1
        )
        for name, folder in (("csv", csv_dir), ("parquet", pq_dir)):
            result = read_in_child(folder)
            if result["rows"] != rows:
                raise RuntimeError(f"{name}: read {result['rows']} rows, wrote {rows}")
            figures[f"{name}_read_s"] = round(result["seconds"], 2)
            figures[f"{name}_rows_per_s"] = round(rows / result["seconds"])
            figures[f"{name}_peak_rss_mib"] = round(result["peak_rss_mib"], 1)
            figures[f"{name}_rss_before_read_mib"] = round(result["base_rss_mib"], 1)

        frame = pd.read_parquet(pq_dir)
        frame["symbol"] = frame["symbol"].astype(object)
        start = time.perf_counter()
        validate_bars(frame)
        seconds = time.perf_counter() - start
        figures["validate_only_s"] = round(seconds, 2)
        figures["validate_only_rows_per_s"] = round(rows / seconds)
    return figures


if __name__ == "__main__":
    print(json.dumps(run(), indent=2))
