"""Run ``bentoml serve`` of the signal service in a background process, for the tests
and benchmarks that talk to a real server over loopback HTTP.

The process gets its own process group so its workers stop with it, writes its log to
a file (a full pipe would block the server) and is always stopped on exit.
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import time
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from pathlib import Path

import httpx

REPO = Path(__file__).resolve().parents[2]
SERVICE = "bentos.signal_service.service:SignalService"


class ServerStartError(RuntimeError):
    """``bentoml serve`` exited or did not become ready; the message ends with its log."""


def free_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


@contextmanager
def serving(
    env: Mapping[str, str], log_path: Path, *, ready_timeout_s: float = 90.0
) -> Iterator[str]:
    """Start the service on a free loopback port; yield its base URL once ``/readyz`` is OK."""
    port = free_port()
    with open(log_path, "wb") as log:
        proc = subprocess.Popen(
            [str(Path(sys.executable).with_name("bentoml")), "serve", SERVICE,
             "--host", "127.0.0.1", "--port", str(port)],
            cwd=REPO,
            env=dict(env),
            stdout=log,
            stderr=subprocess.STDOUT,
            start_new_session=True,
        )  # fmt: skip
    base = f"http://127.0.0.1:{port}"
    try:
        deadline = time.monotonic() + ready_timeout_s
        while True:
            if proc.poll() is not None:
                raise ServerStartError(f"bentoml serve exited: {log_path.read_text()[-3000:]}")
            try:
                if httpx.get(f"{base}/readyz", timeout=1).status_code == 200:
                    break
            except httpx.HTTPError:
                pass
            if time.monotonic() > deadline:
                raise ServerStartError(
                    f"bentoml serve not ready within {ready_timeout_s:.0f} s: "
                    f"{log_path.read_text()[-3000:]}"
                )
            time.sleep(0.5)
        yield base
    finally:
        os.killpg(proc.pid, signal.SIGTERM)
        try:
            proc.wait(timeout=20)
        except subprocess.TimeoutExpired:
            os.killpg(proc.pid, signal.SIGKILL)
            proc.wait(timeout=5)
