"""The tiny dialect layer: one code path over PostgreSQL (psycopg 3) and SQLite (sqlite3).

SQL in this package is written once with ``:name`` placeholders and portable syntax
(``ON CONFLICT``, ``RETURNING``, CTEs, window functions). What differs between the two
engines lives here and only here: how a URL connects, the placeholder style, how a
timestamp / JSON / boolean travels, how a write transaction starts, and which
exceptions mean "the database is not reachable right now".
"""

from __future__ import annotations

import json
import re
import sqlite3
from collections.abc import Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal
from urllib.parse import parse_qs, urlsplit

import psycopg
from psycopg.rows import dict_row
from psycopg.types.json import Jsonb

DialectName = Literal["postgresql", "sqlite"]
Row = dict[str, Any]

_SQLITE_TS_FORMAT = "%Y-%m-%d %H:%M:%S.%f"
# A quoted literal (left alone) or a `:name` placeholder (not a `::` cast).
_NAMED_PARAM = re.compile(r"'(?:[^']|'')*'|(?<![:\w]):([A-Za-z_]\w*)")


class SignalStoreError(RuntimeError):
    """Base class of the signal store's errors."""


class UnsupportedDatabaseURLError(SignalStoreError, ValueError):
    """The URL names neither PostgreSQL nor SQLite."""


class DatabaseUnavailableError(SignalStoreError):
    """The database could not be reached or refused the work (connection lost, locked)."""


@dataclass(frozen=True)
class DatabaseURL:
    """A parsed signals-database URL (SQLAlchemy style)."""

    dialect: DialectName
    target: str  # the psycopg conninfo, or the SQLite file path
    options: Mapping[str, str]

    @classmethod
    def parse(cls, url: str) -> DatabaseURL:
        """``postgresql://user@host:5432/db`` (``+psycopg`` accepted) or ``sqlite:///path.db``.

        SQLite options: ``?timeout=SECONDS`` (how long a writer waits for a lock, default 30).
        """
        scheme, sep, rest = url.partition("://")
        scheme = scheme.split("+", 1)[0].lower()
        if not sep:
            raise UnsupportedDatabaseURLError(
                f"signals database URL {url!r} has no scheme; use 'postgresql://user@host/db' "
                "or 'sqlite:///path/to/signals.db'"
            )
        if scheme in ("postgresql", "postgres"):
            return cls("postgresql", f"postgresql://{rest}", {})
        if scheme == "sqlite":
            path, _, query = rest.partition("?")
            if not path.startswith("/") or path == "/":
                raise UnsupportedDatabaseURLError(
                    f"SQLite URL {url!r} needs a file path: 'sqlite:///relative.db' or "
                    "'sqlite:////absolute/path.db'"
                )
            options = {k: v[-1] for k, v in parse_qs(query).items()}
            return cls("sqlite", path[1:], options)
        raise UnsupportedDatabaseURLError(
            f"signals database URL {url!r} has scheme {scheme!r}; supported: 'postgresql', 'sqlite'"
        )

    def redacted(self) -> str:
        """The URL without a password, for messages and file names."""
        if self.dialect == "sqlite":
            return f"sqlite:///{self.target}"
        parts = urlsplit(self.target)
        netloc = parts.netloc.rsplit("@", 1)
        user = netloc[0].split(":", 1)[0] + "@" if len(netloc) == 2 else ""
        return f"postgresql://{user}{netloc[-1]}{parts.path}"


class Dialect:
    """Everything engine-specific about running this package's SQL."""

    name: DialectName

    def __init__(self, url: DatabaseURL) -> None:
        self.url = url
        self.name = url.dialect

    # ------------------------------------------------------------ connections
    def connect(self, connect_timeout: float = 5.0) -> Any:
        """A new connection in autocommit mode; transactions are explicit (:meth:`transaction`)."""
        try:
            if self.name == "postgresql":
                return psycopg.connect(
                    self.url.target,
                    autocommit=True,
                    row_factory=dict_row,
                    connect_timeout=max(1, round(connect_timeout)),
                )
            path = Path(self.url.target)
            path.parent.mkdir(parents=True, exist_ok=True)
            timeout = float(self.url.options.get("timeout", 30.0))
            conn = sqlite3.connect(path, timeout=timeout, isolation_level=None)
            conn.row_factory = _sqlite_dict_row
            # WAL: readers never block the writer and vice versa (API reads during writes).
            conn.execute("PRAGMA journal_mode=WAL")
            conn.execute("PRAGMA synchronous=NORMAL")
            return conn
        except self.unavailable_errors as exc:
            raise DatabaseUnavailableError(
                f"cannot connect to the signals database {self.url.redacted()}: {exc}"
            ) from exc

    @property
    def unavailable_errors(self) -> tuple[type[BaseException], ...]:
        """Exceptions meaning "try again later" (not a bug in the SQL or the data)."""
        if self.name == "postgresql":
            return (psycopg.OperationalError,)
        return (sqlite3.OperationalError,)

    def is_broken(self, conn: Any) -> bool:
        if self.name == "postgresql":
            return bool(conn.closed or conn.broken)
        return False

    @contextmanager
    def transaction(self, conn: Any, *, write: bool = True) -> Iterator[Any]:
        """One transaction. SQLite writers take the write lock up front (BEGIN IMMEDIATE) so
        two writers never deadlock upgrading read locks."""
        if self.name == "postgresql":
            with conn.transaction():
                yield conn
            return
        conn.execute("BEGIN IMMEDIATE" if write else "BEGIN")
        try:
            yield conn
        except BaseException:
            conn.execute("ROLLBACK")
            raise
        conn.execute("COMMIT")

    # ------------------------------------------------------------ statements
    def sql(self, text: str) -> str:
        """Placeholders ``:name`` in the dialect's style (psycopg: ``%(name)s``)."""
        if self.name == "sqlite":
            return text
        return _NAMED_PARAM.sub(
            lambda m: m.group(0) if m.group(1) is None else f"%({m.group(1)})s",
            text.replace("%", "%%"),
        )

    def encode(self, value: Any) -> Any:
        """A Python value as the driver wants it."""
        if isinstance(value, datetime):
            value = value.astimezone(UTC)
            return value if self.name == "postgresql" else value.strftime(_SQLITE_TS_FORMAT)
        if isinstance(value, dict):
            return Jsonb(value) if self.name == "postgresql" else json.dumps(value)
        if isinstance(value, bool) and self.name == "sqlite":
            return int(value)
        return value

    def params(self, params: Mapping[str, Any] | None) -> dict[str, Any]:
        return {k: self.encode(v) for k, v in (params or {}).items()}

    def decode_ts(self, value: Any) -> datetime | None:
        if value is None:
            return None
        if isinstance(value, datetime):
            return value.astimezone(UTC)
        return datetime.fromisoformat(str(value)).replace(tzinfo=UTC)

    def decode_json(self, value: Any) -> dict[str, Any]:
        if value is None:
            return {}
        return value if isinstance(value, dict) else json.loads(value)

    def execute(self, conn: Any, text: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Run one statement; the rows it returns (empty for statements without rows)."""
        cur = conn.execute(self.sql(text), self.params(params))
        if cur.description is None:
            return []
        return list(cur.fetchall())

    def execute_columns(
        self, conn: Any, text: str, params: Mapping[str, Any] | None = None
    ) -> tuple[list[str], list[Row]]:
        """Like :meth:`execute`, plus the result's column names (known even with no rows)."""
        cur = conn.execute(self.sql(text), self.params(params))
        if cur.description is None:
            return [], []
        return [d[0] for d in cur.description], list(cur.fetchall())

    def execute_script(self, conn: Any, script: str) -> None:
        """Run a ``.sql`` file statement by statement (inside the caller's transaction)."""
        for statement in split_statements(script):
            conn.execute(statement)


def in_list(prefix: str, values: Sequence[Any]) -> tuple[str, dict[str, Any]]:
    """``(:p0, :p1, ...)`` and its params: an IN list both drivers accept."""
    names = [f"{prefix}{i}" for i in range(len(values))]
    return "(" + ", ".join(f":{n}" for n in names) + ")", dict(zip(names, values, strict=True))


def split_statements(script: str) -> list[str]:
    """Statements of a SQL script (our files have no procedural bodies)."""
    statements: list[str] = []
    buffer: list[str] = []
    for line in script.splitlines():
        if not buffer and (not line.strip() or line.strip().startswith("--")):
            continue
        buffer.append(line)
        candidate = "\n".join(buffer)
        if sqlite3.complete_statement(candidate):
            statements.append(candidate.strip())
            buffer = []
    if "\n".join(buffer).strip():
        statements.append("\n".join(buffer).strip())
    return statements


def _sqlite_dict_row(cursor: sqlite3.Cursor, row: tuple[Any, ...]) -> Row:
    return {col[0]: value for col, value in zip(cursor.description, row, strict=True)}
