"""Vendor column names to contract column names.

An explicit ``columns={"vendor name": "contract name"}`` mapping always wins; the
remaining columns are matched by normalised name (lower case, letters and digits only)
against the aliases below, which cover the common vendor shapes (Yahoo, pandas
``to_csv`` output with the date as unnamed index, Polygon/Alpaca one-letter names,
option-chain exports). Columns that match nothing are reported, not kept.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass

import pandas as pd

from signal_pipeline.data.file_reading import normalise_name

# For each contract column, the normalised vendor names it may come under, best first.
# "" and "unnamed0" are the nameless first column that pandas writes for an index.
_TS = ["ts", "timestamp", "datetime", "date", "time", "t", "index", "unnamed0", ""]
_BAR_ALIASES: dict[str, list[str]] = {
    "ts": _TS,
    "symbol": ["symbol", "ticker", "sym"],
    "open": ["open", "o", "openprice"],
    "high": ["high", "h", "highprice"],
    "low": ["low", "l", "lowprice"],
    "close": ["close", "c", "closeprice"],
    "adj_close": ["adjclose", "adjustedclose"],
    "volume": ["volume", "vol", "v"],
    "vwap": ["vwap", "vw"],
    "trades": ["trades", "n", "numtrades", "tradecount", "transactions", "numberoftrades"],
    "bid": ["bid", "bidprice"],
    "ask": ["ask", "askprice"],
}
_QUOTE_ALIASES: dict[str, list[str]] = {
    "ts": _TS,
    "symbol": ["symbol", "ticker", "sym"],
    "bid": ["bid", "bidprice", "bp"],
    "ask": ["ask", "askprice", "ap"],
    "bid_size": ["bidsize", "bidsz", "bs"],
    "ask_size": ["asksize", "asksz", "as"],
}
_OPTION_ALIASES: dict[str, list[str]] = {
    "ts": [
        "ts",
        "timestamp",
        "quotedate",
        "quotetime",
        "snapshottime",
        "datetime",
        "date",
        "time",
        "index",
        "unnamed0",
        "",
    ],
    "symbol": ["underlyingsymbol", "root", "symbol", "ticker"],
    "expiry": [
        "expiry",
        "expiration",
        "expirationdate",
        "expirydate",
        "expdate",
        "exp",
        "maturity",
    ],
    "strike": ["strike", "strikeprice", "k"],
    "option_type": ["optiontype", "type", "cp", "callput", "putcall", "right", "cpflag"],
    "bid": ["bid", "bidprice"],
    "ask": ["ask", "askprice"],
    "last": ["last", "lastprice", "lasttradeprice"],
    "volume": ["volume", "vol"],
    "open_interest": ["openinterest", "oi"],
    "underlying_price": ["underlyingprice", "underlyinglast", "spot", "spotprice"],
    "implied_volatility": ["impliedvolatility", "iv", "impliedvol"],
}
ALIASES: dict[str, dict[str, list[str]]] = {
    "bars": _BAR_ALIASES,
    "quotes": _QUOTE_ALIASES,
    "option_chains": _OPTION_ALIASES,
}
# Columns whose values name things: read as text, never as numbers or booleans.
TEXT_ALIASES: frozenset[str] = frozenset(
    _BAR_ALIASES["symbol"] + _OPTION_ALIASES["symbol"] + _OPTION_ALIASES["option_type"]
)


class ColumnMappingError(Exception):
    """Columns that cannot be matched to the contract unambiguously."""

    def __init__(self, message: str, *, rule: str) -> None:
        super().__init__(message)
        self.rule = rule


@dataclass(frozen=True)
class MappedColumns:
    frame: pd.DataFrame
    renamed: dict[str, str]
    ignored: list[str]


def map_columns(
    frame: pd.DataFrame, kind: str, columns: Mapping[str, str] | None = None
) -> MappedColumns:
    """Rename vendor columns to contract names; keep only the columns that matched.

    A file with separate date and time columns (and no combined one) gets them joined
    into ``ts``.
    """
    aliases = ALIASES[kind]
    explicit = dict(columns or {})
    unknown = [c for c in explicit if c not in frame.columns]
    if unknown:
        raise ColumnMappingError(
            f"columns={explicit} names {unknown}, which the file does not have (rule: unknown_mapping); "
            f"its columns are {list(frame.columns)}",
            rule="unknown_mapping",
        )
    renamed: dict[str, str] = dict(explicit)
    taken = set(explicit.values())
    by_norm: dict[str, list[str]] = {}
    for name in frame.columns:
        if name not in explicit:
            by_norm.setdefault(normalise_name(name), []).append(name)

    out = frame
    if "ts" not in taken and kind != "option_chains" and _has_split_date_time(by_norm):
        date_col, time_col = by_norm["date"][0], by_norm["time"][0]
        out = frame.copy()
        out["ts"] = frame[date_col].astype("string") + " " + frame[time_col].astype("string")
        renamed.update({"ts": "ts"})
        taken.add("ts")
        del by_norm["date"], by_norm["time"]

    for target, names in aliases.items():
        if target in taken:
            continue
        present = [(norm, by_norm[norm]) for norm in names if norm in by_norm]
        if not present:
            continue
        candidates = [vendor for _, vendors in present for vendor in vendors]
        # For the time stamp the alias order is a preference (a "timestamp" column beats
        # an unnamed index); for values two candidates mean we cannot tell which is meant.
        if len(candidates) > 1 and target != "ts":
            raise ColumnMappingError(
                f"columns {candidates} could all be {target!r} (rule: ambiguous_columns); "
                f"pass columns={{{candidates[0]!r}: {target!r}}}",
                rule="ambiguous_columns",
            )
        renamed[candidates[0]] = target
        taken.add(target)
        for norm, _ in present:
            by_norm.pop(norm, None)

    keep = [c for c in out.columns if c in renamed]
    ignored = [c for c in frame.columns if c not in renamed and c not in _consumed(renamed, frame)]
    mapped = out[keep].rename(columns={k: v for k, v in renamed.items() if k != v})
    return MappedColumns(mapped, {k: v for k, v in renamed.items() if k in frame.columns}, ignored)


def _has_split_date_time(by_norm: dict[str, list[str]]) -> bool:
    combined = {"ts", "timestamp", "datetime", "t"}
    return "date" in by_norm and "time" in by_norm and not combined & by_norm.keys()


def _consumed(renamed: dict[str, str], frame: pd.DataFrame) -> set[str]:
    """Vendor columns folded into ``ts`` (separate date and time columns)."""
    if renamed.get("ts") != "ts" or "ts" in frame.columns:
        return set()
    return {c for c in frame.columns if normalise_name(c) in ("date", "time")}
