"""One real ``bentoml serve`` process, over loopback HTTP (slow: starts a server)."""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from pathlib import Path

import httpx
import pytest

from signal_pipeline.signals.store import SignalStore

from .conftest import make_signal

REPO = Path(__file__).resolve().parents[2]


def _free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@pytest.mark.slow
def test_bentoml_serve_mounts_the_signals_api(tmp_path: Path) -> None:
    url = f"sqlite:///{tmp_path / 'signals.db'}"
    store = SignalStore(url, outbox_dir=tmp_path / "outbox")
    (sid,) = store.write([make_signal(symbol="NVDA")]).ids
    store.close()
    port = _free_port()
    env = {
        **os.environ,
        "SIGNAL_PIPELINE_SIGNALS_DB": url,
        "BENTOML_HOME": str(tmp_path / "bentoml"),
    }
    bentoml = Path(sys.executable).with_name("bentoml")
    # A log file, not a pipe: a full pipe would block the server.
    with open(tmp_path / "bentoml.log", "wb") as log:
        proc = subprocess.Popen(
            [
                str(bentoml),
                "serve",
                "bentos.signal_service.service:SignalService",
                "--host",
                "127.0.0.1",
                "--port",
                str(port),
            ],
            cwd=REPO,
            env=env,
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # its own process group, so its workers stop with it
        )
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + 60
        while True:
            assert proc.poll() is None, (tmp_path / "bentoml.log").read_text()[-2000:]
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            assert time.monotonic() < deadline, "bentoml serve not ready within 60 s"
            time.sleep(0.5)
        latest = httpx.get(f"{base}/signals/latest/NVDA", timeout=5).json()
        assert latest["id"] == sid and latest["symbol"] == "NVDA"
        changed = httpx.put(f"{base}/signals/{sid}/executed", json={"executed": True}, timeout=5)
        assert changed.json()["executed"] is True
        assert "/history" in httpx.get(f"{base}/signals/openapi.json", timeout=5).json()["paths"]
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
