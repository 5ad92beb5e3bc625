"""``DriftMonitor``: what the served model sees and says, for ``/metrics`` and Dagster.

It accumulates, in bounded windows, every answer's latency, signal type, confidence,
model version and degradation, and the feature rows of computed (non-cached) answers.
From those it renders the Prometheus text exposition (:meth:`metrics_text`, via
``prometheus_client`` on a private registry) and writes snapshots as Parquet under
``get_settings().home / "monitoring"`` (:meth:`write_snapshot`) for the
``model_monitoring`` asset, which reads them back with :func:`read_snapshots`. Feature
drift (PSI, KS against a :class:`DriftReference`) is computed on demand, not per request.
Thread-safe.
"""

from __future__ import annotations

import os
import threading
import uuid
from collections import deque
from collections.abc import Sequence
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pandas as pd
from prometheus_client import CollectorRegistry, Counter, Gauge, Histogram, generate_latest

from signal_pipeline.inference.drift import DriftReference, drift_report
from signal_pipeline.inference.result import Inference
from signal_pipeline.settings import get_settings

LATENCY_BUCKETS = (0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1.0, 2.5)
CONFIDENCE_BUCKETS = tuple(round(0.1 * i, 1) for i in range(1, 11))
PREDICTIONS_FILE = "predictions"
DRIFT_FILE = "drift"


def monitoring_dir() -> Path:
    return get_settings().home / "monitoring"


class DriftMonitor:
    """Windows of recent answers and feature rows; ``window`` bounds both (memory)."""

    def __init__(self, reference: DriftReference | None = None, *, window: int = 5000) -> None:
        self.reference = reference
        self.window = int(window)
        self._records: deque[dict[str, Any]] = deque(maxlen=self.window)
        self._rows: deque[np.ndarray] = deque(maxlen=self.window)
        self._feature_names: list[str] | None = None
        self._lock = threading.Lock()
        self.registry = CollectorRegistry()
        self._latency = Histogram(
            "signal_inference_latency_seconds",
            "Time to answer one signal request",
            ["cached"],
            buckets=LATENCY_BUCKETS,
            registry=self.registry,
        )
        self._predictions = Counter(
            "signal_predictions",
            "Signals answered, by type and model version",
            ["signal_type", "model_version"],
            registry=self.registry,
        )
        self._confidence = Histogram(
            "signal_confidence",
            "Calibrated confidence of the answered signals",
            ["signal_type"],
            buckets=CONFIDENCE_BUCKETS,
            registry=self.registry,
        )
        self._degraded = Counter(
            "signal_degraded",
            "Signals answered without some ensemble member",
            registry=self.registry,
        )
        self._psi = Gauge(
            "feature_psi", "PSI of the live window vs training", ["feature"], registry=self.registry
        )
        self._ks = Gauge(
            "feature_ks",
            "KS statistic of the live window vs training",
            ["feature"],
            registry=self.registry,
        )
        self._window_rows = Gauge(
            "feature_drift_window_rows",
            "Live feature rows in the drift window",
            registry=self.registry,
        )

    def observe(
        self, answer: Inference, features: np.ndarray | None, feature_names: Sequence[str]
    ) -> None:
        """Record one answer (and its feature row when it was computed, not cached)."""
        signal = answer.signal
        record = {
            "observed_at": datetime.now(UTC),
            "symbol": signal.symbol,
            "created_at": signal.created_at,
            "model_version": signal.model_version or "",
            "arm": answer.arm,
            "signal_type": str(signal.signal_type),
            "confidence": signal.confidence,
            "p_sell": answer.proba[0],
            "p_hold": answer.proba[1],
            "p_buy": answer.proba[2],
            "latency_s": answer.latency_s,
            "degraded": answer.degraded,
            "from_cache": answer.from_cache,
            "emitted": answer.emitted,
        }
        with self._lock:
            self._records.append(record)
            if features is not None:
                names = list(feature_names)
                if self._feature_names != names:
                    self._rows.clear()  # another model's features: a fresh window
                    self._feature_names = names
                self._rows.append(np.asarray(features, dtype=np.float64))
        self._latency.labels(cached=str(answer.from_cache).lower()).observe(answer.latency_s)
        self._predictions.labels(str(signal.signal_type), signal.model_version or "").inc()
        self._confidence.labels(str(signal.signal_type)).observe(signal.confidence)
        if answer.degraded:
            self._degraded.inc()

    def predictions(self) -> pd.DataFrame:
        """The window of recorded answers, one row each."""
        with self._lock:
            return pd.DataFrame(list(self._records))

    def live_features(self) -> pd.DataFrame:
        with self._lock:
            if not self._rows or self._feature_names is None:
                return pd.DataFrame(columns=self._feature_names or [])
            return pd.DataFrame(np.vstack(list(self._rows)), columns=self._feature_names)

    def drift(self) -> pd.DataFrame:
        """PSI/KS per feature of the live window (empty without a reference or rows)."""
        live = self.live_features()
        if self.reference is None or live.empty:
            return pd.DataFrame(columns=["feature", "psi", "ks", "ks_pvalue", "n_live", "status"])
        return drift_report(self.reference, live)

    def metrics_text(self) -> str:
        """Prometheus text exposition (drift gauges refreshed first)."""
        report = self.drift()
        self._window_rows.set(len(self._rows))
        for row in report.itertuples(index=False):
            self._psi.labels(row.feature).set(row.psi)
            self._ks.labels(row.feature).set(row.ks)
        return generate_latest(self.registry).decode()

    def write_snapshot(self, folder: str | Path | None = None) -> dict[str, Path]:
        """Write the predictions window and the drift report as Parquet files named by
        the UTC time (``predictions-YYYYmmddTHHMMSSffffff.parquet``, ``drift-...``)."""
        target = Path(folder) if folder is not None else monitoring_dir()
        target.mkdir(parents=True, exist_ok=True)
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%f")
        written = {}
        for kind, frame in ((PREDICTIONS_FILE, self.predictions()), (DRIFT_FILE, self.drift())):
            if kind == DRIFT_FILE:
                frame = frame.assign(written_at=pd.Timestamp(datetime.now(UTC)))
            path = target / f"{kind}-{stamp}.parquet"
            staging = target / f".{path.name}.tmp-{uuid.uuid4().hex[:8]}"
            frame.to_parquet(staging, index=False)
            os.replace(staging, path)
            written[kind] = path
        return written


def read_snapshots(folder: str | Path | None = None, last: int = 1) -> dict[str, pd.DataFrame]:
    """The ``last`` snapshots of each kind under ``folder`` (default: the monitoring
    folder), concatenated: ``{"predictions": ..., "drift": ...}`` (empty frames when none)."""
    source = Path(folder) if folder is not None else monitoring_dir()
    out = {}
    for kind in (PREDICTIONS_FILE, DRIFT_FILE):
        files = sorted(source.glob(f"{kind}-*.parquet"))[-last:] if source.is_dir() else []
        frames = [pd.read_parquet(f).assign(snapshot=f.stem) for f in files]
        out[kind] = pd.concat(frames, ignore_index=True) if frames else pd.DataFrame()
    return out
