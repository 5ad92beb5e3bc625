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

from dataclasses import dataclass
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
from signal_pipeline.data.errors import (
    ERROR_CLASSES,
    BarDataError,
    DataContractError,
    DataQuarantineWarning,
    OptionChainError,
    QuoteDataError,
    show_rows,
)
from signal_pipeline.data.keys import adjacent_keys_repeat, find_duplicates, key_order, sortable
from signal_pipeline.data.quarantine import (
    TableCheck,
    quarantine_error,
    quarantine_table,
    rule_order,
    warn_quarantined,
)
from signal_pipeline.data.rules import ROW_RULES

Errors = Literal["raise", "quarantine"]
BarCheck = TableCheck

__all__ = [
    "ERROR_CLASSES",
    "BarCheck",
    "BarDataError",
    "DataContractError",
    "DataQuarantineWarning",
    "OptionChainError",
    "QuoteDataError",
    "TableCheck",
    "check_bars",
    "check_option_chains",
    "check_quotes",
    "check_table",
    "find_duplicates",
    "quarantine_error",
    "rule_order",
    "sortable",
    "validate_bars",
    "validate_option_chains",
    "validate_quotes",
    "warn_quarantined",
]


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
    keys = {column: sortable(frame[column]) for column in contract.key}
    order = key_order(
        frame, contract, keys, has_key, sort=sort, label=label, source=source, error=error
    )
    bad = np.logical_or.reduce(list(masks.values())) if masks else np.zeros(len(frame), bool)
    if adjacent_keys_repeat(keys, order):
        dup_mask, dup_reason = find_duplicates(frame, contract, ~bad)
    else:
        dup_mask, dup_reason = np.zeros(len(frame), bool), pd.Series(dtype=object)
    masks["duplicate_key"] = dup_mask
    bad |= dup_mask
    quarantine = quarantine_table(frame, kind, masks, row_reasons.reasons, dup_reason, source)
    keep = order[~bad[order]]
    in_place = len(keep) == len(frame) and bool((np.diff(keep) > 0).all())
    valid = frame if in_place else frame.take(keep).reset_index(drop=True)
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
    if not df.index.equals(pd.RangeIndex(n)):
        # positions are the row numbers every message uses
        df = df.set_axis(pd.RangeIndex(n), axis=0, copy=False)
    for name in present:
        raw = df[name]
        if name in contract.text_columns:
            columns[name] = to_text(raw)
        elif name in contract.time_columns:
            parsed = parse_timestamps(raw, tz=tz)
            if len(parsed.naive_rows):
                rows = parsed.naive_rows.tolist()
                raise ERROR_CLASSES[contract.kind](
                    f"{label}: {len(rows)} time stamps in {name!r} have no time zone (rule: naive_timestamps) "
                    f"at rows {show_rows(rows)}, e.g. {raw.iloc[rows[0]]!r}; pass tz='America/New_York' (or the "
                    f"zone they were written in), or write them with a UTC offset",
                    source=source,
                    rule="naive_timestamps",
                    rows=rows,
                )
            columns[name] = parsed.values
            missing = raw.isna().to_numpy() | parsed.unparsed
            if missing.any():
                report.masks["bad_timestamp"] = (
                    report.masks.get("bad_timestamp", np.zeros(n, bool)) | missing
                )
                text = raw[missing].astype(str)
                zone = f" in {tz}" if tz else ""
                why = (name + " = " + text.map(repr) + f" is not a valid time stamp{zone}").where(
                    raw[missing].notna(), name + " is missing or unreadable"
                )
                report.reasons.setdefault("bad_timestamp", pd.Series(dtype=object))
                report.reasons["bad_timestamp"] = pd.concat([report.reasons["bad_timestamp"], why])
        else:
            numbers, unparsed = to_float(raw)
            columns[name] = numbers
            if unparsed.any():
                unreadable |= unparsed
                unreadable_reason[unparsed] += (
                    "; " + name + " = " + raw[unparsed].astype(str).map(repr) + " is not a number"
                )
    if "symbol" in columns:
        report.masks["missing_symbol"] = pd.isna(columns["symbol"]).to_numpy()
    if unreadable.any():
        report.masks["unreadable_value"] = unreadable
        report.reasons["unreadable_value"] = unreadable_reason[unreadable].str.removeprefix("; ")
    frame = pd.DataFrame(columns, copy=False)
    for name in contract.time_columns:
        if frame[name].dtype != UTC_DTYPE:
            frame[name] = frame[name].astype(UTC_DTYPE)
    return frame, report
