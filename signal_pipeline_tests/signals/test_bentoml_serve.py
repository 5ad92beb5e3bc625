"""One real ``bentoml serve`` process, over loopback HTTP (slow: starts a server)."""

from __future__ import annotations

import os
from pathlib import Path

import httpx
import pytest

from bentos.signal_service.background import serving
from signal_pipeline.signals.store import SignalStore

from .conftest import make_signal


@pytest.mark.slow
def test_bentoml_serve_mounts_the_signals_api(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'signals.db'}"
    store = SignalStore(url, outbox_dir=tmp_path / "outbox")
    (sid,) = store.write([make_signal(symbol="NVDA")]).ids
    store.close()
    env = {
        **os.environ,
        "SIGNAL_PIPELINE_SIGNALS_DB": url,
        "BENTOML_HOME": str(tmp_path / "bentoml"),
    }
    with serving(env, tmp_path / "bentoml.log") as base:
        latest = httpx.get(f"{base}/signals/latest/NVDA", timeout=5).json()
        assert latest["id"] == sid and latest["symbol"] == "NVDA"
        changed = httpx.put(f"{base}/signals/{sid}/executed", json={"executed": True}, timeout=5)
        assert changed.json()["executed"] is True
        assert "/history" in httpx.get(f"{base}/signals/openapi.json", timeout=5).json()["paths"]
