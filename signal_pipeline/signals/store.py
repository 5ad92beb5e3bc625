"""The signal store: batched, idempotent writes and typed reads, on PostgreSQL or SQLite.

``SignalStore("postgresql://user@host/db")`` in production, ``SignalStore("sqlite:///…")``
as the embedded default (``get_settings().signals_db_url``); the same code runs both
through :mod:`signal_pipeline.signals.db`.

Writes are idempotent: every signal carries a unique ``idempotency_key``, inserts use
``ON CONFLICT DO NOTHING`` and keys already moved to the archive are skipped, so a
retried write returns the ids of the first one and stores nothing new. When the
database is unreachable, the batch goes to a local outbox before
:class:`SignalStoreUnavailableError` is raised; the next write flushes it.
"""

from __future__ import annotations

import contextlib
import threading
from collections.abc import Iterable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from pathlib import Path
from typing import Any

from signal_pipeline.settings import get_settings
from signal_pipeline.signals import migrations
from signal_pipeline.signals.bulk import SIGNAL_COLUMNS, insert_records
from signal_pipeline.signals.db import (
    DatabaseUnavailableError,
    DatabaseURL,
    Dialect,
    Row,
    SignalStoreError,
)
from signal_pipeline.signals.model import Signal, SignalType
from signal_pipeline.signals.outbox import Outbox

SELECT_COLUMNS = ", ".join(("id", *SIGNAL_COLUMNS))
#: Decimal places of the spec's DECIMAL columns; applied on both engines so they agree.
_SCALE = {"confidence": 2, "target_price": 4, "stop_loss": 4, "position_size": 4, "performance": 2}


class SignalStoreUnavailableError(DatabaseUnavailableError):
    """A write could not reach the database; its signals are kept in the outbox.

    ``spooled`` is the number of signals now pending in the outbox (this batch included).
    """

    def __init__(self, message: str, spooled: int, outbox_path: Path) -> None:
        self.spooled = spooled
        self.outbox_path = outbox_path
        super().__init__(message)


class SignalNotFoundError(SignalStoreError, KeyError):
    """No signal with that id (neither active nor archived)."""

    def __str__(self) -> str:
        return str(self.args[0])


@dataclass(frozen=True)
class WriteResult:
    """Outcome of :meth:`SignalStore.write`; ``ids`` align with the signals given."""

    ids: list[int]
    inserted: int
    duplicates: int


def quantize(column: str, value: float | None) -> Decimal | None:
    """The value as the DECIMAL column stores it (round half away from zero, like PostgreSQL)."""
    if value is None:
        return None
    step = Decimal(1).scaleb(-_SCALE[column])
    return Decimal(repr(float(value))).quantize(step, rounding=ROUND_HALF_UP)


class Transaction:
    """Statements inside one open transaction (see :meth:`SignalStore.transaction`)."""

    def __init__(self, dialect: Dialect, conn: Any) -> None:
        self.dialect = dialect
        self.conn = conn

    def execute(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        return self.dialect.execute(self.conn, sql, params)


class SignalStore:
    """Signals in a PostgreSQL or SQLite database; safe to share between threads.

    Each thread gets its own connection. ``auto_upgrade`` applies pending migrations on
    first use (idempotent and locked; pass False where the schema is managed by
    ``signal-pipeline db upgrade`` alone).
    """

    def __init__(
        self,
        url: str | None = None,
        *,
        outbox_dir: Path | None = None,
        batch_size: int = 500,
        connect_timeout: float = 5.0,
        auto_upgrade: bool = True,
    ) -> None:
        self.url = url or get_settings().signals_db_url
        self.dialect = Dialect(DatabaseURL.parse(self.url))
        if not 1 <= batch_size <= 2000:
            # 2000 rows x 14 columns stays under both engines' bound-parameter limits.
            raise ValueError(f"batch_size={batch_size} must be within [1, 2000]")
        self.batch_size = batch_size
        self.connect_timeout = connect_timeout
        self.auto_upgrade = auto_upgrade
        self.outbox = Outbox(
            outbox_dir or get_settings().home / "outbox", self.dialect.url.redacted()
        )
        self._local = threading.local()
        self._all_conns: list[Any] = []
        self._lock = threading.Lock()
        self._schema_ready = False
        self._known_symbols: set[str] = set()

    def __repr__(self) -> str:
        return f"SignalStore({self.dialect.url.redacted()!r})"

    # ------------------------------------------------------------ connections
    def _connection(self) -> Any:
        conn = getattr(self._local, "conn", None)
        if conn is not None and not self.dialect.is_broken(conn):
            return conn
        if not self._schema_ready and self.auto_upgrade:
            self.upgrade()
        conn = self.dialect.connect(self.connect_timeout)
        self._local.conn = conn
        with self._lock:
            self._all_conns.append(conn)
        return conn

    def _discard_connection(self) -> None:
        conn = getattr(self._local, "conn", None)
        self._local.conn = None
        if conn is not None:
            # Closing a dead connection may itself fail; there is nothing left to keep.
            with contextlib.suppress(Exception):
                conn.close()

    def close(self) -> None:
        """Close every connection this store opened (all threads)."""
        with self._lock:
            conns, self._all_conns = self._all_conns, []
        for conn in conns:
            with contextlib.suppress(Exception):
                conn.close()
        self._local = threading.local()

    def upgrade(self) -> list[int]:
        """Apply pending schema migrations (see :func:`migrations.upgrade`)."""
        applied = migrations.upgrade(self.url)
        self._schema_ready = True
        return applied

    @contextmanager
    def transaction(self, *, write: bool = True) -> Iterator[Transaction]:
        """One transaction on this thread's connection; unreachable -> DatabaseUnavailableError."""
        conn = self._connection()
        try:
            with self.dialect.transaction(conn, write=write):
                yield Transaction(self.dialect, conn)
        except self.dialect.unavailable_errors as exc:
            if self.dialect.is_broken(conn):
                self._discard_connection()
            raise DatabaseUnavailableError(
                f"signals database {self.dialect.url.redacted()} failed: {exc}"
            ) from exc

    def fetch(self, sql: str, params: Mapping[str, Any] | None = None) -> list[Row]:
        """Rows of one read query; reconnects once if the connection went stale."""
        for attempt in (0, 1):
            conn = self._connection()
            try:
                return self.dialect.execute(conn, sql, params)
            except self.dialect.unavailable_errors as exc:
                broken = self.dialect.is_broken(conn)
                if broken:
                    self._discard_connection()
                if attempt == 1 or not broken:
                    raise DatabaseUnavailableError(
                        f"signals database {self.dialect.url.redacted()} failed: {exc}"
                    ) from exc
        raise AssertionError("unreachable")

    # ------------------------------------------------------------ writes
    def write(self, signals: Iterable[Signal]) -> WriteResult:
        """Store signals in batches; idempotent. Flushes the outbox first.

        Raises :class:`SignalStoreUnavailableError` (after spooling the batch to the
        outbox) when the database cannot be reached.
        """
        batch = list(signals)
        for s in batch:
            if not isinstance(s, Signal):
                raise TypeError(f"SignalStore.write expects Signal objects, got {type(s).__name__}")
        try:
            if self.outbox.has_pending():
                self.outbox.drain(self._insert)
            return self._insert(batch)
        except DatabaseUnavailableError as exc:
            self.outbox.append(batch)
            pending = self.outbox.pending()
            raise SignalStoreUnavailableError(
                f"could not write {len(batch)} signal(s): {exc}. They are kept in the outbox "
                f"{self.outbox.path} ({pending} pending) and will be written by the next "
                "successful write or SignalStore.flush_outbox(); nothing is lost.",
                spooled=pending,
                outbox_path=self.outbox.path,
            ) from exc

    def flush_outbox(self) -> int:
        """Write the spooled signals now; returns how many were sent."""
        return self.outbox.drain(self._insert)

    def pending_outbox(self) -> int:
        return self.outbox.pending()

    def _insert(self, signals: Sequence[Signal]) -> WriteResult:
        ids: dict[str, int] = {}
        inserted = 0
        for start in range(0, len(signals), self.batch_size):
            chunk = signals[start : start + self.batch_size]
            for attempt in (0, 1):
                try:
                    with self.transaction() as tx:
                        chunk_ids, chunk_inserted = self._insert_chunk(tx, chunk)
                    # Remembered only once committed: a rolled-back batch re-registers.
                    self._known_symbols.update(s.symbol for s in chunk)
                    break
                except DatabaseUnavailableError:
                    # One retry on a fresh connection covers a server restart between writes.
                    if attempt == 1 or getattr(self._local, "conn", None) is not None:
                        raise
            ids.update(chunk_ids)
            inserted += chunk_inserted
        ordered = [ids[s.idempotency_key] for s in signals]  # type: ignore[index]
        return WriteResult(ids=ordered, inserted=inserted, duplicates=len(signals) - inserted)

    def _insert_chunk(self, tx: Transaction, chunk: Sequence[Signal]) -> tuple[dict[str, int], int]:
        unique: dict[str, Signal] = {}
        for s in chunk:
            unique.setdefault(s.idempotency_key, s)  # type: ignore[arg-type]
        # Symbols first, keys second, each sorted: one lock order for every writer.
        self._register_symbols(tx, sorted({s.symbol for s in unique.values()}))
        return insert_records(tx, [self._encode(s) for s in unique.values()])

    def _register_symbols(self, tx: Transaction, symbols: Sequence[str]) -> None:
        new = [s for s in symbols if s not in self._known_symbols]
        if not new:
            return
        placeholders = ", ".join(f"(:s{i})" for i in range(len(new)))
        tx.execute(
            f"INSERT INTO signal_symbols (symbol) VALUES {placeholders} "
            "ON CONFLICT (symbol) DO NOTHING",
            {f"s{i}": s for i, s in enumerate(new)},
        )

    def _encode(self, s: Signal) -> dict[str, Any]:
        record = {c: getattr(s, c) for c in SIGNAL_COLUMNS}
        record["signal_type"] = str(s.signal_type)
        record["features"] = dict(s.features)
        for column in _SCALE:
            value = quantize(column, record[column])
            if self.dialect.name == "sqlite" and value is not None:
                record[column] = float(value)
            else:
                record[column] = value
        return record

    # ------------------------------------------------------------ reads and updates
    def to_signal(self, row: Mapping[str, Any]) -> Signal:
        """A database row (live or archive) as a :class:`Signal`.

        Rows were validated when written, so they are restored without re-validation
        (reads are the hot path of the retrieval API).
        """

        def number(value: Any) -> float | None:
            return None if value is None else float(value)

        decode_ts = self.dialect.decode_ts
        return Signal.restore(
            id=int(row["id"]),
            symbol=row["symbol"],
            signal_type=SignalType(row["signal_type"]),
            confidence=float(row["confidence"]),
            target_price=number(row["target_price"]),
            stop_loss=number(row["stop_loss"]),
            position_size=number(row["position_size"]),
            reasoning=row["reasoning"] or "",
            model_version=row["model_version"],
            features=self.dialect.decode_json(row["features"]),
            created_at=decode_ts(row["created_at"]),
            expires_at=decode_ts(row["expires_at"]),
            executed=bool(row["executed"]),
            performance=number(row["performance"]),
            idempotency_key=row["idempotency_key"],
        )

    def get(self, signal_id: int) -> Signal:
        """The signal with this id, active or archived; :class:`SignalNotFoundError` if none."""
        for table in ("trading_signals", "signals_archive"):
            rows = self.fetch(
                f"SELECT {SELECT_COLUMNS} FROM {table} WHERE id = :id", {"id": signal_id}
            )
            if rows:
                return self.to_signal(rows[0])
        raise SignalNotFoundError(
            f"no signal with id={signal_id} in {self.dialect.url.redacted()} (active or archived)"
        )

    def set_executed(self, signal_id: int, executed: bool = True) -> Signal:
        """Set the ``executed`` flag (on whichever table holds the signal); returns the signal."""
        with self.transaction() as tx:
            changed = 0
            for table in ("trading_signals", "signals_archive"):
                changed += len(
                    tx.execute(
                        f"UPDATE {table} SET executed = :executed WHERE id = :id RETURNING id",
                        {"executed": executed, "id": signal_id},
                    )
                )
        if not changed:
            raise SignalNotFoundError(
                f"cannot set executed on signal id={signal_id}: no such signal in "
                f"{self.dialect.url.redacted()}"
            )
        return self.get(signal_id)

    def count(self, table: str = "trading_signals") -> int:
        """Rows in ``trading_signals`` or ``signals_archive``."""
        if table not in ("trading_signals", "signals_archive", "signal_outcomes"):
            raise ValueError(f"table={table!r} is not a signals table")
        return int(self.fetch(f"SELECT COUNT(*) AS n FROM {table}")[0]["n"])
