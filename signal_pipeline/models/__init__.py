"""Models: the member contract, purged CV, XGBoost / Random Forest / LSTM members, the
calibrated soft-voting ensemble, evaluation and ``train_ensemble``. See docs/models.md.

Names resolve lazily, so importing the splitter does not import torch.
"""

from __future__ import annotations

from signal_pipeline._lazy import lazy_exports

_EXPORTS = {
    "SignalModel": "signal_pipeline.models.base",
    "ModelError": "signal_pipeline.models.base",
    "ModelNotFittedError": "signal_pipeline.models.base",
    "load_model": "signal_pipeline.models.base",
    "load_model_config": "signal_pipeline.models.base",
    "PurgedWalkForward": "signal_pipeline.models.cv",
    "CVConfigError": "signal_pipeline.models.cv",
    "XGBoostModel": "signal_pipeline.models.xgb",
    "RandomForestModel": "signal_pipeline.models.forest",
    "LSTMModel": "signal_pipeline.models.lstm",
    "SoftVotingEnsemble": "signal_pipeline.models.ensemble",
    "soft_vote": "signal_pipeline.models.ensemble",
    "apply_threshold": "signal_pipeline.models.ensemble",
    "TemperatureCalibrator": "signal_pipeline.models.calibration",
    "IsotonicCalibrator": "signal_pipeline.models.calibration",
    "make_calibrator": "signal_pipeline.models.calibration",
    "classification_metrics": "signal_pipeline.models.evaluation",
    "expected_calibration_error": "signal_pipeline.models.evaluation",
    "reliability_table": "signal_pipeline.models.evaluation",
    "reliability_plot": "signal_pipeline.models.evaluation",
    "baseline_metrics": "signal_pipeline.models.evaluation",
    "oracle_comparison": "signal_pipeline.models.evaluation",
    "shuffled_label_alarm": "signal_pipeline.models.evaluation",
    "ShuffledLabelResult": "signal_pipeline.models.evaluation",
    "train_ensemble": "signal_pipeline.models.training",
    "TrainedEnsemble": "signal_pipeline.models.trained",
    "TrainingError": "signal_pipeline.models.training",
    "prepare_training_data": "signal_pipeline.models.training",
    "tune_member": "signal_pipeline.models.tuning",
    "TuningResult": "signal_pipeline.models.tuning",
    "TuningError": "signal_pipeline.models.tuning",
    "build_training_set": "signal_pipeline.models.training_set",
    "training_config": "signal_pipeline.models.training_set",
    "train_with_tuning": "signal_pipeline.models.workflow",
    "model_importance": "signal_pipeline.models.importance",
    "permutation_importance": "signal_pipeline.models.importance",
}

__all__, __getattr__ = lazy_exports(__name__, _EXPORTS)
