"""Expiration: move signals whose ``expires_at`` has passed to ``signals_archive``, atomically.

A signal is expired at ``now`` when ``expires_at <= now`` (executed or not). The move is
one transaction: the archive gets exactly the rows the live table loses. On PostgreSQL
it is a single ``DELETE … RETURNING`` feeding the ``INSERT`` (so a row committed by a
concurrent writer between two statements cannot be deleted without being copied); on
SQLite the transaction holds the write lock, so copy-then-delete with the same
predicate sees the same rows.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime

from signal_pipeline.signals.model import to_utc
from signal_pipeline.signals.store import SELECT_COLUMNS, SignalStore


@dataclass(frozen=True)
class ExpirationResult:
    archived: int
    ids: list[int]
    now: datetime


def expire_signals(store: SignalStore, now: datetime | None = None) -> ExpirationResult:
    """Archive every signal with ``expires_at <= now``; returns what moved."""
    now = to_utc(now or datetime.now(UTC), "now")
    params = {"now": now}
    # A retried signal that already sits in the archive is dropped here, not duplicated.
    conflict = "ON CONFLICT (idempotency_key) DO NOTHING"
    with store.transaction() as tx:
        if store.dialect.name == "postgresql":
            rows = tx.execute(
                f"WITH moved AS (DELETE FROM trading_signals WHERE expires_at <= :now "
                f"RETURNING {SELECT_COLUMNS}), "
                f"copied AS (INSERT INTO signals_archive ({SELECT_COLUMNS}, archived_at) "
                f"SELECT {SELECT_COLUMNS}, :now FROM moved {conflict}) "
                "SELECT id FROM moved",
                params,
            )
            ids = sorted(int(r["id"]) for r in rows)
        else:
            ids = sorted(
                int(r["id"])
                for r in tx.execute(
                    "SELECT id FROM trading_signals WHERE expires_at <= :now", params
                )
            )
            tx.execute(
                f"INSERT INTO signals_archive ({SELECT_COLUMNS}, archived_at) "
                f"SELECT {SELECT_COLUMNS}, :now FROM trading_signals WHERE expires_at <= :now "
                f"{conflict}",
                params,
            )
            tx.execute("DELETE FROM trading_signals WHERE expires_at <= :now", params)
    return ExpirationResult(archived=len(ids), ids=ids, now=now)
