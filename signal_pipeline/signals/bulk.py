"""Bulk, idempotent insert of one batch of signal records, the fast way for each engine.

Both paths do the same four things in the caller's transaction: skip keys already in
the archive, insert the rest with ``ON CONFLICT (idempotency_key) DO NOTHING`` in key
order (one lock order for every writer, so concurrent batches cannot deadlock), and
return the id of every key, new or not.

- PostgreSQL: ``COPY`` into a session temp table, then set-based SQL against it. A
  multi-row ``VALUES`` with thousands of parameters spends most of its time in the
  driver's query parsing; COPY streams rows instead.
- SQLite: one multi-row ``VALUES`` statement (parameters bind natively and cheaply).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from signal_pipeline.signals.db import in_list

#: Columns written per signal, in table order (``id`` comes from the database).
SIGNAL_COLUMNS = (
    "symbol",
    "signal_type",
    "confidence",
    "target_price",
    "stop_loss",
    "position_size",
    "reasoning",
    "model_version",
    "features",
    "created_at",
    "expires_at",
    "executed",
    "performance",
    "idempotency_key",
)
_COLS = ", ".join(SIGNAL_COLUMNS)

_PG_STAGING = """
CREATE TEMP TABLE IF NOT EXISTS signal_staging (
    symbol TEXT, signal_type TEXT, confidence NUMERIC, target_price NUMERIC,
    stop_loss NUMERIC, position_size NUMERIC, reasoning TEXT, model_version TEXT,
    features JSONB, created_at TIMESTAMPTZ, expires_at TIMESTAMPTZ, executed BOOLEAN,
    performance NUMERIC, idempotency_key TEXT
) ON COMMIT DELETE ROWS
"""


def insert_records(tx: Any, records: Sequence[Mapping[str, Any]]) -> tuple[dict[str, int], int]:
    """Insert encoded records (unique keys) in ``tx``; returns (key -> id, rows inserted)."""
    if not records:
        return {}, 0
    ordered = sorted(records, key=lambda r: r["idempotency_key"])
    if tx.dialect.name == "postgresql":
        return _insert_postgresql(tx, ordered)
    return _insert_sqlite(tx, ordered)


def _insert_postgresql(tx: Any, records: Sequence[Mapping[str, Any]]) -> tuple[dict[str, int], int]:
    conn = tx.conn
    conn.execute(_PG_STAGING)
    with conn.cursor() as cur, cur.copy(f"COPY signal_staging ({_COLS}) FROM STDIN") as copy:
        for record in records:
            copy.write_row([tx.dialect.encode(record[c]) for c in SIGNAL_COLUMNS])
    found = {
        r["idempotency_key"]: int(r["id"])
        for r in tx.execute(
            "DELETE FROM signal_staging s USING signals_archive a "
            "WHERE a.idempotency_key = s.idempotency_key RETURNING a.id, a.idempotency_key"
        )
    }
    inserted = tx.execute(
        f"INSERT INTO trading_signals ({_COLS}) SELECT {_COLS} FROM signal_staging "
        "ORDER BY idempotency_key ON CONFLICT (idempotency_key) DO NOTHING RETURNING id"
    )
    found.update(
        {
            r["idempotency_key"]: int(r["id"])
            for r in tx.execute(
                "SELECT t.id, t.idempotency_key FROM trading_signals t "
                "JOIN signal_staging s ON s.idempotency_key = t.idempotency_key"
            )
        }
    )
    return found, len(inserted)


def _insert_sqlite(tx: Any, records: Sequence[Mapping[str, Any]]) -> tuple[dict[str, int], int]:
    keys = [r["idempotency_key"] for r in records]
    placeholders, params = in_list("k", keys)
    found = {
        r["idempotency_key"]: int(r["id"])
        for r in tx.execute(
            f"SELECT id, idempotency_key FROM signals_archive WHERE idempotency_key IN {placeholders}",
            params,
        )
    }
    rows_sql: list[str] = []
    values: dict[str, Any] = {}
    for i, record in enumerate(r for r in records if r["idempotency_key"] not in found):
        rows_sql.append("(" + ", ".join(f":{c}_{i}" for c in SIGNAL_COLUMNS) + ")")
        values.update({f"{c}_{i}": record[c] for c in SIGNAL_COLUMNS})
    inserted = 0
    if rows_sql:
        returned = tx.execute(
            f"INSERT INTO trading_signals ({_COLS}) VALUES {', '.join(rows_sql)} "
            "ON CONFLICT (idempotency_key) DO NOTHING RETURNING id, idempotency_key",
            values,
        )
        inserted = len(returned)
        found.update({r["idempotency_key"]: int(r["id"]) for r in returned})
    missing = [k for k in keys if k not in found]
    if missing:
        placeholders, params = in_list("m", missing)
        found.update(
            {
                r["idempotency_key"]: int(r["id"])
                for r in tx.execute(
                    f"SELECT id, idempotency_key FROM trading_signals WHERE idempotency_key IN {placeholders}",
                    params,
                )
            }
        )
    return found, inserted
