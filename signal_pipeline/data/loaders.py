"""Reading bars, quotes and option chains from files into their contracts.

``ingest_files`` is the one path every reader goes through: find the files, read each
one, map vendor columns, settle time stamps (zone, open or close, daily dates), apply
price adjustment, validate (raise, or quarantine the bad rows), then join the files and
check keys across them. ``read_bars`` / ``read_quotes`` / ``read_option_chains`` return
just the validated table.
"""

from __future__ import annotations

import datetime as dt
import warnings
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Literal

import numpy as np
import pandas as pd

from signal_pipeline.data.bar_stamps import (
    DEFAULT_SESSION_TZ,
    SessionTime,
    StampError,
    to_close_stamps,
)
from signal_pipeline.data.column_mapping import (
    ALIASES,
    TEXT_ALIASES,
    ColumnMappingError,
    map_columns,
)
from signal_pipeline.data.contracts import CONTRACTS, parse_timestamps
from signal_pipeline.data.file_reading import (
    FileReadError,
    expand_paths,
    file_stem,
    read_table_file,
)
from signal_pipeline.data.validation import (
    ERROR_CLASSES,
    DataContractError,
    DataQuarantineWarning,
    TableCheck,
    check_table,
    quarantine_error,
    rule_order,
    sortable,
)

Kind = Literal["bars", "quotes", "option_chains"]
PathsLike = str | Path | Iterable[str | Path]


@dataclass(frozen=True)
class LoadOptions:
    """How to read files. Every field has a default that fits the common vendor shapes.

    ``columns``: ``{"vendor name": "contract name"}``, on top of the built-in aliases.
    ``tz``: zone of naive stamps (aware stamps keep their own offset).
    ``stamp``: ``"open"``, ``"close"`` or ``"auto"`` (read from the session times).
    ``bar_interval``: bar length for open->close shifts, e.g. ``"1min"`` (inferred).
    ``session_open`` / ``session_close``: ``"HH:MM"`` or ``"HH:MM Area/City"``.
    ``price``: with an adjusted-close column (Yahoo's ``Adj Close``), ``"adjusted"``
    scales open/high/low/close by adj_close / close; ``"raw"`` ignores it. Files
    without one are read as they are either way.
    ``errors``: ``"raise"`` or ``"quarantine"``. ``sort``: sort rows whose time goes
    backwards instead of refusing the file.
    """

    columns: Mapping[str, str] | None = None
    tz: str | None = None
    stamp: Literal["auto", "open", "close"] = "auto"
    bar_interval: str | pd.Timedelta | None = None
    session_open: str | dt.time = "09:30"
    session_close: str | dt.time = "16:00"
    price: Literal["adjusted", "raw"] = "adjusted"
    errors: Literal["raise", "quarantine"] = "raise"
    sort: bool = False

    def __post_init__(self) -> None:
        choices = {
            "stamp": ("auto", "open", "close"),
            "price": ("adjusted", "raw"),
            "errors": ("raise", "quarantine"),
        }
        for name, allowed in choices.items():
            if getattr(self, name) not in allowed:
                raise ValueError(f"{name}={getattr(self, name)!r} is not one of {allowed}")
        if self.bar_interval is not None:
            try:
                interval = pd.Timedelta(self.bar_interval)
            except ValueError as exc:
                raise ValueError(
                    f"bar_interval={self.bar_interval!r} is not a duration such as '1min' or '1D'"
                ) from exc
            if interval <= pd.Timedelta(0):
                raise ValueError(f"bar_interval={self.bar_interval!r} must be positive")
        SessionTime.parse(self.session_open)
        SessionTime.parse(self.session_close)


@dataclass(frozen=True)
class FileReport:
    """What happened to one file."""

    path: str
    rows_read: int
    rows_valid: int
    rows_quarantined: int
    symbols: list[str]
    columns: dict[str, str]
    ignored_columns: list[str]
    bar_interval: str | None = None
    stamp: str | None = None


@dataclass(frozen=True)
class IngestResult:
    """Validated rows of all files, the rows set aside, and one report per file."""

    kind: str
    table: pd.DataFrame
    quarantine: pd.DataFrame
    files: list[FileReport] = field(default_factory=list)

    @property
    def bars(self) -> pd.DataFrame:
        """The validated table (named for the common case)."""
        return self.table

    @property
    def counts(self) -> dict[str, int]:
        """Quarantined rows per rule."""
        found = self.quarantine["rule"].value_counts(sort=False)
        return {rule: int(found[rule]) for rule in rule_order(self.kind) if rule in found.index}

    @property
    def rows_read(self) -> int:
        return sum(f.rows_read for f in self.files)


def read_bars(path: PathsLike, symbol: str | None = None, **options: Any) -> pd.DataFrame:
    """Bars from CSV / Parquet files in contract form (see :class:`LoadOptions`).

    Raises :class:`~signal_pipeline.data.validation.BarDataError` naming the file, the
    rule and the rows. With ``errors="quarantine"`` bad rows are left out, a
    :class:`DataQuarantineWarning` reports them and ``attrs["quarantined"]`` counts
    them by rule; :func:`ingest_files` returns the quarantine table itself.
    """
    return _read(path, "bars", symbol, options)


def read_quotes(path: PathsLike, symbol: str | None = None, **options: Any) -> pd.DataFrame:
    """Quotes from files (options as :func:`read_bars`, less stamp/price handling)."""
    return _read(path, "quotes", symbol, options)


def read_option_chains(path: PathsLike, symbol: str | None = None, **options: Any) -> pd.DataFrame:
    """Option chains from files. Expiry (and snapshot) dates without a time of day
    become the session close of that date; ``C``/``call``/``P``/``put`` in any case are
    read as ``'C'``/``'P'``."""
    return _read(path, "option_chains", symbol, options)


def ingest_files(
    paths: PathsLike, *, symbol: str | None = None, kind: Kind = "bars", **options: Any
) -> IngestResult:
    """Read, normalise and validate every file named by ``paths`` (file, directory, glob
    or list of them). Options: :class:`LoadOptions`."""
    opts = LoadOptions(**options)
    if kind not in CONTRACTS:
        raise ValueError(f"kind={kind!r} is not one of {sorted(CONTRACTS)}")
    error = ERROR_CLASSES[kind]
    try:
        files = expand_paths(paths)
    except FileReadError as exc:
        raise error(str(exc), source=exc.source, rule=exc.rule) from exc
    checks: list[TableCheck] = []
    reports: list[FileReport] = []
    for path in files:
        check, report = _ingest_one(path, kind, symbol, opts)
        checks.append(check)
        reports.append(report)
    table, quarantine = _combine(checks, kind)
    if opts.errors == "raise" and len(quarantine):
        raise quarantine_error(TableCheck(kind, _label(files), table, quarantine))
    return IngestResult(kind, table, quarantine, reports)


def _read(path: PathsLike, kind: Kind, symbol: str | None, options: dict[str, Any]) -> pd.DataFrame:
    result = ingest_files(path, symbol=symbol, kind=kind, **options)
    if len(result.quarantine):
        detail = ", ".join(f"{rule}: {n}" for rule, n in result.counts.items())
        warnings.warn(
            f"{len(result.quarantine)} of {result.rows_read} rows set aside in quarantine ({detail}); "
            "ingest_files() returns them with the reasons",
            DataQuarantineWarning,
            stacklevel=3,
        )
        result.table.attrs["quarantined"] = result.counts
    return result.table


def _ingest_one(
    path: Path, kind: Kind, symbol: str | None, opts: LoadOptions
) -> tuple[TableCheck, FileReport]:
    error = ERROR_CLASSES[kind]
    source = str(path)
    text_columns = TEXT_ALIASES | {
        n for n, target in (opts.columns or {}).items() if target in ("symbol", "option_type")
    }
    try:
        raw, date_only = read_table_file(path, text_columns=text_columns)
        mapped = map_columns(raw, kind, opts.columns)
    except (FileReadError, ColumnMappingError) as exc:
        message = str(exc) if str(exc).startswith(source) else f"{source}: {exc}"
        raise error(message, source=source, rule=exc.rule) from exc
    frame = mapped.frame
    frame["symbol"] = _symbols(frame, symbol, path, error)
    missing = [c for c in CONTRACTS[kind].required if c not in frame.columns]
    if missing:
        raise error(
            f"{source}: missing columns {missing} (rule: missing_columns); the file has "
            f"{list(raw.columns)}, unmatched {mapped.ignored}; name them with "
            f"columns={{'<file column>': '{missing[0]}'}}",
            source=source,
            rule="missing_columns",
        )
    session_close = SessionTime.parse(opts.session_close)
    session_open = SessionTime.parse(opts.session_open, session_close.tz)
    date_cols = {target for vendor, target in mapped.renamed.items() if vendor in date_only}
    interval = stamp = None
    try:
        if kind == "bars" and "ts" in frame.columns:
            frame, interval, stamp = _bar_stamps(
                frame, opts, session_open, session_close, "ts" in date_cols
            )
        if kind == "option_chains":
            frame = _option_frame(frame, session_close, date_cols)
    except StampError as exc:
        raise error(f"{source}: {exc}", source=source, rule=exc.rule) from exc
    check = check_table(frame, kind, source=source, tz=opts.tz, sort=opts.sort)
    if opts.errors == "raise" and check.n_quarantined:
        raise quarantine_error(check)
    report = FileReport(
        path=source,
        rows_read=len(raw),
        rows_valid=len(check.valid),
        rows_quarantined=check.n_quarantined,
        symbols=sorted(check.valid["symbol"].unique().tolist()),
        columns=mapped.renamed,
        ignored_columns=mapped.ignored,
        bar_interval=str(interval) if interval is not None else None,
        stamp=stamp,
    )
    return check, report


def _symbols(
    frame: pd.DataFrame, symbol: str | None, path: Path, error: type[DataContractError]
) -> pd.Series | str:
    """The argument, else the file's symbol column, else the file name."""
    if "symbol" not in frame.columns:
        return symbol or file_stem(path)
    if symbol is not None:
        found = frame["symbol"].dropna().astype(str).str.strip().unique().tolist()
        if found and found != [symbol]:
            raise error(
                f"{path}: symbol={symbol!r} was given but the file's symbol column holds {found[:5]} "
                "(rule: symbol_mismatch); drop the symbol argument or fix the file",
                source=str(path),
                rule="symbol_mismatch",
            )
    return frame["symbol"]


def _bar_stamps(
    frame: pd.DataFrame,
    opts: LoadOptions,
    session_open: SessionTime,
    session_close: SessionTime,
    date_only: bool,
) -> tuple[pd.DataFrame, pd.Timedelta | None, str]:
    stamped = to_close_stamps(
        frame["ts"],
        frame["symbol"] if isinstance(frame["symbol"], pd.Series) else pd.Series(frame["symbol"]),
        tz=opts.tz,
        stamp=opts.stamp,
        bar_interval=pd.Timedelta(opts.bar_interval) if opts.bar_interval is not None else None,
        session_open=session_open,
        session_close=session_close,
        date_only=date_only,
    )
    frame["ts"] = stamped.values
    if "adj_close" in frame.columns:
        if opts.price != "raw":
            # Yahoo's adjusted close folds splits and dividends in; scaling the other
            # prices by the same factor keeps each bar's shape.
            factor = pd.to_numeric(frame["adj_close"], errors="coerce") / pd.to_numeric(
                frame["close"], errors="coerce"
            )
            for column in ("open", "high", "low", "close"):
                frame[column] = pd.to_numeric(frame[column], errors="coerce") * factor
        frame = frame.drop(columns="adj_close")
    return frame, stamped.bar_interval, stamped.stamp


def _option_frame(
    frame: pd.DataFrame, session_close: SessionTime, date_cols: set[str]
) -> pd.DataFrame:
    """Dates without a time (snapshot day, expiry day) mean that day's session close."""
    for column in ("ts", "expiry"):
        if column not in frame.columns or not len(
            parse_timestamps(frame[column], tz=None).naive_rows
        ):
            continue
        wall = parse_timestamps(frame[column], tz="UTC").values.dt.tz_localize(None)
        clock = wall.dropna()
        if column in date_cols or (len(clock) > 0 and bool((clock == clock.dt.normalize()).all())):
            frame[column] = session_close.on(wall.dt.normalize())
    if "option_type" in frame.columns:
        text = frame["option_type"].astype("string").str.strip().str.upper()
        frame["option_type"] = (
            text.map({"C": "C", "CALL": "C", "P": "P", "PUT": "P"})
            .fillna(frame["option_type"])
            .astype(object)
        )
    return frame


def _combine(checks: list[TableCheck], kind: str) -> tuple[pd.DataFrame, pd.DataFrame]:
    """One table from several files: sorted by key, with keys unique across files."""
    contract = CONTRACTS[kind]
    quarantine = pd.concat([c.quarantine for c in checks], ignore_index=True)
    if len(checks) == 1:
        return checks[0].valid, quarantine
    table = pd.concat([c.valid for c in checks], ignore_index=True)
    symbols_per_file = [set(c.valid["symbol"].unique()) for c in checks]
    if any(a & b for i, a in enumerate(symbols_per_file) for b in symbols_per_file[i + 1 :]):
        table, across = _duplicates_across_files(table, checks, contract.key)
        quarantine = pd.concat([quarantine, across], ignore_index=True)
    order = np.lexsort([*(sortable(table[c]) for c in reversed(contract.key))])
    if len(order) and not (np.diff(order) > 0).all():
        table = table.take(order).reset_index(drop=True)
    return table, quarantine


def _duplicates_across_files(
    table: pd.DataFrame, checks: list[TableCheck], key: list[str]
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """Keys found in more than one file. As within a file: exact copies are set aside
    and the first kept; rows that disagree are all set aside."""
    sizes = [len(c.valid) for c in checks]
    origin = np.repeat(np.arange(len(checks)), sizes)
    row_in_file = np.arange(len(table)) - np.repeat(
        np.concatenate([[0], np.cumsum(sizes)[:-1]]), sizes
    )
    shared = table.duplicated(subset=key, keep=False).to_numpy()
    copy = shared & table.duplicated(keep="first").to_numpy()
    remaining = shared & ~copy
    conflict = np.zeros(len(table), bool)
    conflict[remaining] = table.loc[remaining].duplicated(subset=key, keep=False).to_numpy()
    hit = copy | conflict
    if not hit.any():
        return table, table.iloc[:0]
    group = table.loc[shared].groupby(key, sort=False).ngroup()
    files_of = (
        pd.Series(origin[shared])
        .groupby(group.to_numpy())
        .agg(lambda o: sorted({checks[i].source or "" for i in o}))
    )
    key_text = ", ".join(key)
    reasons = [
        (
            "exact copy of a row"
            if copy[i]
            else f"({key_text}) also in another file with different values"
        )
        + f"; files {files_of[g]}"
        for i, g in zip(np.flatnonzero(shared), group.to_numpy(), strict=True)
        if hit[i]
    ]
    rows = table.loc[hit].reset_index(drop=True)
    rows.insert(0, "reason", reasons)
    rows.insert(0, "rule", "duplicate_key")
    rows.insert(0, "row", row_in_file[hit].astype(np.int64))
    rows.insert(0, "source", [checks[i].source or "" for i in origin[hit]])
    return table.loc[~hit].reset_index(drop=True), rows


def _label(files: list[Path]) -> str:
    return str(files[0]) if len(files) == 1 else f"{len(files)} files ({files[0].parent})"


__all__ = [
    "ALIASES",
    "DEFAULT_SESSION_TZ",
    "FileReport",
    "IngestResult",
    "LoadOptions",
    "ingest_files",
    "read_bars",
    "read_option_chains",
    "read_quotes",
]
