"""The column contracts of bars, quotes and option chains, and dtype coercion.

A contract names the columns a table must have, the ones it may have, the key that
identifies a row and the dtype of each column. Coercion turns whatever a caller or a
file produced (strings, integers, naive stamps, other units) into those dtypes and
reports which cells it could not convert instead of hiding them: validation turns
those reports into row-level rule violations.
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field

import numpy as np
import pandas as pd
from pandas.api.types import is_bool_dtype, is_datetime64_any_dtype, is_numeric_dtype

# Lists, not tuples: ``df[BAR_COLUMNS]`` must select columns, and pandas reads a tuple
# as one (MultiIndex) key.
BAR_COLUMNS: list[str] = ["symbol", "ts", "open", "high", "low", "close", "volume"]
OPTIONAL_BAR_COLUMNS: list[str] = ["vwap", "trades", "bid", "ask"]
BAR_PRICE_COLUMNS: list[str] = ["open", "high", "low", "close"]
BAR_KEY: list[str] = ["symbol", "ts"]

QUOTE_COLUMNS: list[str] = ["symbol", "ts", "bid", "ask", "bid_size", "ask_size"]
QUOTE_KEY: list[str] = ["symbol", "ts"]

OPTION_COLUMNS: list[str] = [
    "symbol",
    "ts",
    "expiry",
    "strike",
    "option_type",
    "bid",
    "ask",
    "last",
    "volume",
    "open_interest",
    "underlying_price",
]
OPTIONAL_OPTION_COLUMNS: list[str] = ["implied_volatility"]
OPTION_KEY: list[str] = ["symbol", "ts", "expiry", "option_type", "strike"]
OPTION_TYPES: frozenset[str] = frozenset({"C", "P"})

UTC_DTYPE = pd.DatetimeTZDtype(unit="ns", tz="UTC")

# A written UTC offset or "Z" at the end of a time stamp string.
_OFFSET_AT_END = re.compile(r"(?:Z|[+-]\d{2}:?\d{2})$")
# Integers in this range are calendar dates written as YYYYMMDD, not epoch seconds
# (epoch seconds that small would be dates in 1970).
_YYYYMMDD_RANGE = (18000101, 22001231)


@dataclass(frozen=True)
class TableContract:
    """What one kind of table must look like."""

    kind: str
    required: list[str]
    optional: list[str]
    key: list[str]
    time_columns: list[str]
    text_columns: list[str]
    float_columns: list[str] = field(init=False)

    def __post_init__(self) -> None:
        other = set(self.time_columns) | set(self.text_columns)
        floats = [c for c in self.required + self.optional if c not in other]
        object.__setattr__(self, "float_columns", floats)


BARS = TableContract(
    kind="bars",
    required=BAR_COLUMNS,
    optional=OPTIONAL_BAR_COLUMNS,
    key=BAR_KEY,
    time_columns=["ts"],
    text_columns=["symbol"],
)
QUOTES = TableContract(
    kind="quotes",
    required=QUOTE_COLUMNS,
    optional=[],
    key=QUOTE_KEY,
    time_columns=["ts"],
    text_columns=["symbol"],
)
OPTION_CHAINS = TableContract(
    kind="option_chains",
    required=OPTION_COLUMNS,
    optional=OPTIONAL_OPTION_COLUMNS,
    key=OPTION_KEY,
    time_columns=["ts", "expiry"],
    text_columns=["symbol", "option_type"],
)
CONTRACTS: dict[str, TableContract] = {c.kind: c for c in (BARS, QUOTES, OPTION_CHAINS)}


@dataclass(frozen=True)
class ParsedTimes:
    """Result of :func:`parse_timestamps`.

    ``values`` is datetime64[ns, UTC] unless ``naive_rows`` is non-empty (then the
    caller must refuse the column: it holds wall-clock times of an unknown zone).
    ``unparsed`` marks cells that held something but could not be read as a moment.
    """

    values: pd.Series
    naive_rows: np.ndarray
    unparsed: np.ndarray


def parse_timestamps(values: pd.Series, *, tz: str | None) -> ParsedTimes:
    """Read a column of time stamps as UTC moments.

    Aware stamps (tz-aware dtype, strings with an offset or ``Z``, integer epochs) are
    converted to UTC. Naive stamps (no zone) are localised to ``tz``; without ``tz``
    their positions are returned in ``naive_rows`` because guessing a zone would shift
    every bar by hours without anyone noticing. Local times that do not exist or are
    ambiguous in ``tz`` (daylight-saving changes) become unparsed cells.
    """
    n = len(values)
    index = values.index
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return ParsedTimes(_as_utc_ns(values), np.empty(0, dtype=np.int64), np.zeros(n, bool))
    if is_datetime64_any_dtype(values.dtype):
        return _localise(values.astype("datetime64[ns]"), values, tz)
    if is_numeric_dtype(values.dtype) and not is_bool_dtype(values.dtype):
        return _parse_numeric(values, tz)

    present = values.notna().to_numpy()
    sample = values[present]
    if len(sample) and not isinstance(sample.iloc[0], str):
        # datetime/date objects (e.g. from Parquet date columns or Python code)
        parsed = pd.to_datetime(values, errors="coerce")
        if isinstance(parsed.dtype, pd.DatetimeTZDtype):
            return ParsedTimes(_as_utc_ns(parsed), np.empty(0, np.int64), present & parsed.isna())
        return _localise(parsed.astype("datetime64[ns]"), values, tz)

    text = values.astype("string").str.strip()
    has_offset = text.str.contains(_OFFSET_AT_END, regex=True).fillna(False).to_numpy(bool)
    out = pd.Series(pd.NaT, index=index, dtype=UTC_DTYPE)
    unparsed = np.zeros(n, dtype=bool)
    naive_rows = np.empty(0, dtype=np.int64)
    if has_offset.any():
        aware = _to_datetime(text[has_offset], utc=True)
        out[has_offset] = aware
        unparsed[has_offset] = aware.isna().to_numpy()
    naive_mask = present & ~has_offset
    if naive_mask.any():
        naive = _to_datetime(text[naive_mask], utc=False)
        unparsed[naive_mask] = naive.isna().to_numpy()
        if tz is None:
            naive_rows = np.flatnonzero(naive_mask & ~unparsed)
        else:
            local = _localise(naive.astype("datetime64[ns]"), text[naive_mask], tz)
            out[naive_mask] = local.values
            unparsed[naive_mask] |= local.unparsed
    return ParsedTimes(out, naive_rows, unparsed)


def to_float(values: pd.Series) -> tuple[pd.Series, np.ndarray]:
    """Column as float64 plus a mask of cells that held text that is not a number."""
    if is_numeric_dtype(values.dtype):
        return values.astype("float64", copy=False), np.zeros(len(values), dtype=bool)
    numbers = pd.to_numeric(values, errors="coerce").astype("float64")
    unparsed = values.notna().to_numpy() & numbers.isna().to_numpy()
    return numbers, unparsed


def to_text(values: pd.Series) -> pd.Series:
    """Column as Python ``str`` objects with missing cells as ``None``; blank = missing.

    Names repeat (a few symbols over millions of rows), so each distinct value is
    cleaned once and the result spread back by its code.
    """
    codes, uniques = pd.factorize(values, use_na_sentinel=True)
    cleaned = [str(u).strip() or None for u in uniques]
    lookup = np.array([*cleaned, None], dtype=object)  # code -1 (missing) -> None
    return pd.Series(lookup[codes], index=values.index, dtype=object)


def _as_utc_ns(values: pd.Series) -> pd.Series:
    return values.dt.tz_convert("UTC").astype(UTC_DTYPE)


def _to_datetime(text: pd.Series, *, utc: bool) -> pd.Series:
    """ISO 8601 first (fast, exact); other layouts by pandas' format inference."""
    parsed = pd.to_datetime(text, errors="coerce", format="ISO8601", utc=utc)
    retry = parsed.isna() & text.notna()
    if retry.any():
        parsed[retry] = pd.to_datetime(text[retry], errors="coerce", utc=utc)
    return parsed


def _localise(naive: pd.Series, original: pd.Series, tz: str | None) -> ParsedTimes:
    present = original.notna().to_numpy() & naive.notna().to_numpy()
    unparsed = original.notna().to_numpy() & naive.isna().to_numpy()
    if tz is None:
        nat = pd.Series(pd.NaT, index=naive.index, dtype=UTC_DTYPE)
        return ParsedTimes(nat, np.flatnonzero(present), unparsed)
    local = naive.dt.tz_localize(tz, ambiguous="NaT", nonexistent="NaT")
    unparsed = unparsed | (present & local.isna().to_numpy())
    return ParsedTimes(_as_utc_ns(local), np.empty(0, np.int64), unparsed)


def _parse_numeric(values: pd.Series, tz: str | None) -> ParsedTimes:
    """Integers are YYYYMMDD dates or epoch counts; the magnitude tells which unit."""
    numbers = values.astype("float64")
    finite = numbers[np.isfinite(numbers)]
    if len(finite) and finite.between(*_YYYYMMDD_RANGE).all():
        text = values.astype("Int64").astype("string")
        naive = pd.to_datetime(text, format="%Y%m%d", errors="coerce")
        return _localise(naive, values, tz)
    magnitude = float(finite.abs().max()) if len(finite) else 0.0
    unit = (
        "s"
        if magnitude < 1e11
        else "ms"
        if magnitude < 1e14
        else "us"
        if magnitude < 1e17
        else "ns"
    )
    parsed = pd.to_datetime(numbers, unit=unit, utc=True, errors="coerce")
    unparsed = values.notna().to_numpy() & parsed.isna().to_numpy()
    return ParsedTimes(parsed.astype(UTC_DTYPE), np.empty(0, np.int64), unparsed)
