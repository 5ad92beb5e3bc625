"""File ingestion: vendor shapes, time stamps, column mapping, formats, many files.

Reference values are hand calculations from the published US time-zone rules:
16:00 America/New_York is 21:00 UTC under EST (January) and 20:00 UTC under EDT
(July); DST began on 2024-03-10.
"""

from __future__ import annotations

import gzip
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from signal_pipeline.data.contracts import BAR_COLUMNS, OPTION_COLUMNS, QUOTE_COLUMNS
from signal_pipeline.data.loaders import ingest_files, read_bars, read_option_chains, read_quotes
from signal_pipeline.data.validation import BarDataError, OptionChainError

UTC = "UTC"

YAHOO = """Date,Open,High,Low,Close,Adj Close,Volume
2024-01-02,187.15,188.44,183.89,185.64,184.94,82488700
2024-01-03,184.22,185.88,183.43,184.25,183.56,58414500
2024-07-01,212.09,217.51,211.92,216.75,216.00,60402900
"""


def _write(path: Path, text: str) -> Path:
    path.write_text(text)
    return path


def test_yahoo_daily_csv_adjusted_by_default_and_raw_on_request(tmp_path: Path) -> None:
    path = _write(tmp_path / "AAPL.csv", YAHOO)
    adjusted = read_bars(path)
    assert list(adjusted.columns) == BAR_COLUMNS
    assert adjusted["symbol"].tolist() == ["AAPL"] * 3
    # daily bars close at 16:00 New York: 21:00 UTC in winter, 20:00 UTC in summer
    assert adjusted["ts"].tolist() == [
        pd.Timestamp("2024-01-02 21:00", tz=UTC),
        pd.Timestamp("2024-01-03 21:00", tz=UTC),
        pd.Timestamp("2024-07-01 20:00", tz=UTC),
    ]
    factor = 184.94 / 185.64
    assert adjusted["close"].iloc[0] == pytest.approx(184.94)
    assert adjusted["open"].iloc[0] == pytest.approx(187.15 * factor)
    assert adjusted["high"].iloc[0] == pytest.approx(188.44 * factor)
    assert adjusted["low"].iloc[0] == pytest.approx(183.89 * factor)
    assert adjusted["volume"].iloc[0] == 82488700.0

    raw = read_bars(path, price="raw")
    assert raw["close"].tolist() == [185.64, 184.25, 216.75] and raw["open"].iloc[2] == 212.09


def test_session_close_can_be_moved(tmp_path: Path) -> None:
    path = _write(tmp_path / "AAPL.csv", YAHOO)
    bars = read_bars(path, session_close="13:00")  # a half day
    assert bars["ts"].iloc[0] == pd.Timestamp("2024-01-02 18:00", tz=UTC)
    london = read_bars(path, session_close="16:30 Europe/London")
    assert london["ts"].iloc[2] == pd.Timestamp("2024-07-01 15:30", tz=UTC)


def test_csv_with_the_date_as_unnamed_first_column(tmp_path: Path) -> None:
    frame = pd.DataFrame(
        {
            "open": [10.0, 11.0],
            "high": [11.0, 12.0],
            "low": [9.0, 10.5],
            "close": [10.5, 11.5],
            "volume": [5, 6],
        },
        index=pd.to_datetime(["2024-01-02", "2024-01-03"]),
    )
    path = tmp_path / "spy_daily.csv"
    frame.to_csv(path)  # header starts with an empty name
    assert path.read_text().startswith(",open")
    bars = read_bars(path, symbol="SPY")
    assert bars["symbol"].unique().tolist() == ["SPY"]
    assert bars["ts"].tolist() == [
        pd.Timestamp("2024-01-02 21:00", tz=UTC),
        pd.Timestamp("2024-01-03 21:00", tz=UTC),
    ]
    assert bars["close"].tolist() == [10.5, 11.5]


INTRADAY_OPEN_STAMPED = """timestamp,symbol,open,high,low,close,volume
2024-03-08 09:30:00-05:00,MSFT,10,11,9,10.5,100
2024-03-08 09:31:00-05:00,MSFT,10.5,11,10,10.8,120
2024-03-08 15:59:00-05:00,MSFT,10.8,11,10.7,10.9,300
2024-03-11 09:30:00-04:00,MSFT,10.9,11.2,10.8,11.0,90
"""


def test_intraday_with_time_zone_open_stamps_become_close_stamps(tmp_path: Path) -> None:
    result = ingest_files(_write(tmp_path / "m.csv", INTRADAY_OPEN_STAMPED))
    bars = result.bars
    assert result.files[0].stamp == "open" and result.files[0].bar_interval == str(
        pd.Timedelta("1min")
    )
    assert bars["ts"].tolist() == [
        pd.Timestamp("2024-03-08 14:31", tz=UTC),  # 09:31 EST, the first bar's close
        pd.Timestamp("2024-03-08 14:32", tz=UTC),
        pd.Timestamp("2024-03-08 21:00", tz=UTC),  # 16:00 EST, the last bar's close
        pd.Timestamp("2024-03-11 13:31", tz=UTC),  # 09:31 EDT after the DST change
    ]
    # told they are close stamps, they are taken as they are
    as_close = read_bars(tmp_path / "m.csv", stamp="close")
    assert as_close["ts"].iloc[0] == pd.Timestamp("2024-03-08 14:30", tz=UTC)


def test_close_stamped_intraday_bars_are_recognised(tmp_path: Path) -> None:
    text = INTRADAY_OPEN_STAMPED.replace("09:30:00", "09:32:00").replace("15:59:00", "16:00:00")
    text = text.replace("09:31:00", "09:33:00")
    result = ingest_files(_write(tmp_path / "m.csv", text))
    assert result.files[0].stamp == "close"
    assert result.bars["ts"].iloc[2] == pd.Timestamp("2024-03-08 21:00", tz=UTC)


def test_ambiguous_stamps_are_refused_not_guessed(tmp_path: Path) -> None:
    text = "ts,open,high,low,close,volume\n2024-01-02T10:00:00-05:00,1,1,1,1,1\n2024-01-02T10:05:00-05:00,1,1,1,1,1\n"
    path = _write(tmp_path / "X.csv", text)
    with pytest.raises(BarDataError) as caught:
        read_bars(path)
    assert caught.value.rule == "ambiguous_stamp" and str(path) in str(caught.value)
    shifted = read_bars(path, stamp="open")  # 5-minute bars, interval inferred
    assert shifted["ts"].tolist() == [
        pd.Timestamp("2024-01-02 15:05", tz=UTC),
        pd.Timestamp("2024-01-02 15:10", tz=UTC),
    ]
    explicit = read_bars(path, stamp="open", bar_interval="15min")
    assert explicit["ts"].iloc[0] == pd.Timestamp("2024-01-02 15:15", tz=UTC)


def test_naive_intraday_stamps_need_a_zone(tmp_path: Path) -> None:
    text = "\n".join(
        [
            "Datetime,Open,High,Low,Close,Volume",
            "2024-07-01 09:30:00,5,6,4,5.5,10",
            "2024-07-01 09:31:00,5.5,6,5,5.8,11",
        ]
    )
    path = _write(tmp_path / "QQQ.csv", text + "\n")
    with pytest.raises(BarDataError) as caught:
        read_bars(path)
    assert caught.value.rule == "naive_timestamps" and caught.value.rows == [0, 1]
    assert str(path) in str(caught.value) and "tz=" in str(caught.value)
    bars = read_bars(path, tz="America/New_York")
    assert bars["ts"].tolist() == [
        pd.Timestamp("2024-07-01 13:31", tz=UTC),
        pd.Timestamp("2024-07-01 13:32", tz=UTC),
    ]


def test_column_mapping_and_separate_date_and_time_columns(tmp_path: Path) -> None:
    text = "When,Sym,O,H,L,Px,Qty\n01/02/2024 09:31,ibm,1,2,0.5,1.5,10\n01/02/2024 09:32,ibm,1.5,2,1,1.8,12\n"
    path = _write(tmp_path / "vendor.csv", text)
    with pytest.raises(BarDataError, match="missing columns"):
        read_bars(path, tz="America/New_York", stamp="close")
    # When/Px/Qty need a mapping; Sym and the one-letter O/H/L are recognised aliases
    bars = read_bars(
        path,
        columns={"When": "ts", "Px": "close", "Qty": "volume"},
        tz="America/New_York",
        stamp="close",
    )
    assert bars["close"].tolist() == [1.5, 1.8]
    assert bars["symbol"].tolist() == ["ibm", "ibm"]
    assert bars["ts"].tolist() == [
        pd.Timestamp("2024-01-02 14:31", tz=UTC),
        pd.Timestamp("2024-01-02 14:32", tz=UTC),
    ]

    split = "Date,Time,Open,High,Low,Close,Volume\n2024-01-02,09:31:00,1,2,0.5,1.5,10\n2024-01-02,09:32:00,1.5,2,1,1.8,12\n"
    bars = read_bars(_write(tmp_path / "IBM.csv", split), tz="America/New_York", stamp="close")
    assert bars["ts"].tolist() == [
        pd.Timestamp("2024-01-02 14:31", tz=UTC),
        pd.Timestamp("2024-01-02 14:32", tz=UTC),
    ]


def test_epoch_milliseconds_polygon_style(tmp_path: Path) -> None:
    first = pd.Timestamp("2024-01-02 14:30", tz=UTC)  # 09:30 EST, bar open
    ms = [first.value // 10**6, (first + pd.Timedelta("1min")).value // 10**6]
    text = "t,o,h,l,c,v,vw,n\n" + "\n".join(f"{m},1,2,0.5,1.5,10,1.2,3" for m in ms) + "\n"
    bars = read_bars(_write(tmp_path / "AMD.csv", text))
    assert bars["ts"].tolist() == [first + pd.Timedelta("1min"), first + pd.Timedelta("2min")]
    assert list(bars.columns) == [*BAR_COLUMNS, "vwap", "trades"]


def test_parquet_round_trip_and_gzip_csv(tmp_path: Path) -> None:
    ts = pd.date_range("2024-01-02 14:31", periods=3, freq="min", tz=UTC)
    frame = pd.DataFrame(
        {
            "symbol": "NVDA",
            "ts": ts,
            "open": [1.0, 2.0, 3.0],
            "high": [2.0, 3.0, 4.0],
            "low": [0.5, 1.5, 2.5],
            "close": [1.5, 2.5, 3.5],
            "volume": [10.0, 20.0, 30.0],
        }
    )
    frame.to_parquet(tmp_path / "nvda.parquet", index=False)
    back = read_bars(tmp_path / "nvda.parquet", stamp="close")
    pd.testing.assert_frame_equal(back, frame)

    with gzip.open(tmp_path / "nvda.csv.gz", "wt") as fh:
        frame.to_csv(fh, index=False)
    pd.testing.assert_frame_equal(read_bars(tmp_path / "nvda.csv.gz", stamp="close"), frame)


def test_directory_glob_symbols_from_stems_and_sorted_output(tmp_path: Path) -> None:
    folder = tmp_path / "daily"
    folder.mkdir()
    _write(folder / "MSFT.csv", YAHOO)
    _write(folder / "AAPL.csv", YAHOO)
    _write(folder / "notes.md", "not data")
    result = ingest_files(folder)
    assert [Path(f.path).name for f in result.files] == ["AAPL.csv", "MSFT.csv"]
    assert result.bars["symbol"].tolist() == ["AAPL"] * 3 + ["MSFT"] * 3
    assert result.bars["ts"].is_monotonic_increasing is False  # sorted by symbol first
    globbed = read_bars(str(folder / "M*.csv"))
    assert globbed["symbol"].unique().tolist() == ["MSFT"]


def test_symbol_argument_must_agree_with_the_file(tmp_path: Path) -> None:
    path = _write(tmp_path / "m.csv", INTRADAY_OPEN_STAMPED)
    assert read_bars(path, symbol="MSFT")["symbol"].unique().tolist() == ["MSFT"]
    with pytest.raises(BarDataError) as caught:
        read_bars(path, symbol="AAPL")
    assert caught.value.rule == "symbol_mismatch"


def test_keys_repeated_across_files_are_quarantined(tmp_path: Path) -> None:
    header, first, second, _ = YAHOO.splitlines()
    _write(
        tmp_path / "part1.csv",
        "\n".join(["Symbol," + header, "AAPL," + first, "AAPL," + second]) + "\n",
    )
    changed = second.replace("184.25", "184.20")  # disagrees with part1's row
    _write(
        tmp_path / "part2.csv",
        "\n".join(["Symbol," + header, "AAPL," + first, "AAPL," + changed]) + "\n",
    )
    result = ingest_files(tmp_path, price="raw", errors="quarantine")
    # 2024-01-02: exact copy -> the later one set aside; 2024-01-03: conflict -> both
    assert result.bars["ts"].tolist() == [pd.Timestamp("2024-01-02 21:00", tz=UTC)]
    q = result.quarantine
    assert q["rule"].unique().tolist() == ["duplicate_key"]
    assert sorted(zip(q["source"].map(lambda s: Path(s).name), q["row"], strict=True)) == [
        ("part1.csv", 1),
        ("part2.csv", 0),
        ("part2.csv", 1),
    ]
    with pytest.raises(BarDataError, match="duplicate_key"):
        ingest_files(tmp_path, price="raw")


def test_missing_path_and_unknown_format(tmp_path: Path) -> None:
    with pytest.raises(BarDataError) as caught:
        read_bars(tmp_path / "nope.csv")
    assert caught.value.rule == "no_files"
    with pytest.raises(BarDataError) as caught:
        read_bars(_write(tmp_path / "bars.json", "{}"))
    assert caught.value.rule == "unknown_format"
    with pytest.raises(ValueError, match="stamp="):
        read_bars(tmp_path / "nope.csv", stamp="middle")


def test_option_chains_from_a_vendor_csv(tmp_path: Path) -> None:
    text = (
        "quote_date,underlying,expiration,strike,type,bid,ask,last,volume,open_interest,underlying_price,iv\n"
        "2024-01-02,SPY,2024-01-19,470,call,5.1,5.2,5.15,100,1000,472.65,0.12\n"
        "2024-01-02,SPY,2024-01-19,470,PUT,2.4,2.5,,50,800,472.65,0.13\n"
    )
    path = _write(tmp_path / "spy_chain.csv", text)
    # 'underlying' is not a recognised symbol column (it is a price for some vendors),
    # so without a mapping the symbol comes from the file name
    result = ingest_files(path, kind="option_chains")
    assert result.table["symbol"].unique().tolist() == ["spy_chain"]
    assert result.files[0].ignored_columns == ["underlying"]
    chain = read_option_chains(path, columns={"underlying": "symbol"})
    assert list(chain.columns) == [*OPTION_COLUMNS, "implied_volatility"]
    assert chain["option_type"].tolist() == ["C", "P"]
    assert chain["ts"].unique().tolist() == [pd.Timestamp("2024-01-02 21:00", tz=UTC)]
    assert chain["expiry"].unique().tolist() == [pd.Timestamp("2024-01-19 21:00", tz=UTC)]
    assert np.isnan(chain["last"].iloc[1]) and chain["strike"].tolist() == [470.0, 470.0]

    crossed = _write(tmp_path / "bad_chain.csv", text.replace("5.1,5.2", "5.3,5.2"))
    with pytest.raises(OptionChainError) as caught:
        read_option_chains(crossed, columns={"underlying": "symbol"})
    assert caught.value.rule == "crossed_quote" and caught.value.rows == [0]


def test_quotes_from_a_file(tmp_path: Path) -> None:
    text = "ts,symbol,bid,ask,bid_size,ask_size\n2024-01-02T14:31:00Z,AAA,10,10.02,100,300\n2024-01-02T14:32:00Z,AAA,10.1,10.12,200,100\n"
    quotes = read_quotes(_write(tmp_path / "q.csv", text))
    assert list(quotes.columns) == QUOTE_COLUMNS
    assert quotes["ts"].iloc[1] == pd.Timestamp("2024-01-02 14:32", tz=UTC)


def test_yyyymmdd_integer_dates_are_daily_bars(tmp_path: Path) -> None:
    text = "ticker,date,open,high,low,close,volume\nKO,20240102,60,61,59.5,60.5,1e6\nKO,20240103,60.5,61,60,60.8,1e6\n"
    bars = read_bars(_write(tmp_path / "ko.csv", text))
    assert bars["symbol"].tolist() == ["KO", "KO"]
    assert bars["ts"].iloc[1] == pd.Timestamp("2024-01-03 21:00", tz=UTC)


def test_ambiguous_and_unknown_column_mappings_are_refused(tmp_path: Path) -> None:
    both = "ts,close,c,open,high,low,volume\n2024-01-02,1,1,1,1,1,1\n"
    with pytest.raises(BarDataError) as caught:
        read_bars(_write(tmp_path / "x.csv", both))
    assert caught.value.rule == "ambiguous_columns" and "'close'" in str(caught.value)
    assert read_bars(tmp_path / "x.csv", columns={"c": "close", "close": "close_copy"})[
        "close"
    ].tolist() == [1.0]
    with pytest.raises(BarDataError) as caught:
        read_bars(tmp_path / "x.csv", columns={"Close": "close"})
    assert caught.value.rule == "unknown_mapping"


def test_naive_daily_dates_are_labels_whatever_the_zone(tmp_path: Path) -> None:
    text = "Date,Open,High,Low,Close,Volume\n2024-01-02,1,2,0.5,1.5,10\n2024-01-03,1,2,0.5,1.5,10\n"
    bars = read_bars(_write(tmp_path / "T.csv", text), tz="Asia/Tokyo")
    assert bars["ts"].iloc[0] == pd.Timestamp("2024-01-02 21:00", tz=UTC)


def test_local_times_skipped_by_dst_are_quarantined_not_shifted(tmp_path: Path) -> None:
    # 02:30 on 2024-03-10 does not exist in New York (clocks jump from 02:00 to 03:00)
    rows = ["2024-03-10 02:29:00", "2024-03-10 02:30:00", "2024-03-10 03:31:00"]
    text = "ts,open,high,low,close,volume\n" + "\n".join(f"{r},1,1,1,1,1" for r in rows) + "\n"
    result = ingest_files(
        _write(tmp_path / "D.csv", text), tz="America/New_York", stamp="close", errors="quarantine"
    )
    assert result.quarantine["rule"].tolist() == ["bad_timestamp", "bad_timestamp"]
    assert result.quarantine["row"].tolist() == [0, 1]
    assert result.bars["ts"].tolist() == [pd.Timestamp("2024-03-10 07:31", tz=UTC)]
