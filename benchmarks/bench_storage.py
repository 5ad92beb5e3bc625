"""Warehouse write and read of 100 symbols x 60 days of 1-minute bars.

The write is what `signal-pipeline ingest` and the `raw_bars` asset do after reading
and validating: one Parquet file per (session date, symbol), each date folder swapped
in atomically.
"""

from __future__ import annotations

import tempfile

from benchmarks._util import peak_rss_mib, timer
from signal_pipeline.data import simulate_market
from signal_pipeline.data.storage import Warehouse

SYMBOLS, DAYS = 100, 60


def run() -> dict:
    bars = simulate_market(SYMBOLS, DAYS, seed=7, option_chains=False).bars
    rows = len(bars)
    with tempfile.TemporaryDirectory() as root:
        warehouse = Warehouse(root)
        with timer() as write_s:
            summary = warehouse.write_partitioned("raw_bars", bars)
        with timer() as read_all_s:
            back = warehouse.read("raw_bars")
        with timer() as read_one_s:
            one = warehouse.read("raw_bars", symbols=["SYM042"])
        with timer() as query_s:
            daily = warehouse.query(
                "SELECT symbol, date, last(close ORDER BY ts) AS close FROM raw_bars GROUP BY 1, 2"
            )
    assert len(back) == rows and len(one) == DAYS * 390 and len(daily) == SYMBOLS * DAYS
    return {
        "rows": rows,
        "files_written": summary.files,
        "write_s": round(write_s(), 2),
        "write_rows_per_s": round(rows / write_s()),
        "read_all_s": round(read_all_s(), 2),
        "read_all_rows_per_s": round(rows / read_all_s()),
        "read_one_symbol_s": round(read_one_s(), 3),
        "duckdb_daily_close_query_s": round(query_s(), 3),
        "peak_rss_mib": round(peak_rss_mib(), 1),
    }
