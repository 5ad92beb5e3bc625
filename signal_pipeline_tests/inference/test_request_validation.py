"""The request-bar fast path returns exactly what the full bar validator returns, and
hands every frame it cannot vouch for to the full validator (which names the rule)."""

from __future__ import annotations

import numpy as np
import pandas as pd
import pytest

from signal_pipeline.data import simulate_market
from signal_pipeline.data.validation import validate_bars
from signal_pipeline.inference.errors import InvalidBarsError
from signal_pipeline.inference.validation import _already_valid, validate_request_bars


@pytest.fixture(scope="module")
def bars() -> pd.DataFrame:
    return simulate_market(["AAA"], 1, seed=3, option_chains=False).bars.iloc[:300]


def test_fast_path_equals_the_full_validator(bars: pd.DataFrame) -> None:
    extra = bars.assign(vwap=bars["close"], bid=bars["close"] - 0.01, ask=bars["close"] + 0.01)
    shuffled_columns = bars[list(reversed(bars.columns))]
    offset_index = bars.set_axis(range(1000, 1000 + len(bars)))
    for frame in (bars, extra, shuffled_columns, offset_index):
        fast = _already_valid("AAA", frame)
        assert fast is not None
        pd.testing.assert_frame_equal(fast, validate_bars(frame), check_exact=True)


def _broken(bars: pd.DataFrame) -> dict[str, pd.DataFrame]:
    b = bars.copy()
    swap = b.copy()
    swap.iloc[[5, 6]] = swap.iloc[[6, 5]].to_numpy()
    low_high = b.copy()
    low_high.loc[10, "low"] = low_high.loc[10, "close"] + 1.0
    high_low = b.copy()
    high_low.loc[11, "high"] = high_low.loc[11, "open"] - 1.0
    negative = b.copy()
    negative.loc[12, "volume"] = -1.0
    zero = b.copy()
    zero.loc[13, ["open", "low"]] = 0.0
    return {
        "unsorted": swap,
        "duplicate": pd.concat([b.iloc[:20], b.iloc[19:20]], ignore_index=True),
        "low_above_body": low_high,
        "high_below_body": high_low,
        "negative_volume": negative,
        "non_positive_price": zero,
        "text_stamps": b.assign(ts=b["ts"].astype(str)),
        "other_zone": b.assign(ts=b["ts"].dt.tz_convert("America/New_York")),
        "float32": b.assign(close=b["close"].astype(np.float32)),
        "padded_symbol": b.assign(symbol=" AAA"),
        "unknown_column": b.assign(note="x"),
    }


CASES = ["duplicate", "float32", "high_below_body", "low_above_body", "negative_volume",
         "non_positive_price", "other_zone", "padded_symbol", "text_stamps",
         "unknown_column", "unsorted"]  # fmt: skip


@pytest.mark.parametrize("case", CASES)
def test_anything_unusual_goes_to_the_full_validator(bars: pd.DataFrame, case: str) -> None:
    cases = _broken(bars)
    assert sorted(cases) == CASES
    frame = cases[case]
    assert _already_valid("AAA", frame) is None
    rules = {"unsorted": "unsorted", "duplicate": "duplicate_key",
             "low_above_body": "low_above_body", "high_below_body": "high_below_body",
             "negative_volume": "negative_volume", "non_positive_price": "non_positive_price"}  # fmt: skip
    if case in rules:
        with pytest.raises(InvalidBarsError) as info:
            validate_request_bars("AAA", frame, min_bars=1)
        assert info.value.rule == rules[case]
    else:  # coercible: the full validator returns contract form
        valid = validate_request_bars("AAA", frame.drop(columns="note", errors="ignore"),
                                      min_bars=1)  # fmt: skip
        assert valid["ts"].dtype == "datetime64[ns, UTC]" and len(valid) == len(frame)
