"""Reading signals back: the latest per symbol, filtered history, the active set.

Every query is shaped for an index of the schema: "latest" probes
``idx_signals_symbol_time`` once per known symbol, history pages with a keyset cursor
on (created_at, id) over the live table and the archive, and "active" reads the
partial index ``idx_signals_active`` (``expires_at`` of unexecuted signals).
"""

from __future__ import annotations

import base64
import binascii
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from signal_pipeline.signals.db import in_list
from signal_pipeline.signals.model import Signal, SignalType, to_utc
from signal_pipeline.signals.store import SELECT_COLUMNS, SignalStore

MAX_PAGE_SIZE = 500
_TABLES = ("trading_signals", "signals_archive")


class InvalidQueryError(ValueError):
    """A retrieval parameter is out of range or malformed; the message says which."""


def latest_signals(store: SignalStore, symbols: Sequence[str] | None = None) -> dict[str, Signal]:
    """The most recent signal of each symbol (active, expired or archived), by symbol.

    ``symbols=None`` means every symbol ever signalled. Symbols without a signal are
    absent from the result.
    """
    where, params = "", {}
    if symbols is not None:
        if not symbols:
            return {}
        placeholders, params = in_list("s", list(symbols))
        where = f"WHERE ss.symbol IN {placeholders}"
    best: dict[str, Signal] = {}
    for table in _TABLES:
        # A correlated LIMIT 1 per symbol: one index probe each, on both engines.
        rows = store.fetch(
            f"SELECT {SELECT_COLUMNS} FROM {table} WHERE id IN ("
            f" SELECT (SELECT t.id FROM {table} t WHERE t.symbol = ss.symbol"
            "          ORDER BY t.created_at DESC, t.id DESC LIMIT 1)"
            f" FROM signal_symbols ss {where})",
            params,
        )
        for row in rows:
            signal = store.to_signal(row)
            current = best.get(signal.symbol)
            if current is None or (signal.created_at, signal.id or 0) > (
                current.created_at,
                current.id or 0,
            ):
                best[signal.symbol] = signal
    return dict(sorted(best.items()))


def latest_signal(store: SignalStore, symbol: str) -> Signal | None:
    """The most recent signal of one symbol, or None."""
    return latest_signals(store, [symbol]).get(symbol)


@dataclass(frozen=True)
class HistoryQuery:
    """Filters of :func:`signal_history`; every one is optional. Times are UTC-aware."""

    symbol: str | None = None
    start: datetime | None = None  # created_at >= start
    end: datetime | None = None  # created_at < end
    signal_type: SignalType | str | None = None
    model_version: str | None = None
    min_confidence: float | None = None
    include_archived: bool = True
    limit: int = 100
    cursor: str | None = None

    def __post_init__(self) -> None:
        if not 1 <= self.limit <= MAX_PAGE_SIZE:
            raise InvalidQueryError(f"limit={self.limit} must be within [1, {MAX_PAGE_SIZE}]")
        if self.min_confidence is not None and not 0 <= self.min_confidence <= 1:
            raise InvalidQueryError(f"min_confidence={self.min_confidence} must be within [0, 1]")
        if self.signal_type is not None:
            try:
                object.__setattr__(self, "signal_type", SignalType(str(self.signal_type).upper()))
            except ValueError as exc:
                raise InvalidQueryError(
                    f"signal_type={self.signal_type!r} must be one of BUY, SELL, HOLD"
                ) from exc
        for name in ("start", "end"):
            value = getattr(self, name)
            if value is not None:
                object.__setattr__(self, name, to_utc(value, name))


@dataclass(frozen=True)
class HistoryPage:
    """One page of history, newest first; ``next_cursor`` is None on the last page."""

    signals: list[Signal]
    next_cursor: str | None


def encode_cursor(created_at: datetime, signal_id: int) -> str:
    """Opaque keyset cursor: the (created_at, id) of the last row of a page."""
    raw = f"{created_at.astimezone(UTC).isoformat()}|{signal_id}"
    return base64.urlsafe_b64encode(raw.encode()).decode().rstrip("=")


def decode_cursor(cursor: str) -> tuple[datetime, int]:
    try:
        raw = base64.urlsafe_b64decode(cursor + "=" * (-len(cursor) % 4)).decode()
        ts, _, sid = raw.rpartition("|")
        return to_utc(datetime.fromisoformat(ts), "cursor"), int(sid)
    except (ValueError, binascii.Error) as exc:
        raise InvalidQueryError(
            f"cursor {cursor!r} is not a cursor returned by this API; omit it for the first page"
        ) from exc


def signal_history(store: SignalStore, query: HistoryQuery | None = None) -> HistoryPage:
    """Signals matching ``query``, newest first, one page at a time (keyset pagination)."""
    query = query or HistoryQuery()
    conditions: list[str] = []
    params: dict[str, Any] = {"limit": query.limit + 1}
    if query.symbol is not None:
        conditions.append("symbol = :symbol")
        params["symbol"] = query.symbol
    if query.start is not None:
        conditions.append("created_at >= :start")
        params["start"] = query.start
    if query.end is not None:
        conditions.append("created_at < :end")
        params["end"] = query.end
    if query.signal_type is not None:
        conditions.append("signal_type = :signal_type")
        params["signal_type"] = str(query.signal_type)
    if query.model_version is not None:
        conditions.append("model_version = :model_version")
        params["model_version"] = query.model_version
    if query.min_confidence is not None:
        conditions.append("confidence >= :min_confidence")
        params["min_confidence"] = query.min_confidence
    if query.cursor is not None:
        c_ts, c_id = decode_cursor(query.cursor)
        conditions.append("(created_at < :c_ts OR (created_at = :c_ts AND id < :c_id))")
        params.update(c_ts=c_ts, c_id=c_id)
    where = ("WHERE " + " AND ".join(conditions)) if conditions else ""
    order = "ORDER BY created_at DESC, id DESC LIMIT :limit"
    tables = _TABLES if query.include_archived else _TABLES[:1]
    # Each branch is limited on its own index, then the (at most 2 x limit) rows merged.
    branches = [
        f"SELECT * FROM (SELECT {SELECT_COLUMNS} FROM {t} {where} {order}) AS b{i}"
        for i, t in enumerate(tables)
    ]
    rows = store.fetch(
        f"SELECT * FROM ({' UNION ALL '.join(branches)}) AS h {order}",
        params,
    )
    signals = [store.to_signal(r) for r in rows[: query.limit]]
    next_cursor = None
    if len(rows) > query.limit:
        last = signals[-1]
        next_cursor = encode_cursor(last.created_at, last.id or 0)
    return HistoryPage(signals=signals, next_cursor=next_cursor)


def active_signals(
    store: SignalStore,
    *,
    now: datetime | None = None,
    symbol: str | None = None,
    limit: int = 1000,
) -> list[Signal]:
    """Unexpired, unexecuted signals at ``now`` (default: the current time), soonest expiry first."""
    if not 1 <= limit <= 10_000:
        raise InvalidQueryError(f"limit={limit} must be within [1, 10000]")
    params: dict[str, Any] = {"now": to_utc(now or datetime.now(UTC), "now"), "limit": limit}
    extra = ""
    if symbol is not None:
        extra = " AND symbol = :symbol"
        params["symbol"] = symbol
    rows = store.fetch(
        # `NOT executed` repeated verbatim so both planners match the partial index.
        f"SELECT {SELECT_COLUMNS} FROM trading_signals WHERE NOT executed AND expires_at > :now"
        f"{extra} ORDER BY expires_at LIMIT :limit",
        params,
    )
    return [store.to_signal(r) for r in rows]


def active_query_plan(store: SignalStore) -> str:
    """The engine's plan for the active query (tests check it reads the partial index)."""
    sql = (
        f"SELECT {SELECT_COLUMNS} FROM trading_signals WHERE NOT executed AND expires_at > :now "
        "ORDER BY expires_at LIMIT 100"
    )
    now = datetime.now(UTC)
    if store.dialect.name == "sqlite":
        rows = store.fetch("EXPLAIN QUERY PLAN " + sql, {"now": now})
        return "\n".join(str(r["detail"]) for r in rows)
    with store.transaction(write=False) as tx:
        # The planner rightly prefers a seq scan on a tiny table; ask what it does at scale.
        tx.execute("SET LOCAL enable_seqscan = off")
        rows = tx.execute("EXPLAIN " + sql, {"now": now})
    return "\n".join(str(next(iter(r.values()))) for r in rows)
