"""Finding data files and reading CSV / Parquet into pandas, nothing more.

CSV goes through Arrow's multithreaded reader (an order of magnitude faster than
pandas' default parser on minute bars) with column types inferred, except for the
columns that name things (symbols, option types): those stay text, so a ticker such as
``NA`` or ``TRUE`` is not read as a missing value or a boolean.
"""

from __future__ import annotations

import csv
import glob
import gzip
import io
from collections.abc import Iterable
from pathlib import Path

import pandas as pd
import pyarrow as pa
import pyarrow.csv as pa_csv
import pyarrow.parquet as pq

CSV_SUFFIXES = (".csv", ".csv.gz", ".txt")
PARQUET_SUFFIXES = (".parquet", ".pq", ".parq")
DATA_SUFFIXES = CSV_SUFFIXES + PARQUET_SUFFIXES


class FileReadError(Exception):
    """A path that names no data file, or a file that cannot be parsed; ``rule`` says which."""

    def __init__(self, message: str, *, source: str, rule: str) -> None:
        super().__init__(message)
        self.source = source
        self.rule = rule


def file_stem(path: Path) -> str:
    """``AAPL.csv.gz`` -> ``AAPL`` (``Path.stem`` would keep ``.csv``)."""
    name = path.name
    for suffix in sorted(DATA_SUFFIXES, key=len, reverse=True):
        if name.lower().endswith(suffix):
            return name[: -len(suffix)]
    return path.stem


def expand_paths(paths: str | Path | Iterable[str | Path]) -> list[Path]:
    """Files named by a path, a directory (its data files, recursively) or a glob, in a
    stable sorted order; each file once."""
    items = [paths] if isinstance(paths, str | Path) else list(paths)
    found: list[Path] = []
    for item in items:
        text = str(item)
        path = Path(text).expanduser()
        if path.is_dir():
            matches = sorted(p for p in path.rglob("*") if p.is_file() and _is_data_file(p))
            what = f"directory {text!r} holds no {', '.join(DATA_SUFFIXES)} files"
        elif any(ch in text for ch in "*?["):
            matches = sorted(
                Path(p) for p in glob.glob(str(path), recursive=True) if Path(p).is_file()
            )
            what = f"pattern {text!r} matches no files"
        elif path.is_file():
            matches, what = [path], ""
        else:
            matches, what = [], f"{text!r} does not exist"
        if not matches:
            raise FileReadError(
                f"{what} (rule: no_files); check the path", source=text, rule="no_files"
            )
        found.extend(matches)
    return list(dict.fromkeys(found))


def read_table_file(
    path: Path, *, text_columns: Iterable[str] = ()
) -> tuple[pd.DataFrame, set[str]]:
    """The file as a DataFrame with the vendor's column names, plus the names of
    columns that hold calendar dates without a time of day.

    ``text_columns``: normalised column names (see :func:`normalise_name`) to keep as
    text. A pandas index stored in a Parquet file becomes an ordinary column.
    """
    wanted = set(text_columns)
    try:
        if _has_suffix(path, PARQUET_SUFFIXES):
            table = pq.read_table(path)
        elif _has_suffix(path, CSV_SUFFIXES):
            header = _csv_header(path)
            types = {name: pa.string() for name in header if normalise_name(name) in wanted}
            table = pa_csv.read_csv(path, convert_options=pa_csv.ConvertOptions(column_types=types))
        else:
            raise FileReadError(
                f"{path}: unknown file type (rule: unknown_format); use one of {', '.join(DATA_SUFFIXES)}",
                source=str(path),
                rule="unknown_format",
            )
    except (pa.ArrowInvalid, OSError, UnicodeDecodeError, csv.Error) as exc:
        raise FileReadError(
            f"{path}: cannot be read ({exc}) (rule: unreadable_file); check that it is a complete CSV or Parquet file",
            source=str(path),
            rule="unreadable_file",
        ) from exc
    date_only = {f.name for f in table.schema if pa.types.is_date(f.type)}
    frame = table.to_pandas(date_as_object=False)
    if not isinstance(frame.index, pd.RangeIndex):
        frame = frame.reset_index()
    frame.columns = [str(c) for c in frame.columns]
    return frame, date_only


def normalise_name(name: str) -> str:
    """``"Adj Close"`` -> ``"adjclose"``, ``"Unnamed: 0"`` -> ``"unnamed0"``."""
    return "".join(ch for ch in str(name).lower() if ch.isalnum())


def _csv_header(path: Path) -> list[str]:
    opener = gzip.open if path.name.lower().endswith(".gz") else open
    with opener(path, "rb") as raw:
        first = raw.readline().decode("utf-8-sig")
    return next(csv.reader(io.StringIO(first)), [])


def _has_suffix(path: Path, suffixes: tuple[str, ...]) -> bool:
    return path.name.lower().endswith(suffixes)


def _is_data_file(path: Path) -> bool:
    return _has_suffix(path, DATA_SUFFIXES) and not path.name.startswith(".")
