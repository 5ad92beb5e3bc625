"""Bar, quote and option-chain validation: one crafted bad file per rule, the quarantine
path, and the conversions a valid table goes through.

Reference values are hand calculations: 09:31 America/New_York in January is 14:31
UTC (EST, UTC-5); row numbers are 0-based data rows of the crafted files.
"""

from __future__ import annotations

import warnings
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from signal_pipeline.data.contracts import BAR_COLUMNS
from signal_pipeline.data.loaders import ingest_files, read_bars
from signal_pipeline.data.validation import (
    BarDataError,
    DataQuarantineWarning,
    OptionChainError,
    QuoteDataError,
    check_bars,
    validate_bars,
    validate_option_chains,
    validate_quotes,
)

HEADER = "symbol,ts,open,high,low,close,volume"
GOOD_ROWS = [
    "AAA,2024-01-02T09:31:00-05:00,10.0,10.5,9.5,10.2,100",
    "AAA,2024-01-02T09:32:00-05:00,10.2,10.6,10.1,10.4,150",
    "AAA,2024-01-02T09:33:00-05:00,10.4,10.4,10.0,10.1,0",
    "AAA,2024-01-02T09:34:00-05:00,10.1,10.3,10.0,10.2,90",
]


def _bars(rows: list[str]) -> pd.DataFrame:
    """A bars frame from CSV-like rows, as strings, the way a caller might build it."""
    records = [dict(zip(HEADER.split(","), r.split(","), strict=True)) for r in rows]
    return pd.DataFrame.from_records(records)


def _write(tmp_path: Path, name: str, rows: list[str], header: str = HEADER) -> Path:
    path = tmp_path / name
    path.write_text("\n".join([header, *rows]) + "\n")
    return path


def _replace(row: int, text: str) -> list[str]:
    rows = list(GOOD_ROWS)
    rows[row] = text
    return rows


# One crafted file per rule: (rule, rows of the file, offending rows, header).
BAD_FILES = {
    "missing_columns": (GOOD_ROWS, [], "symbol,ts,open,high,low,close,shares"),
    "duplicate_key": (
        [*GOOD_ROWS[:2], "AAA,2024-01-02T09:32:00-05:00,10.2,10.7,10.1,10.5,10", *GOOD_ROWS[2:]],
        [1, 2],
        HEADER,
    ),
    "unsorted": ([GOOD_ROWS[0], GOOD_ROWS[2], GOOD_ROWS[1], GOOD_ROWS[3]], [2], HEADER),
    "non_positive_price": (
        _replace(1, "AAA,2024-01-02T09:32:00-05:00,10.2,10.6,0,10.4,150"),
        [1],
        HEADER,
    ),
    "non_finite_price": (
        _replace(2, "AAA,2024-01-02T09:33:00-05:00,10.4,inf,10.0,10.1,0"),
        [2],
        HEADER,
    ),
    "low_above_body": (
        _replace(3, "AAA,2024-01-02T09:34:00-05:00,10.1,10.3,10.15,10.2,90"),
        [3],
        HEADER,
    ),
    "high_below_body": (
        _replace(0, "AAA,2024-01-02T09:31:00-05:00,10.0,10.1,9.5,10.2,100"),
        [0],
        HEADER,
    ),
    "negative_volume": (
        _replace(1, "AAA,2024-01-02T09:32:00-05:00,10.2,10.6,10.1,10.4,-5"),
        [1],
        HEADER,
    ),
    "naive_timestamps": ([r.replace("-05:00", "") for r in GOOD_ROWS], [0, 1, 2, 3], HEADER),
}


@pytest.mark.parametrize("rule", sorted(BAD_FILES))
def test_each_rule_rejects_its_crafted_file_with_its_own_message(tmp_path: Path, rule: str) -> None:
    rows, offending, header = BAD_FILES[rule]
    path = _write(tmp_path, f"{rule}.csv", rows, header)
    with pytest.raises(BarDataError) as caught:
        read_bars(path, stamp="close")
    err = caught.value
    assert err.rule == rule
    assert err.source == str(path)
    assert err.rows == offending
    message = str(err)
    assert message.startswith(f"{path}: ")
    assert f"(rule: {rule})" in message
    if offending:
        assert f"at rows {offending}" in message
    # every message says how to get past it
    assert any(hint in message for hint in ("errors='quarantine'", "sort=True", "tz=", "columns="))
    # and no other rule claims the file
    others = [r for r in BAD_FILES if r != rule]
    assert not any(f"(rule: {other})" in message for other in others)


def test_row_rules_accept_quarantine_and_table_rules_do_not(tmp_path: Path) -> None:
    for rule in ("missing_columns", "unsorted", "naive_timestamps"):
        rows, _, header = BAD_FILES[rule]
        with pytest.raises(BarDataError, match=rule):
            ingest_files(
                _write(tmp_path, f"{rule}.csv", rows, header), stamp="close", errors="quarantine"
            )


def test_quarantine_keeps_counts_and_explains_every_rejected_row(tmp_path: Path) -> None:
    rows = [
        *GOOD_ROWS,
        "AAA,2024-01-02T09:35:00-05:00,10.2,10.1,10.0,10.3,10",  # high below body
        "AAA,2024-01-02T09:36:00-05:00,10.2x,10.4,10.0,10.3,10",  # unreadable open
        "AAA,2024-01-02T09:37:00-05:00,10.2,10.4,10.0,10.3,-1",  # negative volume
        "AAA,2024-01-02T09:37:00-05:00,10.2,10.4,10.0,10.3,-1",  # its exact copy
        "AAA,2024-01-02T09:38:00-05:00,10.2,10.4,10.0,10.3,7",
    ]
    path = _write(tmp_path, "mixed.csv", rows)
    result = ingest_files(path, stamp="close", errors="quarantine")

    assert len(result.bars) == 5
    assert result.bars["ts"].dt.minute.tolist() == [31, 32, 33, 34, 38]
    q = result.quarantine
    assert q["row"].tolist() == [4, 5, 6, 7]
    assert q["rule"].tolist() == [
        "high_below_body",
        "unreadable_value",
        "negative_volume",
        "negative_volume",
    ]
    assert result.counts == {"unreadable_value": 1, "high_below_body": 1, "negative_volume": 2}
    assert set(q["source"]) == {str(path)}
    assert "high 10.1 < max(open, close) 10.3" in q.loc[0, "reason"]
    assert "open = '10.2x' is not a number" in q.loc[1, "reason"]
    # the values are kept, not just the row numbers
    assert q.loc[2, "volume"] == -1.0 and q.loc[0, "high"] == 10.1
    assert result.files[0].rows_read == 9
    assert result.files[0].rows_valid + result.files[0].rows_quarantined == 9

    with pytest.warns(DataQuarantineWarning, match="4 of 9 rows set aside"):
        bars = read_bars(path, stamp="close", errors="quarantine")
    assert bars.attrs["quarantined"] == result.counts


def test_validate_bars_returns_contract_dtypes_and_keeps_values() -> None:
    frame = _bars(GOOD_ROWS)
    bars = validate_bars(frame)
    assert list(bars.columns) == BAR_COLUMNS
    assert str(bars["ts"].dtype) == "datetime64[ns, UTC]"
    assert all(bars[c].dtype == np.float64 for c in BAR_COLUMNS[2:])
    assert isinstance(bars.index, pd.RangeIndex)
    assert bars["ts"].iloc[0] == pd.Timestamp("2024-01-02 14:31", tz="UTC")
    assert bars["close"].tolist() == [10.2, 10.4, 10.1, 10.2]


def test_validate_bars_raises_by_default_and_quarantines_on_request() -> None:
    frame = _bars(_replace(1, "AAA,2024-01-02T09:32:00-05:00,10.2,10.6,10.1,10.4,-5"))
    with pytest.raises(
        BarDataError,
        match=r"bars frame: 1 row with volume < 0 \(rule: negative_volume\) at rows \[1\]",
    ):
        validate_bars(frame)
    with pytest.warns(DataQuarantineWarning):
        valid = validate_bars(frame, errors="quarantine")
    assert len(valid) == 3 and valid.attrs["quarantined"] == {"negative_volume": 1}
    check = check_bars(frame, source="mem")
    assert check.counts == {"negative_volume": 1}
    assert (
        check.quarantine.loc[0, "source"] == "mem"
        and check.quarantine.loc[0, "reason"] == "volume = -5 < 0"
    )


def test_naive_stamps_take_the_callers_zone() -> None:
    frame = _bars([r.replace("-05:00", "") for r in GOOD_ROWS])
    ny = validate_bars(frame, tz="America/New_York")
    assert ny["ts"].iloc[0] == pd.Timestamp("2024-01-02 14:31", tz="UTC")
    utc = validate_bars(frame, tz="UTC")
    assert utc["ts"].iloc[0] == pd.Timestamp("2024-01-02 09:31", tz="UTC")
    # aware stamps keep their own offset whatever tz says
    aware = validate_bars(_bars(GOOD_ROWS), tz="Asia/Tokyo")
    assert aware["ts"].iloc[0] == pd.Timestamp("2024-01-02 14:31", tz="UTC")


def test_sort_true_sorts_and_interleaved_symbols_are_grouped() -> None:
    unsorted = _bars([GOOD_ROWS[0], GOOD_ROWS[2], GOOD_ROWS[1], GOOD_ROWS[3]])
    with pytest.raises(BarDataError, match="unsorted"):
        validate_bars(unsorted)
    fixed = validate_bars(unsorted, sort=True)
    assert fixed["ts"].is_monotonic_increasing and fixed["close"].tolist() == [
        10.2,
        10.4,
        10.1,
        10.2,
    ]

    # Rows ordered by time across symbols are not unsorted: each symbol's time runs forward.
    interleaved = _bars(
        [
            GOOD_ROWS[0],
            GOOD_ROWS[0].replace("AAA", "BBB"),
            GOOD_ROWS[1],
            GOOD_ROWS[1].replace("AAA", "BBB"),
        ]
    )
    grouped = validate_bars(interleaved)
    assert grouped["symbol"].tolist() == ["AAA", "AAA", "BBB", "BBB"]
    assert grouped["ts"].dt.minute.tolist() == [31, 32, 31, 32]


def test_duplicates_keep_the_first_exact_copy_but_no_conflicting_row() -> None:
    rows = [*GOOD_ROWS, GOOD_ROWS[3], GOOD_ROWS[0].replace("10.2,100", "10.3,100")]
    check = check_bars(_bars(rows), sort=True)
    assert check.counts == {"duplicate_key": 3}
    assert sorted(check.quarantine["row"]) == [0, 4, 5]
    assert check.quarantine.set_index("row").loc[4, "reason"] == "exact copy of row 3"
    assert "different values" in check.quarantine.set_index("row").loc[5, "reason"]
    assert check.valid["ts"].dt.minute.tolist() == [32, 33, 34]


def test_optional_columns_are_kept_and_unknown_ones_reported() -> None:
    frame = _bars(GOOD_ROWS).assign(vwap="10.1", note="x")
    check = check_bars(frame)
    assert list(check.valid.columns) == [*BAR_COLUMNS, "vwap"]
    assert check.valid["vwap"].dtype == np.float64
    assert check.ignored_columns == ["note"]


def test_errors_carry_source_rule_rows_and_are_value_errors() -> None:
    frame = _bars(_replace(2, "AAA,2024-01-02T09:33:00-05:00,10.4,10.4,10.0,-1,0"))
    with pytest.raises(ValueError) as caught:
        validate_bars(frame, source="feed.csv")
    err = caught.value
    assert isinstance(err, BarDataError)
    # close = -1 also makes high/low inconsistent; the first rule wins, all are counted
    assert (err.source, err.rule, err.rows) == ("feed.csv", "non_positive_price", [2])
    assert err.counts == {"non_positive_price": 1}


def _quotes(**changes: object) -> pd.DataFrame:
    frame = pd.DataFrame(
        {
            "symbol": ["AAA", "AAA"],
            "ts": pd.to_datetime(["2024-01-02 14:31", "2024-01-02 14:32"], utc=True),
            "bid": [10.0, 10.1],
            "ask": [10.02, 10.12],
            "bid_size": [100.0, 200.0],
            "ask_size": [300.0, 100.0],
        }
    )
    for column, value in changes.items():
        frame.loc[1, column] = value
    return frame


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"bid": 10.2}, "crossed_quote"),
        ({"ask": 0.0}, "non_positive_price"),
        ({"bid_size": -1.0}, "negative_size"),
    ],
)
def test_quote_rules(change: dict[str, float], rule: str) -> None:
    assert len(validate_quotes(_quotes())) == 2
    with pytest.raises(QuoteDataError) as caught:
        validate_quotes(_quotes(**change))
    assert caught.value.rule == rule and caught.value.rows == [1]


def _chain(**changes: object) -> pd.DataFrame:
    ts = pd.Timestamp("2024-01-02 21:00", tz="UTC")
    frame = pd.DataFrame(
        {
            "symbol": "AAA",
            "ts": ts,
            "expiry": pd.Timestamp("2024-02-16 21:00", tz="UTC"),
            "strike": [95.0, 100.0, 100.0],
            "option_type": ["C", "C", "P"],
            "bid": [6.0, 2.5, 2.1],
            "ask": [6.2, 2.6, 2.2],
            "last": [6.1, np.nan, 2.15],
            "volume": [10.0, 0.0, 5.0],
            "open_interest": [100.0, 50.0, 80.0],
            "underlying_price": 100.5,
        }
    )
    for column, value in changes.items():
        frame[column] = frame[column].astype(object) if isinstance(value, str) else frame[column]
        frame.loc[2, column] = value
    return frame


@pytest.mark.parametrize(
    ("change", "rule"),
    [
        ({"bid": 2.3}, "crossed_quote"),
        ({"strike": 0.0}, "non_positive_strike"),
        ({"ask": 0.0}, "non_positive_price"),
        ({"bid": -0.1}, "negative_price"),
        ({"expiry": pd.Timestamp("2024-01-01 21:00", tz="UTC")}, "expiry_before_ts"),
        ({"option_type": "X"}, "unknown_option_type"),
        ({"open_interest": -1.0}, "negative_volume"),
    ],
)
def test_option_chain_rules(change: dict[str, object], rule: str) -> None:
    with pytest.raises(OptionChainError) as caught:
        validate_option_chains(_chain(**change))
    assert caught.value.rule == rule and caught.value.rows == [2]
    assert f"(rule: {rule})" in str(caught.value)


def test_valid_chain_passes_in_key_order_with_missing_last_allowed() -> None:
    shuffled = _chain().iloc[[2, 0, 1]].reset_index(drop=True)
    chain = validate_option_chains(shuffled)
    assert list(zip(chain["option_type"], chain["strike"], strict=True)) == [
        ("C", 95.0),
        ("C", 100.0),
        ("P", 100.0),
    ]
    assert np.isnan(chain["last"].iloc[1])


def test_quarantine_does_not_warn_when_nothing_is_set_aside() -> None:
    with warnings.catch_warnings():
        warnings.simplefilter("error")
        assert len(validate_bars(_bars(GOOD_ROWS), errors="quarantine")) == 4
