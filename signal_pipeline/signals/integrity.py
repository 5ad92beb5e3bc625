"""Integrity counts of the signals database: each must be zero in a healthy store."""

from __future__ import annotations

from signal_pipeline.signals.store import SignalStore

_CHECKS = {
    # A signal lives in exactly one place: the live table or the archive.
    "ids_in_both_tables": (
        "SELECT COUNT(*) AS n FROM trading_signals t JOIN signals_archive a ON a.id = t.id"
    ),
    # Idempotency holds across both tables, not only within each.
    "keys_in_both_tables": (
        "SELECT COUNT(*) AS n FROM trading_signals t "
        "JOIN signals_archive a ON a.idempotency_key = t.idempotency_key"
    ),
    # Every outcome belongs to a stored signal.
    "orphan_outcomes": (
        "SELECT COUNT(*) AS n FROM signal_outcomes o "
        "WHERE NOT EXISTS (SELECT 1 FROM all_signals s WHERE s.id = o.signal_id)"
    ),
    # Every signalled symbol is registered (latest-per-symbol reads signal_symbols).
    "unregistered_symbols": (
        "SELECT COUNT(*) AS n FROM (SELECT DISTINCT symbol FROM all_signals) s "
        "WHERE NOT EXISTS (SELECT 1 FROM signal_symbols ss WHERE ss.symbol = s.symbol)"
    ),
}


def integrity_counts(store: SignalStore) -> dict[str, int]:
    """Name -> number of violating rows, for each rule above."""
    return {name: int(store.fetch(sql)[0]["n"]) for name, sql in _CHECKS.items()}
