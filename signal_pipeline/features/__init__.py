"""Feature engineering: indicators, timeframes, the feature spec, batch tables, the
online engine and validation. Names resolve lazily so that importing one piece (say
the spec) does not load TA-Lib, pandas-heavy modules or Great Expectations."""

from __future__ import annotations

from signal_pipeline._lazy import lazy_exports

_EXPORTS = {
    "compute_features": "signal_pipeline.features.pipeline",
    "iter_features": "signal_pipeline.features.pipeline",
    "FeatureInputError": "signal_pipeline.features.pipeline",
    "OnlineFeatureEngine": "signal_pipeline.features.online",
    "FeatureSpec": "signal_pipeline.features.spec",
    "FeatureSpecError": "signal_pipeline.features.spec",
    "load_feature_spec": "signal_pipeline.features.spec",
    "BarStreamError": "signal_pipeline.features.timeframes",
    "validate_feature_table": "signal_pipeline.features.validation",
    "correlated_pairs": "signal_pipeline.features.validation",
}

__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)
