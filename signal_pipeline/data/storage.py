"""Parquet datasets under one root folder, written atomically, queried with DuckDB.

Layout (Hive-style, so DuckDB, pyarrow and Spark all read it as is)::

    <root>/<table>/date=YYYY-MM-DD/symbol=XYZ/part-0.parquet   # partitioned tables
    <root>/<table>/part-0.parquet                              # small, unpartitioned tables

``date`` is the exchange session date of ``ts`` (America/New_York), so one Dagster
daily partition is one ``date=`` folder. A partition is written to a hidden temporary
folder and then renamed into place: a killed run leaves either the old partition or
the new one, never a half-written file that readers could see (the glob readers use,
``date=*/symbol=*/*.parquet``, never matches a ``.tmp-*`` folder).
"""

from __future__ import annotations

import os
import shutil
import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Literal

import duckdb
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.parquet as pq

SESSION_TZ = "America/New_York"
_TMP_PREFIX = ".tmp-"
_OLD_PREFIX = ".old-"


class WarehouseError(RuntimeError):
    """A warehouse table is missing or cannot be written as asked."""


@dataclass(frozen=True)
class WriteSummary:
    """What one write put on disk."""

    table: str
    rows: int
    partitions: tuple[str, ...]
    files: int


def session_dates(ts: pd.Series) -> pd.Series:
    """Exchange session date (America/New_York) of UTC close stamps, as 'YYYY-MM-DD'."""
    # format each distinct day once: strftime over millions of rows costs seconds
    days = ts.dt.tz_convert(SESSION_TZ).dt.tz_localize(None).to_numpy().astype("datetime64[D]")
    codes, uniques = pd.factorize(days)
    labels = np.asarray(pd.DatetimeIndex(uniques).strftime("%Y-%m-%d"), dtype=object)
    return pd.Series(labels[codes], index=ts.index, name=ts.name)


class Warehouse:
    """The project's Parquet datasets. Cheap to construct; holds no open handles."""

    def __init__(self, root: str | os.PathLike[str]) -> None:
        self.root = Path(root)

    # ---------------------------------------------------------------- paths
    def table_path(self, table: str) -> Path:
        if not table or "/" in table or table.startswith("."):
            raise WarehouseError(f"invalid table name {table!r}: use a plain name like 'raw_bars'")
        return self.root / table

    def tables(self) -> list[str]:
        if not self.root.exists():
            return []
        return sorted(
            p.name for p in self.root.iterdir() if p.is_dir() and not p.name.startswith(".")
        )

    def partitions(self, table: str) -> list[str]:
        """The session dates present in a date-partitioned table, sorted."""
        path = self.table_path(table)
        if not path.exists():
            return []
        return sorted(
            p.name.removeprefix("date=") for p in path.iterdir() if p.name.startswith("date=")
        )

    # ---------------------------------------------------------------- writes
    def write_partitioned(
        self, table: str, df: pd.DataFrame, *, replace: Literal["date", "symbol"] = "date"
    ) -> WriteSummary:
        """Write rows keyed by (symbol, ts), one ``date=`` folder per session date.

        ``replace="date"``: each session date present in ``df`` replaces that whole date
        folder atomically; other dates are left untouched (so re-running a Dagster
        partition is idempotent). ``replace="symbol"``: only the (date, symbol) files
        present in ``df`` are replaced, each atomically, so a large table can be written
        one symbol at a time in bounded memory.
        """
        missing = {"symbol", "ts"} - set(df.columns)
        if missing:
            raise WarehouseError(f"{table}: cannot partition without columns {sorted(missing)}")
        if df.empty:
            return WriteSummary(table, 0, (), 0)
        # Convert to Arrow once and hand each (date, symbol) group a zero-copy slice:
        # per-group pandas conversion dominated the cost of writing thousands of files.
        dates = session_dates(df["ts"]).to_numpy()
        symbols = df["symbol"].astype(str).to_numpy()
        order = np.lexsort((symbols, dates))  # stable: keeps the ts order within a group
        dates, symbols = dates[order], symbols[order]
        arrow = pa.Table.from_pandas(
            df.drop(columns=["symbol"]).iloc[order].reset_index(drop=True), preserve_index=False
        )
        starts = np.flatnonzero(
            np.r_[True, (dates[1:] != dates[:-1]) | (symbols[1:] != symbols[:-1])]
        )
        ends = np.r_[starts[1:], len(order)]
        groups: dict[str, list[tuple[str, pa.Table]]] = {}
        for a, b in zip(starts, ends, strict=True):
            groups.setdefault(str(dates[a]), []).append((str(symbols[a]), arrow.slice(a, b - a)))
        replace_one = self._replace_date if replace == "date" else self._replace_symbols
        files = sum(replace_one(table, date, parts) for date, parts in groups.items())
        return WriteSummary(table, len(df), tuple(groups), files)

    def _replace_date(self, table: str, date: str, parts: list[tuple[str, pa.Table]]) -> int:
        base = self.table_path(table)
        base.mkdir(parents=True, exist_ok=True)
        tmp = base / f"{_TMP_PREFIX}date={date}-{uuid.uuid4().hex[:8]}"
        tmp.mkdir()
        try:
            for symbol, rows in parts:
                folder = tmp / f"symbol={symbol}"
                folder.mkdir()
                pq.write_table(rows, folder / "part-0.parquet")
            _fsync_dir(tmp)
            final = base / f"date={date}"
            old = base / f"{_OLD_PREFIX}date={date}-{uuid.uuid4().hex[:8]}"
            if final.exists():
                os.rename(final, old)
            os.rename(tmp, final)
            _fsync_dir(base)
        except BaseException:
            shutil.rmtree(tmp, ignore_errors=True)
            raise
        shutil.rmtree(old, ignore_errors=True)
        return len(parts)

    def _replace_symbols(self, table: str, date: str, parts: list[tuple[str, pa.Table]]) -> int:
        folder = self.table_path(table) / f"date={date}"
        for symbol, rows in parts:
            target = folder / f"symbol={symbol}" / "part-0.parquet"
            target.parent.mkdir(parents=True, exist_ok=True)
            tmp = folder / f"{_TMP_PREFIX}{symbol}-{uuid.uuid4().hex[:8]}.parquet"
            try:
                pq.write_table(rows, tmp)
                os.replace(tmp, target)
            finally:
                tmp.unlink(missing_ok=True)
        return len(parts)

    def write_table(self, table: str, df: pd.DataFrame) -> WriteSummary:
        """Replace an unpartitioned table with ``df`` atomically (temp file + rename)."""
        base = self.table_path(table)
        base.mkdir(parents=True, exist_ok=True)
        final = base / "part-0.parquet"
        tmp = base / f"{_TMP_PREFIX}{uuid.uuid4().hex[:8]}.parquet"
        try:
            pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp)
            os.replace(tmp, final)
        finally:
            tmp.unlink(missing_ok=True)
        return WriteSummary(table, len(df), (), 1)

    def append_table(self, table: str, df: pd.DataFrame) -> WriteSummary:
        """Add ``df`` as one more immutable file of an unpartitioned table (e.g. quarantine)."""
        base = self.table_path(table)
        base.mkdir(parents=True, exist_ok=True)
        name = f"part-{pd.Timestamp.now(tz='UTC').strftime('%Y%m%dT%H%M%S')}-{uuid.uuid4().hex[:8]}"
        tmp = base / f"{_TMP_PREFIX}{name}.parquet"
        try:
            pq.write_table(pa.Table.from_pandas(df, preserve_index=False), tmp)
            os.replace(tmp, base / f"{name}.parquet")
        finally:
            tmp.unlink(missing_ok=True)
        return WriteSummary(table, len(df), (), 1)

    def clean_leftovers(self) -> int:
        """Tidy up after a killed writer; returns how many leftovers were handled.

        Temporary folders are removed; a partition caught between the two renames of a
        swap (only its ``.old-`` copy exists) is put back.
        """
        removed = 0
        for path in [
            *self.root.glob(f"*/{_TMP_PREFIX}*"),
            *self.root.glob(f"*/date=*/{_TMP_PREFIX}*"),
        ]:
            shutil.rmtree(path, ignore_errors=True) if path.is_dir() else path.unlink()
            removed += 1
        for path in self.root.glob(f"*/{_OLD_PREFIX}*"):
            # killed between the two renames of a swap: the old partition is the live one
            final = path.parent / path.name.removeprefix(_OLD_PREFIX).rsplit("-", 1)[0]
            if not final.exists():
                os.rename(path, final)
            else:
                shutil.rmtree(path, ignore_errors=True)
            removed += 1
        return removed

    # ---------------------------------------------------------------- reads
    def _source(self, table: str) -> str:
        path = self.table_path(table)
        if not path.exists():
            raise WarehouseError(
                f"table {table!r} does not exist under {self.root}; materialise it first "
                f"(known tables: {self.tables() or 'none'})"
            )
        if any(p.name.startswith("date=") for p in path.iterdir()):
            return (
                f"read_parquet('{path.as_posix()}/date=*/symbol=*/*.parquet', "
                "hive_partitioning = true, hive_types = {'date': VARCHAR, 'symbol': VARCHAR}, "
                "union_by_name = true)"
            )
        return f"read_parquet('{path.as_posix()}/part-*.parquet', union_by_name = true)"

    def connect(self, tables: Iterable[str] | None = None) -> duckdb.DuckDBPyConnection:
        """An in-memory DuckDB connection with one view per (named) table."""
        con = duckdb.connect()
        con.execute("SET TimeZone = 'UTC'")
        for table in tables if tables is not None else self.tables():
            con.execute(f'CREATE VIEW "{table}" AS SELECT * FROM {self._source(table)}')
        return con

    def query(self, sql: str, params: Sequence[object] | None = None) -> pd.DataFrame:
        """Run SQL over every table (each is a view of the same name)."""
        with self.connect() as con:
            return con.execute(sql, params or []).df()

    def read(
        self,
        table: str,
        *,
        symbols: Sequence[str] | None = None,
        start: str | pd.Timestamp | None = None,
        end: str | pd.Timestamp | None = None,
        dates: Sequence[str] | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Rows of a table, sorted by (symbol, ts) when it has them.

        ``start``/``end`` bound ``ts`` (inclusive, UTC); ``dates`` selects session dates
        (partition pruning); ``symbols`` selects symbols.
        """
        where: list[str] = []
        params: list[object] = []
        partitioned = bool(self.partitions(table))
        if symbols is not None:
            where.append("symbol IN (SELECT unnest(?))")
            params.append(list(symbols))
        if dates is not None and partitioned:
            where.append("date IN (SELECT unnest(?))")
            params.append(list(dates))
        for bound, op in ((start, ">="), (end, "<=")):
            if bound is not None:
                where.append(f"ts {op} CAST(? AS TIMESTAMPTZ_NS)")
                params.append(
                    pd.Timestamp(bound, tz="UTC")
                    if pd.Timestamp(bound).tzinfo is None
                    else pd.Timestamp(bound).tz_convert("UTC")
                )
        select = ", ".join(f'"{c}"' for c in columns) if columns else "*"
        if partitioned and not columns:
            select = "* EXCLUDE (date)"
        sql = f"SELECT {select} FROM {self._source(table)}"
        if where:
            sql += " WHERE " + " AND ".join(where)
        with duckdb.connect() as con:
            con.execute("SET TimeZone = 'UTC'")
            out = con.execute(sql, params).df()
        return _restore_order(out)


def _restore_order(df: pd.DataFrame) -> pd.DataFrame:
    # DuckDB hands nanosecond time stamps back without their zone; every time stamp of
    # the contracts is UTC, so restore it (and the ns unit) on every datetime column.
    for column in df.columns:
        if pd.api.types.is_datetime64_any_dtype(df[column]):
            df[column] = pd.to_datetime(df[column], utc=True).astype("datetime64[ns, UTC]")
    keys = [k for k in ("symbol", "ts") if k in df.columns]
    if keys:
        df = df.sort_values(keys, kind="stable").reset_index(drop=True)
        if "symbol" in df.columns:
            df.insert(0, "symbol", df.pop("symbol"))
    return df


def _fsync_dir(path: Path) -> None:
    """Make a rename durable: a rename is only on disk once its directory is synced."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
