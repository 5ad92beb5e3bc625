"""Versioned schema migrations of the signals database, from ``sql/migrations/<dialect>/``.

Each file ``NNNN_name.sql`` is one version. :func:`upgrade` applies the versions not yet
recorded in ``schema_migrations``, each in its own transaction together with its record,
so a failed migration leaves the schema at the previous version. Concurrent upgrades are
serialised (PostgreSQL advisory lock; SQLite write lock) and an already-applied file
whose text changed is refused: the files are the one source of truth.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from signal_pipeline.signals.db import DatabaseURL, Dialect, SignalStoreError

#: Repository root ``sql/`` folder (DDL and analytic queries live beside the package).
SQL_DIR = Path(__file__).resolve().parents[2] / "sql"
_FILE_NAME = re.compile(r"^(\d{4})_([a-z0-9_]+)\.sql$")
#: Arbitrary constant: the PostgreSQL advisory lock id held while migrating.
_PG_LOCK_ID = 7_212_004_201


class MigrationError(SignalStoreError):
    """A migration file is missing, malformed, or was edited after being applied."""


@dataclass(frozen=True)
class Migration:
    version: int
    name: str
    path: Path

    @property
    def sql(self) -> str:
        return self.path.read_text(encoding="utf-8")

    @property
    def checksum(self) -> str:
        return hashlib.sha256(self.sql.encode()).hexdigest()


def available_migrations(dialect: str, sql_dir: Path = SQL_DIR) -> list[Migration]:
    """The migration files of a dialect, in version order."""
    folder = sql_dir / "migrations" / dialect
    if not folder.is_dir():
        raise MigrationError(
            f"no migrations folder {folder}; expected sql/migrations/{{postgresql,sqlite}}/ "
            "in the repository (install the project from its source tree)"
        )
    found: list[Migration] = []
    for path in sorted(folder.glob("*.sql")):
        match = _FILE_NAME.match(path.name)
        if not match:
            raise MigrationError(
                f"migration file {path} is misnamed; files are named NNNN_lower_snake.sql"
            )
        found.append(Migration(int(match.group(1)), match.group(2), path))
    versions = [m.version for m in found]
    if versions != list(range(1, len(found) + 1)):
        raise MigrationError(f"migrations in {folder} must be numbered 1..n; found {versions}")
    return found


_CREATE_LEDGER = """
CREATE TABLE IF NOT EXISTS schema_migrations (
    version INTEGER PRIMARY KEY,
    name VARCHAR(100) NOT NULL,
    checksum VARCHAR(64) NOT NULL,
    applied_at VARCHAR(40) NOT NULL
)
"""


def applied_versions(url: str) -> dict[int, str]:
    """Version -> checksum of the migrations recorded in the database (empty if none)."""
    dialect = Dialect(DatabaseURL.parse(url))
    conn = dialect.connect()
    try:
        return _ledger(dialect, conn)
    finally:
        conn.close()


def _ledger(dialect: Dialect, conn: Any) -> dict[int, str]:
    dialect.execute(conn, _CREATE_LEDGER)
    rows = dialect.execute(conn, "SELECT version, checksum FROM schema_migrations")
    return {int(r["version"]): str(r["checksum"]) for r in rows}


def upgrade(url: str, *, sql_dir: Path = SQL_DIR) -> list[int]:
    """Apply pending migrations to the database at ``url``; returns the versions applied.

    Idempotent: a second call returns ``[]``. Raises :class:`MigrationError` when an
    applied migration's file changed since, and ``DatabaseUnavailableError`` when the
    database cannot be reached.
    """
    dialect = Dialect(DatabaseURL.parse(url))
    migrations = available_migrations(dialect.name, sql_dir)
    conn = dialect.connect()
    applied: list[int] = []
    try:
        for migration in migrations:
            with dialect.transaction(conn, write=True):
                if dialect.name == "postgresql":
                    # Held to commit: a concurrent upgrade waits, then sees this version done.
                    dialect.execute(conn, f"SELECT pg_advisory_xact_lock({_PG_LOCK_ID})")
                done = _ledger(dialect, conn)
                if migration.version in done:
                    if done[migration.version] != migration.checksum:
                        raise MigrationError(
                            f"migration {migration.path.name} was edited after it was applied "
                            f"to {dialect.url.redacted()}; add a new migration file instead"
                        )
                    continue
                dialect.execute_script(conn, migration.sql)
                dialect.execute(
                    conn,
                    "INSERT INTO schema_migrations (version, name, checksum, applied_at) "
                    "VALUES (:version, :name, :checksum, :applied_at)",
                    {
                        "version": migration.version,
                        "name": migration.name,
                        "checksum": migration.checksum,
                        "applied_at": datetime.now(UTC).isoformat(timespec="seconds"),
                    },
                )
                applied.append(migration.version)
    finally:
        conn.close()
    return applied


def is_current(url: str, *, sql_dir: Path = SQL_DIR) -> bool:
    """True when every migration file is applied."""
    dialect = DatabaseURL.parse(url).dialect
    wanted = {m.version for m in available_migrations(dialect, sql_dir)}
    return wanted <= set(applied_versions(url))
