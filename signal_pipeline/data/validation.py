"""Validation of bars, quotes and option chains against their contracts.

Two kinds of problems:

* table-wide ones make the table unusable as a whole and always raise: missing
  columns (``missing_columns``), time stamps without a zone and no ``tz=``
  (``naive_timestamps``), time going backwards within a symbol (``unsorted``, unless
  ``sort=True``);
* row-level ones (bad prices, impossible high/low, negative volume, unreadable cells,
  duplicate keys ...) raise by default; with ``errors="quarantine"`` the offending rows
  are set aside in a quarantine table with the rule and a readable reason, and
  counted. Nothing is dropped silently.

``check_*`` functions return a :class:`TableCheck` (valid rows + quarantine);
``validate_*`` functions return the valid rows and raise or warn.
"""

from __future__ import annotations

import warnings
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import Literal

import numpy as np
import pandas as pd

from signal_pipeline.data.contracts import (
    CONTRACTS,
    UTC_DTYPE,
    TableContract,
    parse_timestamps,
    to_float,
    to_text,
)
from signal_pipeline.data.rules import ROW_RULES

Errors = Literal["raise", "quarantine"]
_SHOWN_ROWS = 10
_QUARANTINE_FIX = "fix the source or pass errors='quarantine' to set them aside"


class DataContractError(ValueError):
    """A table broke its contract. ``rule`` is the (first) broken rule, ``rows`` the
    0-based positions of the offending rows in the input (empty for table-wide
    problems), ``counts`` the number of rows per broken rule."""

    def __init__(
        self,
        message: str,
        *,
        source: str | None,
        rule: str,
        rows: Sequence[int] = (),
        counts: Mapping[str, int] | None = None,
    ) -> None:
        super().__init__(message)
        self.source = source
        self.rule = rule
        self.rows = [int(r) for r in rows]
        self.counts = dict(counts) if counts is not None else {rule: len(self.rows)}


class BarDataError(DataContractError):
    """Bars broke the bar contract."""


class QuoteDataError(DataContractError):
    """Quotes broke the quote contract."""


class OptionChainError(DataContractError):
    """An option chain broke the option-chain contract."""


class DataQuarantineWarning(UserWarning):
    """Rows were set aside in quarantine (``errors='quarantine'``)."""


ERROR_CLASSES: dict[str, type[DataContractError]] = {
    "bars": BarDataError,
    "quotes": QuoteDataError,
    "option_chains": OptionChainError,
}


@dataclass(frozen=True)
class TableCheck:
    """Outcome of checking one table.

    ``valid``: the rows that pass, in contract dtypes, sorted by the key, RangeIndex.
    ``quarantine``: one row per rejected input row: ``source``, ``row`` (0-based
    position in the input), ``rule`` (the first rule it broke), ``reason`` (every rule
    it broke, readable), then its values in contract dtypes (unreadable cells are NaN/NaT,
    the reason quotes the original text).
    """

    kind: str
    source: str | None
    valid: pd.DataFrame
    quarantine: pd.DataFrame
    ignored_columns: list[str] = field(default_factory=list)

    @property
    def counts(self) -> dict[str, int]:
        """Quarantined rows per rule (first broken rule of each row)."""
        found = self.quarantine["rule"].value_counts(sort=False)
        return {rule: int(found[rule]) for rule in rule_order(self.kind) if rule in found.index}

    @property
    def n_quarantined(self) -> int:
        return len(self.quarantine)


BarCheck = TableCheck


def check_bars(
    df: pd.DataFrame, *, source: str | None = None, tz: str | None = None, sort: bool = False
) -> TableCheck:
    """Split bars into valid rows and quarantined rows; raise on table-wide problems."""
    return check_table(df, "bars", source=source, tz=tz, sort=sort)


def check_quotes(
    df: pd.DataFrame, *, source: str | None = None, tz: str | None = None, sort: bool = False
) -> TableCheck:
    return check_table(df, "quotes", source=source, tz=tz, sort=sort)


def check_option_chains(
    df: pd.DataFrame, *, source: str | None = None, tz: str | None = None, sort: bool = False
) -> TableCheck:
    return check_table(df, "option_chains", source=source, tz=tz, sort=sort)


def validate_bars(
    df: pd.DataFrame,
    *,
    source: str | None = None,
    tz: str | None = None,
    errors: Errors = "raise",
    sort: bool = False,
) -> pd.DataFrame:
    """Bars in contract form, or :class:`BarDataError` naming the file, rule and rows.

    ``tz`` localises naive stamps (aware ones are converted to UTC whatever ``tz``
    says). ``errors="quarantine"`` returns only the valid rows, warns with
    :class:`DataQuarantineWarning` and records ``{rule: count}`` in
    ``result.attrs["quarantined"]``; use :func:`check_bars` for the quarantine table.
    ``sort=True`` sorts rows whose time goes backwards instead of raising ``unsorted``.
    """
    return _validate(df, "bars", source=source, tz=tz, errors=errors, sort=sort)


def validate_quotes(
    df: pd.DataFrame,
    *,
    source: str | None = None,
    tz: str | None = None,
    errors: Errors = "raise",
    sort: bool = False,
) -> pd.DataFrame:
    """Quotes in contract form, or :class:`QuoteDataError` (see :func:`validate_bars`)."""
    return _validate(df, "quotes", source=source, tz=tz, errors=errors, sort=sort)


def validate_option_chains(
    df: pd.DataFrame,
    *,
    source: str | None = None,
    tz: str | None = None,
    errors: Errors = "raise",
    sort: bool = False,
) -> pd.DataFrame:
    """Option chains in contract form, or :class:`OptionChainError` (see :func:`validate_bars`)."""
    return _validate(df, "option_chains", source=source, tz=tz, errors=errors, sort=sort)


def _validate(
    df: pd.DataFrame, kind: str, *, source: str | None, tz: str | None, errors: Errors, sort: bool
) -> pd.DataFrame:
    if errors not in ("raise", "quarantine"):
        raise ValueError(f"errors={errors!r} is not one of 'raise', 'quarantine'")
    check = check_table(df, kind, source=source, tz=tz, sort=sort)
    if check.n_quarantined == 0:
        return check.valid
    if errors == "raise":
        raise quarantine_error(check)
    warn_quarantined(check)
    check.valid.attrs["quarantined"] = check.counts
    return check.valid


def warn_quarantined(check: TableCheck) -> None:
    """Report set-aside rows; the caller decides where the table itself goes."""
    label = check.source or f"{check.kind} frame"
    detail = ", ".join(f"{rule}: {n}" for rule, n in check.counts.items())
    warnings.warn(
        f"{label}: {check.n_quarantined} of {check.n_quarantined + len(check.valid)} rows set aside in "
        f"quarantine ({detail})",
        DataQuarantineWarning,
        stacklevel=3,
    )


def quarantine_error(check: TableCheck) -> DataContractError:
    """The error that ``errors='raise'`` raises for a table with rejected rows."""
    label = check.source or f"{check.kind} frame"
    clauses = []
    groups = dict(list(check.quarantine.groupby("rule", sort=False)))
    by_rule = [(rule, groups[rule]) for rule in check.counts]
    first_rule, first_rows = by_rule[0][0], by_rule[0][1]["row"].tolist()
    for rule, group in by_rule:
        rows = group["row"].tolist()
        summary = _summary(check.kind, rule)
        if len(rows) == 1:
            summary = summary.replace("rows", "row", 1)
        example = group["reason"].iloc[0]
        clauses.append(
            f"{len(rows)} {summary} (rule: {rule}) at rows {_show(rows)}, e.g. {example}"
        )
    message = f"{label}: " + "; ".join(clauses) + f"; {_QUARANTINE_FIX}"
    return ERROR_CLASSES[check.kind](
        message, source=check.source, rule=first_rule, rows=first_rows, counts=check.counts
    )


def check_table(
    df: pd.DataFrame,
    kind: str,
    *,
    source: str | None = None,
    tz: str | None = None,
    sort: bool = False,
) -> TableCheck:
    """Validate ``df`` against the contract of ``kind`` (bars, quotes, option_chains)."""
    contract = CONTRACTS[kind]
    error = ERROR_CLASSES[kind]
    label = source or f"{kind} frame"
    missing = [c for c in contract.required if c not in df.columns]
    if missing:
        raise error(
            f"{label}: missing columns {missing} (rule: missing_columns); found {list(df.columns)}; "
            f"rename them (loaders take columns={{'vendor name': 'contract name'}})",
            source=source,
            rule="missing_columns",
        )
    present = contract.required + [c for c in contract.optional if c in df.columns]
    ignored = [str(c) for c in df.columns if c not in present]
    frame, row_reasons = _coerce(df, contract, present, tz=tz, source=source, label=label)
    masks: dict[str, np.ndarray] = dict(row_reasons.masks)
    for rule in ROW_RULES[kind]:
        masks[rule.name] = masks.get(rule.name, np.zeros(len(frame), bool)) | rule.test(frame)
    no_key = np.zeros(len(frame), bool)
    has_key = ~(masks.get("missing_symbol", no_key) | masks.get("bad_timestamp", no_key))
    order = _key_order(frame, contract, has_key, sort=sort, label=label, source=source, error=error)
    bad = np.logical_or.reduce(list(masks.values())) if masks else np.zeros(len(frame), bool)
    dup_mask, dup_reason = find_duplicates(frame, contract, ~bad)
    masks["duplicate_key"] = dup_mask
    bad |= dup_mask
    quarantine = _quarantine_table(frame, kind, masks, row_reasons.reasons, dup_reason, source)
    keep = order[~bad[order]]
    valid = frame.take(keep).reset_index(drop=True)
    return TableCheck(
        kind=kind, source=source, valid=valid, quarantine=quarantine, ignored_columns=ignored
    )


@dataclass
class _CoercionReport:
    masks: dict[str, np.ndarray]
    reasons: dict[str, pd.Series]


def _coerce(
    df: pd.DataFrame,
    contract: TableContract,
    present: list[str],
    *,
    tz: str | None,
    source: str | None,
    label: str,
) -> tuple[pd.DataFrame, _CoercionReport]:
    """Contract dtypes, plus row rules for cells that could not be read."""
    n = len(df)
    columns: dict[str, pd.Series | np.ndarray] = {}
    report = _CoercionReport({}, {})
    unreadable = np.zeros(n, bool)
    unreadable_reason = pd.Series("", index=pd.RangeIndex(n), dtype=object)
    for name in present:
        raw = df[name].reset_index(drop=True)
        if name in contract.text_columns:
            columns[name] = to_text(raw)
        elif name in contract.time_columns:
            parsed = parse_timestamps(raw, tz=tz)
            if len(parsed.naive_rows):
                rows = parsed.naive_rows.tolist()
                raise ERROR_CLASSES[contract.kind](
                    f"{label}: {len(rows)} time stamps in {name!r} have no time zone (rule: naive_timestamps) "
                    f"at rows {_show(rows)}, e.g. {raw.iloc[rows[0]]!r}; pass tz='America/New_York' (or the "
                    f"zone they were written in), or write them with a UTC offset",
                    source=source,
                    rule="naive_timestamps",
                    rows=rows,
                )
            columns[name] = parsed.values.reset_index(drop=True)
            missing = raw.isna().to_numpy() | parsed.unparsed
            if missing.any():
                report.masks["bad_timestamp"] = (
                    report.masks.get("bad_timestamp", np.zeros(n, bool)) | missing
                )
                text = raw[missing].astype(str)
                why = (name + " = " + text.map(repr) + " is not a valid time stamp").where(
                    raw[missing].notna(), name + " is missing"
                )
                report.reasons.setdefault("bad_timestamp", pd.Series(dtype=object))
                report.reasons["bad_timestamp"] = pd.concat([report.reasons["bad_timestamp"], why])
        else:
            numbers, unparsed = to_float(raw)
            columns[name] = numbers
            if unparsed.any():
                unreadable |= unparsed
                unreadable_reason[unparsed] += (
                    name + " = " + raw[unparsed].astype(str).map(repr) + " is not a number "
                )
    if "symbol" in columns:
        report.masks["missing_symbol"] = pd.isna(columns["symbol"]).to_numpy()
    if unreadable.any():
        report.masks["unreadable_value"] = unreadable
        report.reasons["unreadable_value"] = unreadable_reason[unreadable].str.strip()
    frame = pd.DataFrame(columns)
    for name in contract.time_columns:
        frame[name] = frame[name].astype(UTC_DTYPE)
    return frame, report


def _key_order(
    frame: pd.DataFrame,
    contract: TableContract,
    has_key: np.ndarray,
    *,
    sort: bool,
    label: str,
    source: str | None,
    error: type[DataContractError],
) -> np.ndarray:
    """Row order of the output: grouped by symbol (keeping each symbol's own order), or
    fully sorted when ``sort``. Time going backwards within a symbol is an error unless
    ``sort``, since it usually means a broken or mis-stamped file."""
    n = len(frame)
    symbols = frame["symbol"].where(pd.Series(has_key), "")
    codes, _ = pd.factorize(symbols, sort=True)
    ts = frame["ts"].array.asi8.copy()
    ts[~has_key] = np.iinfo(np.int64).min
    extra = [c for c in contract.key if c not in ("symbol", "ts")]
    if sort:
        return np.lexsort([*(sortable(frame[c]) for c in reversed(extra)), ts, codes])
    grouped = np.arange(n) if (np.diff(codes) >= 0).all() else np.argsort(codes, kind="stable")
    g_codes, g_ts = codes[grouped], ts[grouped]
    backwards = (g_codes[1:] == g_codes[:-1]) & (g_ts[1:] < g_ts[:-1]) & has_key[grouped][1:]
    if backwards.any():
        rows = np.sort(grouped[1:][backwards]).tolist()
        first = rows[0]
        raise error(
            f"{label}: {len(rows)} rows whose ts is earlier than the previous row of the same symbol "
            f"(rule: unsorted) at rows {_show(rows)}, e.g. row {first} ({frame['symbol'].iloc[first]}, "
            f"{frame['ts'].iloc[first]}); sort the file by (symbol, ts) or pass sort=True",
            source=source,
            rule="unsorted",
            rows=rows,
        )
    if extra:
        # Within one (symbol, ts) snapshot the remaining key columns give a stable order.
        return np.lexsort([*(sortable(frame[c]) for c in reversed(extra)), ts, codes])
    return grouped


def sortable(values: pd.Series) -> np.ndarray:
    """A column as numbers whose order is the column's order (for np.lexsort)."""
    if isinstance(values.dtype, pd.DatetimeTZDtype):
        return values.array.asi8
    if values.dtype == object:
        return pd.factorize(values, sort=True)[0]
    return values.to_numpy()


def find_duplicates(
    frame: pd.DataFrame, contract: TableContract, candidates: np.ndarray
) -> tuple[np.ndarray, pd.Series]:
    """Rows that share a key with another otherwise-valid row.

    An exact copy of an earlier row is set aside and the first kept (vendor exports
    that overlap); rows that share a key but disagree are all set aside, since nothing
    says which one is right.
    """
    mask = np.zeros(len(frame), bool)
    idx = np.flatnonzero(candidates)
    shared = frame.iloc[idx][contract.key].duplicated(keep=False).to_numpy()
    if not shared.any():
        return mask, pd.Series(dtype=object)
    positions = idx[shared]
    rows = frame.iloc[positions].reset_index(drop=True)
    group = rows.groupby(contract.key, sort=False).ngroup().to_numpy()
    first = pd.Series(positions).groupby(group).transform("min").to_numpy()
    copy = rows.duplicated(keep="first").to_numpy()
    conflict = np.zeros(len(rows), bool)
    conflict[~copy] = rows[~copy][contract.key].duplicated(keep=False).to_numpy()
    size = pd.Series(~copy).groupby(group).transform("sum").to_numpy()
    key_text = ", ".join(contract.key)
    texts = np.full(len(rows), "", dtype=object)
    for i in np.flatnonzero(copy | conflict):
        texts[i] = (
            f"exact copy of row {first[i]}"
            if copy[i]
            else f"{size[i]} rows share this ({key_text}) with different values, first at row {first[i]}"
        )
    hit = copy | conflict
    mask[positions[hit]] = True
    return mask, pd.Series(texts[hit], index=positions[hit])


def _quarantine_table(
    frame: pd.DataFrame,
    kind: str,
    masks: dict[str, np.ndarray],
    coercion_reasons: dict[str, pd.Series],
    dup_reason: pd.Series,
    source: str | None,
) -> pd.DataFrame:
    order = rule_order(kind)
    builders = {r.name: r.reason for r in ROW_RULES[kind]}
    n = len(frame)
    first_rule = np.full(n, -1, dtype=np.int64)
    reasons = np.full(n, "", dtype=object)
    for number, name in enumerate(order):
        mask = masks.get(name)
        if mask is None or not mask.any():
            continue
        positions = np.flatnonzero(mask)
        if name in builders:
            text = builders[name](frame.iloc[positions]).to_numpy(dtype=object)
        elif name == "duplicate_key":
            text = dup_reason.reindex(positions).to_numpy(dtype=object)
        elif name == "missing_symbol":
            text = np.full(len(positions), "symbol is missing", dtype=object)
        else:
            text = (
                coercion_reasons[name]
                .groupby(level=0)
                .agg("; ".join)
                .reindex(positions)
                .to_numpy(dtype=object)
            )
        unset = first_rule[positions] < 0
        first_rule[positions[unset]] = number
        previous = reasons[positions]
        reasons[positions] = np.where(previous == "", text, previous + "; " + text.astype(str))
    bad = np.flatnonzero(first_rule >= 0)
    table = frame.take(bad).reset_index(drop=True)
    table.insert(0, "reason", pd.Series(reasons[bad], dtype=object))
    table.insert(0, "rule", pd.Series(np.array(order, dtype=object)[first_rule[bad]], dtype=object))
    table.insert(0, "row", bad.astype(np.int64))
    table.insert(0, "source", source or "")
    return table


def rule_order(kind: str) -> list[str]:
    """Row-level rules of ``kind`` in the order they are checked (a row's ``rule`` is
    the first one it breaks)."""
    return [
        "missing_symbol",
        "bad_timestamp",
        "unreadable_value",
        *[r.name for r in ROW_RULES[kind]],
        "duplicate_key",
    ]


def _summary(kind: str, rule: str) -> str:
    summaries = {r.name: r.summary for r in ROW_RULES[kind]}
    summaries.update(
        missing_symbol="rows without a symbol",
        bad_timestamp="rows with a missing or unreadable time stamp",
        unreadable_value="rows with a value that is not a number",
        duplicate_key="rows whose key is not unique",
    )
    return summaries.get(rule, f"rows breaking {rule}")


def _show(rows: Sequence[int]) -> str:
    shown = ", ".join(str(r) for r in rows[:_SHOWN_ROWS])
    more = f", ... {len(rows) - _SHOWN_ROWS} more" if len(rows) > _SHOWN_ROWS else ""
    return f"[{shown}{more}]"
