"""The BentoML service: live signals from the registry's champion, and stored signals.

Serve from the repository root:

    bentoml serve bentos.signal_service.service:SignalService --port 3000

At start the service fetches ``signal-ensemble@champion`` from the MLflow registry into a
local copy (``$SIGNAL_PIPELINE_HOME/serving/champion``), or serves that copy when the
registry is unreachable (``/model`` says so). Routes: the live-signal app of
``live_api.py`` at the root (``/signal``, ``/signal/batch``, ``/signal/stream``,
``/model``, ``/metrics``), the stored-signal app of ``signals_api.py`` under
``/signals``; BentoML's ``/readyz``, ``/livez``. ``/readyz`` is true once the champion is
loaded (or the registry answered that none is registered, unless
``SIGNAL_PIPELINE_REQUIRE_CHAMPION=1``) and the signals database answers. BentoML's own
``/metrics`` is switched off: ``/metrics`` serves the model's monitoring metrics.
See docs/service.md.
"""

from __future__ import annotations

import hashlib
import logging
import os
import threading
import time
from typing import Any

import bentoml

from bentos.signal_service.live_api import app as live_app
from bentos.signal_service.live_api import error_body
from bentos.signal_service.model_loader import LiveModels
from bentos.signal_service.schemas import BatchRequest, SignalRequest, StreamRequest
from bentos.signal_service.signals_api import app as signals_app
from signal_pipeline.inference.errors import InferenceError
from signal_pipeline.inference.result import Inference
from signal_pipeline.signals.db import DatabaseUnavailableError

log = logging.getLogger(__name__)


def _snapshot_every() -> float:
    return float(os.environ.get("SIGNAL_PIPELINE_MONITOR_SNAPSHOT_S", "300"))


@bentoml.asgi_app(live_app, path="/")
@bentoml.asgi_app(signals_app, path="/signals")
@bentoml.service(
    name="signal_service",
    traffic={"timeout": 30},
    workers=int(os.environ.get("SIGNAL_PIPELINE_SERVICE_WORKERS", "1")),
    metrics={"enabled": False},
)
class SignalService:
    """Trading signals over HTTP: live (champion model) and stored."""

    def __init__(self) -> None:
        self.store = signals_app.state.get_store()
        self.models = LiveModels()
        self.bodies = BodyCache()
        live_app.state.service = self
        self._stop = threading.Event()
        every = _snapshot_every()
        if every > 0:
            threading.Thread(
                target=self._snapshot_loop, args=(every,), name="monitor-snapshots", daemon=True
            ).start()

    def __is_ready__(self) -> bool:
        try:
            self.store.fetch("SELECT 1 AS ok")
        except DatabaseUnavailableError:
            return False
        return self.models.ready()

    # ------------------------------------------------------------------ live signals
    def signal(self, request: SignalRequest, raw: bytes | None = None) -> dict[str, Any]:
        """The signal for one symbol (``Inference.to_dict()``); errors raise with their
        ``http_status``. ``raw``: the request body as received, remembered with the
        answer so that the same bytes again skip parsing (:meth:`signal_from_body`)."""
        quote = request.quote.as_mapping() if request.quote is not None else None
        answer = self.models.infer(
            request.symbol,
            request.bars_frame(),
            chain=request.chain_frame(),
            quote=quote,
            now=request.as_of,
        )
        engine, _ = self.models.engine_for(request.symbol)
        if raw is not None and engine.cache is not None:
            self.bodies.put(raw, engine.model_version, request.as_of, answer, engine.cache.ttl)
        return answer.to_dict()

    def signal_from_body(self, raw: bytes) -> dict[str, Any] | None:
        """The cached answer to a body received before, byte for byte, within the signal
        cache's lifetime and from the model still serving its symbol (replayed: fresh
        bars checked, marked from the cache, counted by the monitor); None otherwise."""
        entry = self.bodies.get(raw)
        if entry is None:
            return None
        version, as_of, answer = entry
        engine, arm = self.models.engine_for(answer.signal.symbol)
        if engine.model_version != version:
            return None
        return engine.replay(answer, as_of).with_(arm=arm).to_dict()

    def batch(self, request: BatchRequest) -> dict[str, Any]:
        """One answer per symbol; a symbol's error is its item's status and message."""
        self.models.require()  # no model at all: the whole batch is a 503
        results = []
        for item in request.requests:
            try:
                results.append(
                    {"symbol": item.symbol, "ok": True, "status": 200, "result": self.signal(item)}
                )
            except InferenceError as exc:
                status, body = error_body(exc)
                results.append(
                    {"symbol": item.symbol, "ok": False, "status": status, "error": body["error"]}
                )
        return {"results": results}

    def stream(self, request: StreamRequest) -> dict[str, Any]:
        """The next bar of a symbol into its streaming state (``history`` warms it first)."""
        engine, arm = self.models.engine_for(request.symbol)
        if request.history:
            engine.warm_start(
                SignalRequest(symbol=request.symbol, bars=request.history).bars_frame()
            )
        bar = SignalRequest(symbol=request.symbol, bars=[request.bar]).bars_frame().iloc[0]
        quote = request.quote.as_mapping() if request.quote is not None else None
        answer = engine.infer_update(
            bar.to_dict(), chain=request.chain_frame(), quote=quote, now=request.as_of
        )
        return answer.with_(arm=arm).to_dict()

    def model(self) -> dict[str, Any]:
        return self.models.info()

    def metrics(self) -> str:
        return self.models.monitor.metrics_text()

    def write_monitoring_snapshot(self) -> dict[str, str]:
        written = self.models.monitor.write_snapshot()
        return {kind: str(path) for kind, path in written.items()}

    def _snapshot_loop(self, every: float) -> None:
        while not self._stop.wait(every):
            try:
                self.write_monitoring_snapshot()
            except Exception as exc:  # monitoring must never take the service down
                log.warning("monitoring snapshot failed: %s", exc)


class BodyCache:
    """Answers by the SHA-256 of the request body, for the signal cache's lifetime: a
    repeated request is answered without parsing and validating its bars again (most of
    a cache hit's cost over HTTP). In-process and per worker; the engine's cache (which
    may be Redis) still answers equal requests written differently."""

    def __init__(self, maxsize: int = 4096) -> None:
        self.maxsize = maxsize
        self._items: dict[bytes, tuple[float, str, Any, Inference]] = {}
        self._lock = threading.Lock()

    def get(self, raw: bytes) -> tuple[str, Any, Inference] | None:
        key = hashlib.sha256(raw).digest()
        with self._lock:
            item = self._items.get(key)
            if item is None:
                return None
            if item[0] < time.monotonic():
                del self._items[key]
                return None
            return item[1:]

    def put(self, raw: bytes, version: str, as_of: Any, answer: Inference, ttl: float) -> None:
        if ttl <= 0:
            return
        key = hashlib.sha256(raw).digest()
        with self._lock:
            if len(self._items) >= self.maxsize:
                now = time.monotonic()
                self._items = {k: v for k, v in self._items.items() if v[0] >= now}
                while len(self._items) >= self.maxsize:
                    self._items.pop(next(iter(self._items)))
            self._items[key] = (time.monotonic() + ttl, version, as_of, answer)
