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

import logging
import os
import threading
from typing import Any

import bentoml

from bentos.signal_service.live_api import app as live_app
from bentos.signal_service.live_api import error_body
from bentos.signal_service.model_loader import LiveModels
from bentos.signal_service.schemas import BatchRequest, SignalRequest, StreamRequest
from bentos.signal_service.signals_api import app as signals_app
from signal_pipeline.inference.errors import InferenceError
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
    def signal(self, request: SignalRequest) -> dict[str, Any]:
        """The signal for one symbol (``Inference.to_dict()``); errors raise with their
        ``http_status``."""
        quote = request.quote.as_mapping() if request.quote is not None else None
        answer = self.models.infer(
            request.symbol,
            request.bars_frame(),
            chain=request.chain_frame(),
            quote=quote,
            now=request.as_of,
        )
        return answer.to_dict()

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
