"""MLflow tracking, the pyfunc ensemble, registry aliases, the promotion policy and
lineage. Plain Python over MLflow's client API (no Dagster). See
docs/registry-and-training.md.

Names resolve lazily so that importing this package does not import MLflow.
"""

from __future__ import annotations

from signal_pipeline._lazy import lazy_exports

_EXPORTS = {
    "EXPERIMENT_NAME": "signal_pipeline.registry.tracking",
    "TrainingTags": "signal_pipeline.registry.tracking",
    "configure_tracking": "signal_pipeline.registry.tracking",
    "ensure_experiment": "signal_pipeline.registry.tracking",
    "code_version": "signal_pipeline.registry.tracking",
    "log_training_run": "signal_pipeline.registry.tracking",
    "log_tuning_run": "signal_pipeline.registry.tracking",
    "run_link": "signal_pipeline.registry.tracking",
    "EnsemblePyfunc": "signal_pipeline.registry.pyfunc",
    "log_ensemble_model": "signal_pipeline.registry.pyfunc",
    "MODEL_NAME": "signal_pipeline.registry.aliases",
    "CHAMPION": "signal_pipeline.registry.aliases",
    "CHALLENGER": "signal_pipeline.registry.aliases",
    "register_version": "signal_pipeline.registry.aliases",
    "set_alias": "signal_pipeline.registry.aliases",
    "alias_version": "signal_pipeline.registry.aliases",
    "PromotionDecision": "signal_pipeline.registry.promotion",
    "PromotionPolicy": "signal_pipeline.registry.promotion",
    "decide_promotion": "signal_pipeline.registry.promotion",
    "apply_promotion": "signal_pipeline.registry.promotion",
    "lineage": "signal_pipeline.registry.lineage",
    "resolve_version": "signal_pipeline.registry.lineage",
    "RegistryError": "signal_pipeline.registry.errors",
}

__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)
