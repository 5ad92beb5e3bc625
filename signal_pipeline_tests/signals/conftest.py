"""Fixtures: every store test runs against SQLite (a temp file) and the real PostgreSQL.

PostgreSQL comes from the ``pg_dsn`` fixture of ``signal_pipeline_tests/conftest.py``: a
fresh database per test on ``SIGNAL_PIPELINE_TEST_PG_DSN`` (default: the local server),
dropped afterwards.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from signal_pipeline.signals.model import Signal
from signal_pipeline.signals.store import SignalStore

T0 = datetime(2024, 3, 4, 15, 0, tzinfo=UTC)


@pytest.fixture(params=["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)])
def store_url(request: pytest.FixtureRequest, tmp_path: Path) -> str:
    if request.param == "sqlite":
        return f"sqlite:///{tmp_path / 'signals.db'}"
    return request.getfixturevalue("pg_dsn")


@pytest.fixture
def store(store_url: str, tmp_path: Path) -> Iterator[SignalStore]:
    s = SignalStore(store_url, outbox_dir=tmp_path / "outbox")
    yield s
    s.close()


def make_signal(
    symbol: str = "AAPL",
    signal_type: str = "BUY",
    confidence: float = 0.8,
    minutes: float = 0,
    ttl_minutes: float = 60,
    **fields: object,
) -> Signal:
    """A signal created ``minutes`` after T0 that lives ``ttl_minutes``."""
    created = T0 + timedelta(minutes=minutes)
    return Signal(
        symbol=symbol,
        signal_type=signal_type,
        confidence=confidence,
        created_at=created,
        expires_at=created + timedelta(minutes=ttl_minutes),
        **fields,  # type: ignore[arg-type]
    )
