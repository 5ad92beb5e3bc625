"""Key order and key uniqueness of contract tables, on integer codes.

Symbols become sorted integer codes and time stamps int64 nanoseconds once, so order
checks, sorting and the duplicate test are numpy operations on millions of rows.
"""

from __future__ import annotations

import numpy as np
import pandas as pd

from signal_pipeline.data.contracts import TableContract
from signal_pipeline.data.errors import DataContractError, show_rows


def key_order(
    frame: pd.DataFrame,
    contract: TableContract,
    keys: dict[str, np.ndarray],
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
    codes, ts = keys["symbol"], keys["ts"]
    extra = [keys[c] for c in reversed(contract.key) if c not in ("symbol", "ts")]
    if sort:
        return np.lexsort([*extra, ts, codes])
    grouped = np.arange(n) if (np.diff(codes) >= 0).all() else np.argsort(codes, kind="stable")
    g_codes, g_ts = codes[grouped], ts[grouped]
    backwards = (g_codes[1:] == g_codes[:-1]) & (g_ts[1:] < g_ts[:-1]) & has_key[grouped][1:]
    if backwards.any():
        rows = np.sort(grouped[1:][backwards]).tolist()
        first = rows[0]
        raise error(
            f"{label}: {len(rows)} rows whose ts is earlier than the previous row of the same symbol "
            f"(rule: unsorted) at rows {show_rows(rows)}, e.g. row {first} ({frame['symbol'].iloc[first]}, "
            f"{frame['ts'].iloc[first]}); sort the file by (symbol, ts) or pass sort=True",
            source=source,
            rule="unsorted",
            rows=rows,
        )
    if extra:
        # Within one (symbol, ts) snapshot the remaining key columns give a stable order.
        return np.lexsort([*extra, ts, codes])
    return grouped


def adjacent_keys_repeat(keys: dict[str, np.ndarray], order: np.ndarray) -> bool:
    """Cheap test for any repeated key: in key order, repeats sit next to each other."""
    if len(order) < 2:
        return False
    same = np.ones(len(order) - 1, bool)
    for values in keys.values():
        ordered = values[order]
        same &= ordered[1:] == ordered[:-1]
    return bool(same.any())


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
