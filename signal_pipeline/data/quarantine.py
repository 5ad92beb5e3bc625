"""The quarantine: rows set aside with the rule they broke and why.

A :class:`TableCheck` holds the valid rows and the quarantine of one table; the same
table turns into the error ``errors='raise'`` raises or the warning
``errors='quarantine'`` gives, so both always tell the same story.
"""

from __future__ import annotations

import warnings
from dataclasses import dataclass, field

import numpy as np
import pandas as pd

from signal_pipeline.data.errors import (
    ERROR_CLASSES,
    DataContractError,
    DataQuarantineWarning,
    show_rows,
)
from signal_pipeline.data.rules import ROW_RULES

_QUARANTINE_FIX = "fix the source or pass errors='quarantine' to set them aside"


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
            f"{len(rows)} {summary} (rule: {rule}) at rows {show_rows(rows)}, e.g. {example}"
        )
    message = f"{label}: " + "; ".join(clauses) + f"; {_QUARANTINE_FIX}"
    return ERROR_CLASSES[check.kind](
        message, source=check.source, rule=first_rule, rows=first_rows, counts=check.counts
    )


def quarantine_table(
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
