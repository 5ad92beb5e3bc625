"""Signal store on PostgreSQL: insert throughput and retrieval latency with 100,000 signals.

A throwaway database is created on ``SIGNAL_PIPELINE_TEST_PG_DSN`` (default: the local
server) and dropped afterwards. Retrieval is timed in-process (the core functions) and
over HTTP (the signals ASGI app under uvicorn on 127.0.0.1, one keep-alive client).
"""

from __future__ import annotations

import os
import socket
import tempfile
import threading
import time
import uuid
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import numpy as np
import psycopg
import uvicorn

from benchmarks._util import percentiles_ms, timer
from bentos.signal_service.signals_api import create_app
from signal_pipeline.signals.model import Signal
from signal_pipeline.signals.retrieval import (
    HistoryQuery,
    active_signals,
    latest_signal,
    latest_signals,
    signal_history,
)
from signal_pipeline.signals.store import SignalStore

N_SIGNALS = 100_000
N_SYMBOLS = 100
N_REQUESTS = 300
ADMIN_DSN = os.environ.get(
    "SIGNAL_PIPELINE_TEST_PG_DSN", "postgresql://postgres@127.0.0.1:5432/postgres"
)


def _signals(now: datetime) -> list[Signal]:
    """100 symbols x 1,000 signals over the past ~35 days; the newest 2 % still active."""
    rng = np.random.default_rng(0)
    types = np.array(["BUY", "SELL", "HOLD"])
    out = []
    for i in range(N_SIGNALS):
        created = now - timedelta(minutes=(N_SIGNALS - i) / 2)
        out.append(
            Signal(
                symbol=f"SYM{i % N_SYMBOLS:03d}",
                signal_type=str(types[i % 3]),
                confidence=float(rng.uniform(0.34, 0.99)),
                target_price=None,
                stop_loss=None,
                position_size=float(rng.uniform(0, 1)),
                reasoning="bench",
                model_version=f"v{i % 4}",
                features={"rsi_14_1m": float(rng.uniform(0, 100)), "macd_12_26_9_5m": 0.1},
                created_at=created,
                expires_at=created + timedelta(hours=1),
            )
        )
    return out


def _time(fn: Callable[[int], object], n: int = N_REQUESTS) -> dict[str, float]:
    fn(0)  # warm-up (connection, plan cache)
    samples = []
    for i in range(n):
        start = time.perf_counter()
        fn(i)
        samples.append(time.perf_counter() - start)
    return percentiles_ms(samples)


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def run() -> dict:
    name = f"sp_bench_{uuid.uuid4().hex[:10]}"
    base, _, _ = ADMIN_DSN.rpartition("/")
    try:
        with psycopg.connect(ADMIN_DSN, autocommit=True, connect_timeout=3) as conn:
            conn.execute(f'CREATE DATABASE "{name}"')
    except psycopg.OperationalError as exc:
        # `make bench` runs every benchmark; without a server this one reports why it skipped.
        return {"skipped": f"PostgreSQL not reachable at {ADMIN_DSN!r}: {exc}".strip()}
    figures: dict[str, float | int | str] = {"signals": N_SIGNALS, "symbols": N_SYMBOLS}
    store = SignalStore(f"{base}/{name}", outbox_dir=Path(tempfile.mkdtemp()), batch_size=1000)
    server: uvicorn.Server | None = None
    try:
        store.upgrade()
        now = datetime.now(UTC)
        signals = _signals(now)
        with timer() as elapsed:
            for start in range(0, N_SIGNALS, 10_000):
                store.write(signals[start : start + 10_000])
        figures["insert_rows_per_s"] = round(N_SIGNALS / elapsed())
        with timer() as elapsed:
            store.write(signals[:10_000])  # a retried batch: all duplicates
        figures["retry_duplicate_rows_per_s"] = round(10_000 / elapsed())
        store.fetch("ANALYZE")
        assert store.count() == N_SIGNALS

        symbols = [f"SYM{i:03d}" for i in range(N_SYMBOLS)]
        start_window = now - timedelta(days=10)
        cases: dict[str, Callable[[int], object]] = {
            "latest_one": lambda i: latest_signal(store, symbols[i % N_SYMBOLS]),
            "latest_all": lambda i: latest_signals(store),
            "history_symbol": lambda i: signal_history(
                store, HistoryQuery(symbol=symbols[i % N_SYMBOLS], limit=100)
            ),
            "history_filtered": lambda i: signal_history(
                store,
                HistoryQuery(
                    symbol=symbols[i % N_SYMBOLS],
                    start=start_window,
                    signal_type="BUY",
                    min_confidence=0.6,
                    limit=50,
                ),
            ),
            "active": lambda i: active_signals(store, now=now, limit=100),
        }
        for label, fn in cases.items():
            for key, value in _time(fn).items():
                figures[f"inproc_{label}_{key}"] = value

        port = _free_port()
        server = uvicorn.Server(
            uvicorn.Config(create_app(store), host="127.0.0.1", port=port, log_level="error")
        )
        thread = threading.Thread(target=server.run, daemon=True)
        thread.start()
        deadline = time.monotonic() + 20
        while not server.started:
            if time.monotonic() > deadline:
                raise RuntimeError("uvicorn did not start within 20 s")
            time.sleep(0.05)
        with httpx.Client(base_url=f"http://127.0.0.1:{port}", timeout=10) as client:
            http_cases: dict[str, Callable[[int], object]] = {
                "latest_one": lambda i: client.get(
                    f"/latest/{symbols[i % N_SYMBOLS]}"
                ).raise_for_status(),
                "latest_all": lambda i: client.get("/latest").raise_for_status(),
                "history_symbol": lambda i: client.get(
                    "/history", params={"symbol": symbols[i % N_SYMBOLS], "limit": 100}
                ).raise_for_status(),
                "active": lambda i: client.get("/active", params={"limit": 100}).raise_for_status(),
            }
            for label, fn in http_cases.items():
                for key, value in _time(fn).items():
                    figures[f"http_{label}_{key}"] = value
    finally:
        if server is not None:
            server.should_exit = True
            time.sleep(0.3)
        store.close()
        with psycopg.connect(ADMIN_DSN, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')
    figures["target_p95_ms"] = 10
    return figures
