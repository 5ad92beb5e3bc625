"""Warehouse: partitioned Parquet written atomically, read back through DuckDB."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import textwrap
import time
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq
import pytest

from signal_pipeline.data.storage import Warehouse, WarehouseError, session_dates


def _bars(symbols: list[str], day: str, n: int = 30, offset: float = 0.0) -> pd.DataFrame:
    ts = pd.date_range(pd.Timestamp(f"{day} 09:31", tz="America/New_York"), periods=n, freq="min")
    frames = [
        pd.DataFrame({"symbol": s, "ts": ts.tz_convert("UTC"), "close": np.arange(n) + offset})
        for s in symbols
    ]
    return pd.concat(frames, ignore_index=True)


def test_round_trip_partitions_by_session_date_and_symbol(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path)
    df = pd.concat([_bars(["AAA", "BBB"], "2024-01-02"), _bars(["AAA"], "2024-01-03")])
    summary = wh.write_partitioned("raw_bars", df)
    assert summary.partitions == ("2024-01-02", "2024-01-03")
    assert summary.files == 3
    assert (tmp_path / "raw_bars/date=2024-01-02/symbol=BBB/part-0.parquet").exists()
    back = wh.read("raw_bars")
    pd.testing.assert_frame_equal(back, df.sort_values(["symbol", "ts"]).reset_index(drop=True))
    only = wh.read("raw_bars", symbols=["AAA"], dates=["2024-01-03"])
    assert set(only["symbol"]) == {"AAA"} and len(only) == 30


def test_session_date_uses_new_york_not_utc() -> None:
    # 20:00 New York on Jan 2 is already Jan 3 in UTC; the session date stays Jan 2.
    ts = pd.Series(pd.to_datetime(["2024-01-03 01:00"], utc=True))
    assert session_dates(ts).tolist() == ["2024-01-02"]


def test_rewriting_a_date_replaces_it_and_leaves_other_dates(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path)
    wh.write_partitioned(
        "t", pd.concat([_bars(["A", "B"], "2024-01-02"), _bars(["A"], "2024-01-03")])
    )
    wh.write_partitioned("t", _bars(["A"], "2024-01-02", offset=100.0))
    back = wh.read("t")
    day1 = back[session_dates(back["ts"]) == "2024-01-02"]
    assert set(day1["symbol"]) == {"A"}  # B of the old partition is gone: the date was replaced
    assert day1["close"].min() == 100.0
    assert len(back[session_dates(back["ts"]) == "2024-01-03"]) == 30


def test_symbol_mode_replaces_only_the_symbols_written(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path)
    wh.write_partitioned("t", _bars(["A", "B"], "2024-01-02"), replace="symbol")
    wh.write_partitioned("t", _bars(["B"], "2024-01-02", offset=50.0), replace="symbol")
    back = wh.read("t")
    assert back.groupby("symbol")["close"].min().to_dict() == {"A": 0.0, "B": 50.0}
    assert not [p for p in (tmp_path / "t" / "date=2024-01-02").iterdir() if p.name.startswith(".")]


def test_time_filters_are_inclusive_utc(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path)
    df = _bars(["A"], "2024-01-02", n=10)
    wh.write_partitioned("t", df)
    got = wh.read("t", start=df["ts"].iloc[2], end=df["ts"].iloc[4])
    assert got["ts"].tolist() == df["ts"].iloc[2:5].tolist()


def test_missing_table_is_a_clear_error(tmp_path: Path) -> None:
    with pytest.raises(WarehouseError, match="table 'nope' does not exist"):
        Warehouse(tmp_path).read("nope")


def test_failed_write_leaves_previous_partition_intact(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path)
    good = _bars(["A", "B"], "2024-01-02")
    wh.write_partitioned("t", good)
    bad = good.copy()
    # a column pyarrow cannot convert fails the write before anything is renamed into place
    bad["close"] = bad["close"].astype(object)
    bad.loc[bad["symbol"] == "B", "close"] = [object()] * 30
    with pytest.raises(pa.ArrowInvalid):
        wh.write_partitioned("t", bad)
    pd.testing.assert_frame_equal(
        wh.read("t"), good.sort_values(["symbol", "ts"]).reset_index(drop=True)
    )
    assert not [p for p in (tmp_path / "t").iterdir() if p.name.startswith(".")]


def test_append_and_replace_unpartitioned_tables(tmp_path: Path) -> None:
    wh = Warehouse(tmp_path)
    wh.append_table("quarantine", pd.DataFrame({"row": [1], "reason": ["x"]}))
    wh.append_table("quarantine", pd.DataFrame({"row": [2], "reason": ["y"]}))
    assert sorted(wh.read("quarantine")["row"]) == [1, 2]
    wh.write_table("stats", pd.DataFrame({"a": [1]}))
    wh.write_table("stats", pd.DataFrame({"a": [2]}))
    assert wh.read("stats")["a"].tolist() == [2]
    assert wh.query("SELECT count(*) AS n FROM quarantine")["n"].iloc[0] == 2


@pytest.mark.slow
def test_write_killed_midway_leaves_no_partial_file(tmp_path: Path) -> None:
    """SIGKILL a writer mid-stream; every file a reader can see is complete."""
    script = textwrap.dedent(
        f"""
        import numpy as np, pandas as pd, sys
        from signal_pipeline.data.storage import Warehouse
        wh = Warehouse({str(tmp_path)!r})
        ts = pd.date_range(pd.Timestamp("2024-01-02 09:31", tz="America/New_York"), periods=390, freq="min")
        rng = np.random.default_rng(0)
        frames = [pd.DataFrame({{"symbol": f"S{{i:03d}}", "ts": ts.tz_convert("UTC"),
                                 "close": rng.normal(size=390)}}) for i in range(200)]
        df = pd.concat(frames, ignore_index=True)
        wh.write_partitioned("t", df)
        print("ready", flush=True)  # one complete partition exists; now rewrite it forever
        while True:
            wh.write_partitioned("t", df)
        """
    )
    proc = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    assert proc.stdout is not None and proc.stdout.readline().strip() == "ready"
    time.sleep(0.7)  # a rewrite is under way by now
    os.kill(proc.pid, signal.SIGKILL)
    proc.wait(timeout=10)
    wh = Warehouse(tmp_path)
    wh.clean_leftovers()  # what the next writer does first; restores a half-swapped date
    visible = list((tmp_path / "t").glob("date=*/symbol=*/*.parquet"))
    # the visible partition is one complete write: all 200 symbols, each file readable
    assert len(visible) == 200
    for path in visible:
        assert pq.read_table(path).num_rows == 390
    assert len(wh.read("t")) == 200 * 390
    assert not [p for p in (tmp_path / "t").iterdir() if p.name.startswith(".")]
