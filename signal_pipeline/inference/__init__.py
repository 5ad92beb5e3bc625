"""Real-time inference: ``SignalEngine`` (bars in, ``Signal`` out), its filters, order
levels, signal cache, drift monitor and A/B router. See docs/inference.md.

Names resolve lazily, so importing an error class does not load the models.
"""

from __future__ import annotations

from signal_pipeline._lazy import lazy_exports

_EXPORTS = {
    "SignalEngine": "signal_pipeline.inference.engine",
    "EngineConfig": "signal_pipeline.inference.config",
    "EngineConfigError": "signal_pipeline.inference.config",
    "Inference": "signal_pipeline.inference.result",
    "InferenceError": "signal_pipeline.inference.errors",
    "InferenceInputError": "signal_pipeline.inference.errors",
    "EmptyBarsError": "signal_pipeline.inference.errors",
    "InsufficientBarsError": "signal_pipeline.inference.errors",
    "StaleBarsError": "signal_pipeline.inference.errors",
    "InvalidBarsError": "signal_pipeline.inference.errors",
    "NonFiniteInputError": "signal_pipeline.inference.errors",
    "PayloadTooLargeError": "signal_pipeline.inference.errors",
    "IncompleteFeaturesError": "signal_pipeline.inference.errors",
    "InvalidQuoteError": "signal_pipeline.inference.errors",
    "ModelUnavailableError": "signal_pipeline.inference.errors",
    "SignalDeduplicator": "signal_pipeline.inference.filters",
    "InProcessCache": "signal_pipeline.inference.cache",
    "RedisCache": "signal_pipeline.inference.cache",
    "make_cache": "signal_pipeline.inference.cache",
    "DriftReference": "signal_pipeline.inference.drift",
    "drift_report": "signal_pipeline.inference.drift",
    "drift_plot": "signal_pipeline.inference.drift",
    "psi": "signal_pipeline.inference.drift",
    "ks_statistic": "signal_pipeline.inference.drift",
    "DriftMonitor": "signal_pipeline.inference.monitor",
    "read_snapshots": "signal_pipeline.inference.monitor",
    "ABRouter": "signal_pipeline.inference.ab",
    "assign_arm": "signal_pipeline.inference.ab",
    "ab_test_report": "signal_pipeline.inference.ab",
    "load_ensemble_tolerant": "signal_pipeline.inference.voting",
}

__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)
