"""The models the service answers with: the champion (and a challenger under A/B).

:class:`LiveModels` fetches ``champion`` through :func:`fetch_served_model` (registry →
local copy, or the local copy when the registry is down), builds a :class:`SignalEngine`
on it with a shared :class:`DriftMonitor`, and, when ``SIGNAL_PIPELINE_AB_SHARE`` > 0 and a
``challenger`` exists, an :class:`ABRouter` sending that share of symbols (by hash) to the
challenger. Loading failures are kept as ``status`` (shown by ``/model``), never raised to
the server: the service still starts, ``/readyz`` stays false, and live endpoints answer
503 with the reason.

Environment: ``MLFLOW_TRACKING_URI`` (registry), ``SIGNAL_PIPELINE_HOME`` (local copy),
``SIGNAL_PIPELINE_AB_SHARE`` (0..1, default 0), ``SIGNAL_PIPELINE_FEATURE_SPEC`` (the
training spec when the run did not log one), ``SIGNAL_PIPELINE_REQUIRE_CHAMPION`` (``1``:
not ready without a champion even when none is registered),
``SIGNAL_PIPELINE_MONITOR_SNAPSHOT_S`` (seconds between monitoring snapshots, default 300).
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Mapping
from typing import Any

import pandas as pd

from signal_pipeline.inference.ab import ABRouter
from signal_pipeline.inference.engine import SignalEngine
from signal_pipeline.inference.errors import InferenceError, ModelUnavailableError
from signal_pipeline.inference.loading import (
    ServedModel,
    ServedModelUnavailable,
    fetch_served_model,
    load_drift_reference_for,
    load_feature_spec_for,
)
from signal_pipeline.inference.monitor import DriftMonitor
from signal_pipeline.inference.result import Inference

log = logging.getLogger(__name__)
CHAMPION = "champion"
CHALLENGER = "challenger"
RETRY_EVERY_S = 30.0


def _env_float(name: str, default: float) -> float:
    raw = os.environ.get(name)
    if raw in (None, ""):
        return default
    try:
        return float(raw)
    except ValueError as exc:
        raise ValueError(f"{name}={raw!r} is not a number") from exc


class LiveModels:
    """Champion (+ challenger) engines, the monitor and the loading status."""

    def __init__(self, engine_config: Mapping[str, Any] | None = None) -> None:
        self.engine_config = dict(engine_config or {})
        self.ab_share = min(max(_env_float("SIGNAL_PIPELINE_AB_SHARE", 0.0), 0.0), 1.0)
        self.require_champion = os.environ.get("SIGNAL_PIPELINE_REQUIRE_CHAMPION") == "1"
        self.monitor = DriftMonitor()
        self.champion: SignalEngine | None = None
        self.challenger: SignalEngine | None = None
        self.router: ABRouter | None = None
        self.served: dict[str, ServedModel] = {}
        self.errors: dict[str, str] = {}
        self.not_registered = False
        self._lock = threading.Lock()
        self._last_attempt = 0.0
        self.load()

    # ------------------------------------------------------------------ loading
    def _engine(self, served: ServedModel) -> SignalEngine:
        return SignalEngine.from_folder(
            served.folder,
            model_version=served.model_version,
            spec=load_feature_spec_for(served),
            config=self.engine_config,
            monitor=self.monitor,
        )

    def load(self) -> bool:
        """(Re)try loading; True when a champion engine is in place."""
        with self._lock:
            self._last_attempt = time.monotonic()
            if self.champion is None:
                try:
                    served = fetch_served_model(CHAMPION)
                    engine = self._engine(served)
                except (InferenceError, ValueError, OSError) as exc:
                    self.errors[CHAMPION] = _reason(exc)
                    self.not_registered = getattr(exc, "not_registered", False)
                    log.error("champion not loaded: %s", self.errors[CHAMPION])
                else:
                    self.served[CHAMPION] = served
                    self.champion = engine
                    self.errors.pop(CHAMPION, None)
                    if served.drift_reference is not None:
                        self.monitor.reference = load_drift_reference_for(served)
                    if served.source == "local_copy":
                        log.warning("serving the local copy: %s", served.registry_error)
            if self.champion is not None and self.ab_share > 0 and self.challenger is None:
                try:
                    served = fetch_served_model(CHALLENGER)
                    if served.version != self.served[CHAMPION].version:
                        self.challenger = self._engine(served)
                        self.served[CHALLENGER] = served
                except (InferenceError, ValueError, OSError) as exc:
                    self.errors[CHALLENGER] = _reason(exc)
                    log.warning("no challenger, A/B off: %s", self.errors[CHALLENGER])
                if self.challenger is not None:
                    self.router = ABRouter(self.champion, self.challenger, share=self.ab_share)
            return self.champion is not None

    @property
    def loaded(self) -> bool:
        return self.champion is not None

    def nothing_registered(self) -> bool:
        """The registry answered that no version is champion, and there is no local copy
        (a fresh install, not an outage)."""
        return self.not_registered

    def ready(self) -> bool:
        if self.loaded:
            return True
        if time.monotonic() - self._last_attempt > RETRY_EVERY_S and self.load():
            return True
        return not self.require_champion and self.nothing_registered()

    def require(self) -> None:
        """Raise 503 with the loading reason when no champion is loaded."""
        if self.champion is None:
            self.ready()  # a retry, at most every RETRY_EVERY_S
        if self.champion is None:
            raise ModelUnavailableError(
                {CHAMPION: self.errors.get(CHAMPION, "the champion is still loading")}
            )

    # ------------------------------------------------------------------ answers
    def engine_for(self, symbol: str) -> tuple[SignalEngine, str]:
        self.require()
        assert self.champion is not None
        if self.router is not None:
            arm = self.router.arm_for(symbol)
            return self.router.engine_for(symbol), arm
        return self.champion, ""

    def infer(
        self,
        symbol: str,
        bars: pd.DataFrame,
        quote: Mapping[str, Any] | None = None,
        now: Any = None,
        chain: pd.DataFrame | None = None,
    ) -> Inference:
        engine, arm = self.engine_for(symbol)
        return engine.infer(symbol, bars, chain=chain, quote=quote, now=now).with_(arm=arm)

    def info(self) -> dict[str, Any]:
        out: dict[str, Any] = {
            "loaded": self.loaded,
            "ab_share": self.ab_share if self.router is not None else 0.0,
            "errors": dict(self.errors),
        }
        for alias, engine in ((CHAMPION, self.champion), (CHALLENGER, self.challenger)):
            if engine is None:
                continue
            served = self.served[alias]
            out[alias] = {
                **engine.info(),
                "version": served.version,
                "aliases": served.aliases,
                "source": served.source,
                "registry_error": served.registry_error,
                "fetched_at": served.fetched_at,
                "run_id": served.run_id,
                "local_copy": str(served.folder.parent),
                "drift_reference": served.drift_reference is not None,
            }
        return out


def _reason(exc: BaseException) -> str:
    if isinstance(exc, ModelUnavailableError | ServedModelUnavailable):
        return str(exc)
    return f"{type(exc).__name__}: {exc}"
