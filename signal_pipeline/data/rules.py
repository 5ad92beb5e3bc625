"""Row-level rules of the bar, quote and option-chain contracts.

Each rule is a vectorised test over a whole coerced table (one boolean per row) and a
reason builder that runs only on the rows that failed, so the cost of readable
messages is paid for bad rows alone. Table-wide rules (missing columns, naive stamps,
unsorted rows, duplicate keys) live in :mod:`signal_pipeline.data.validation`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from signal_pipeline.data.contracts import OPTION_TYPES


@dataclass(frozen=True)
class RowRule:
    """A row-level rule: ``test(frame)`` marks violating rows, ``reason(rows)`` explains."""

    name: str
    summary: str
    test: Callable[[pd.DataFrame], np.ndarray]
    reason: Callable[[pd.DataFrame], pd.Series]


def fmt(values: pd.Series) -> pd.Series:
    """Numbers as short text for messages (``101.5``, ``nan``, ``-inf``)."""
    return pd.Series([f"{v:g}" for v in values], index=values.index, dtype=object)


def _first_failing(
    rows: pd.DataFrame, columns: list[str], bad: Callable[[pd.Series], pd.Series], what: str
) -> pd.Series:
    """Reason naming the first column of ``columns`` that is bad in each row."""
    reason = pd.Series("", index=rows.index, dtype=object)
    for column in reversed(columns):
        hit = bad(rows[column]).to_numpy()
        reason[hit] = column + " = " + fmt(rows.loc[hit, column]) + what
    return reason


def _non_finite(columns: list[str], name: str, noun: str) -> RowRule:
    def test(frame: pd.DataFrame) -> np.ndarray:
        return np.logical_or.reduce([~np.isfinite(frame[c].to_numpy()) for c in columns])

    def reason(rows: pd.DataFrame) -> pd.Series:
        return _first_failing(rows, columns, lambda s: ~np.isfinite(s), " is missing or not finite")

    return RowRule(name, f"rows with a missing or non-finite {noun}", test, reason)


def _below(columns: list[str], name: str, summary: str, *, floor: float, strict: bool) -> RowRule:
    """Values that must be above ``floor`` (``strict``) or at least ``floor``."""

    def bad(values: pd.Series) -> pd.Series:
        return values <= floor if strict else values < floor

    def test(frame: pd.DataFrame) -> np.ndarray:
        return np.logical_or.reduce([bad(frame[c]).to_numpy() for c in columns])

    what = f" {'<=' if strict else '<'} {floor:g}"
    return RowRule(name, summary, test, lambda rows: _first_failing(rows, columns, bad, what))


def _low_above_body(frame: pd.DataFrame) -> np.ndarray:
    low, open_, close = (frame[c].to_numpy() for c in ("low", "open", "close"))
    return low > np.minimum(open_, close)


def _high_below_body(frame: pd.DataFrame) -> np.ndarray:
    high, open_, close = (frame[c].to_numpy() for c in ("high", "open", "close"))
    return high < np.maximum(open_, close)


BAR_RULES: list[RowRule] = [
    _non_finite(["open", "high", "low", "close"], "non_finite_price", "price"),
    _below(
        ["open", "high", "low", "close"],
        "non_positive_price",
        "rows with a price <= 0",
        floor=0,
        strict=True,
    ),
    RowRule(
        "low_above_body",
        "rows where low > min(open, close)",
        _low_above_body,
        lambda r: (
            "low " + fmt(r["low"]) + " > min(open, close) " + fmt(np.minimum(r["open"], r["close"]))
        ),
    ),
    RowRule(
        "high_below_body",
        "rows where high < max(open, close)",
        _high_below_body,
        lambda r: (
            "high "
            + fmt(r["high"])
            + " < max(open, close) "
            + fmt(np.maximum(r["open"], r["close"]))
        ),
    ),
    _non_finite(["volume"], "non_finite_volume", "volume"),
    _below(["volume"], "negative_volume", "rows with volume < 0", floor=0, strict=False),
]

QUOTE_RULES: list[RowRule] = [
    _non_finite(["bid", "ask"], "non_finite_price", "bid or ask"),
    _below(
        ["bid", "ask"], "non_positive_price", "rows with a bid or ask <= 0", floor=0, strict=True
    ),
    RowRule(
        "crossed_quote",
        "rows where bid > ask",
        lambda f: (f["bid"] > f["ask"]).to_numpy(),
        lambda r: "bid " + fmt(r["bid"]) + " > ask " + fmt(r["ask"]),
    ),
    _non_finite(["bid_size", "ask_size"], "non_finite_size", "bid_size or ask_size"),
    _below(
        ["bid_size", "ask_size"],
        "negative_size",
        "rows with a negative size",
        floor=0,
        strict=False,
    ),
]


def _expiry_before_ts(frame: pd.DataFrame) -> np.ndarray:
    return (frame["expiry"] < frame["ts"]).to_numpy()


def _unknown_type(frame: pd.DataFrame) -> np.ndarray:
    return ~frame["option_type"].isin(OPTION_TYPES).to_numpy()


def _optional_negative(frame: pd.DataFrame, columns: list[str]) -> np.ndarray:
    present = [c for c in columns if c in frame.columns]
    if not present:
        return np.zeros(len(frame), dtype=bool)
    return np.logical_or.reduce([(frame[c] < 0).to_numpy() for c in present])


OPTION_RULES: list[RowRule] = [
    RowRule(
        "unknown_option_type",
        "rows whose option_type is not 'C' or 'P'",
        _unknown_type,
        lambda r: "option_type = " + r["option_type"].map(repr) + " is not 'C' or 'P'",
    ),
    _non_finite(
        ["strike", "bid", "ask", "underlying_price"],
        "non_finite_price",
        "strike, bid, ask or underlying_price",
    ),
    _below(["strike"], "non_positive_strike", "rows with strike <= 0", floor=0, strict=True),
    _below(
        ["ask", "underlying_price"],
        "non_positive_price",
        "rows with ask or underlying_price <= 0",
        floor=0,
        strict=True,
    ),
    _below(
        ["bid", "last"], "negative_price", "rows with a negative bid or last", floor=0, strict=False
    ),
    RowRule(
        "crossed_quote",
        "rows where bid > ask",
        lambda f: (f["bid"] > f["ask"]).to_numpy(),
        lambda r: "bid " + fmt(r["bid"]) + " > ask " + fmt(r["ask"]),
    ),
    RowRule(
        "expiry_before_ts",
        "rows whose expiry is before the snapshot time ts",
        _expiry_before_ts,
        lambda r: "expiry " + r["expiry"].astype(str) + " < ts " + r["ts"].astype(str),
    ),
    RowRule(
        "negative_volume",
        "rows with negative volume or open_interest",
        lambda f: _optional_negative(f, ["volume", "open_interest"]),
        lambda r: _first_failing(r, ["volume", "open_interest"], lambda s: s < 0, " < 0"),
    ),
    RowRule(
        "negative_implied_volatility",
        "rows with a negative implied_volatility",
        lambda f: _optional_negative(f, ["implied_volatility"]),
        lambda r: "implied_volatility = " + fmt(r["implied_volatility"]) + " < 0",
    ),
]

ROW_RULES: dict[str, list[RowRule]] = {
    "bars": BAR_RULES,
    "quotes": QUOTE_RULES,
    "option_chains": OPTION_RULES,
}
