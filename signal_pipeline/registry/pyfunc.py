"""The ensemble as one MLflow pyfunc model, logged with MLflow 3 "models from code".

``EnsemblePyfunc`` wraps a saved :class:`~signal_pipeline.models.TrainedEnsemble` folder
(the members in their native formats: XGBoost JSON, skops, torch ``state_dict``; the
calibrator and weights as JSON). Nothing is pickled: MLflow stores the *code file*
``ensemble_model_code.py`` (which calls ``mlflow.models.set_model``) and the ensemble
folder as the artifact ``ensemble``. Loading runs that code and then
``load_context``, which calls ``TrainedEnsemble.load`` - the same loader as everywhere
else, so ``models:/signal-ensemble@champion`` predicts exactly what the in-memory
ensemble predicts.

Input: a feature table (``symbol``, ``ts`` and the feature columns the ensemble was
trained on; the LSTM member builds its sequences per symbol from the rows it is given).
``ts`` is UTC without a zone (MLflow's ``datetime`` type has none): use
:func:`to_model_input`.
Output: one row per input row, ``p_sell, p_hold, p_buy`` (calibrated), ``signal``
(SELL / HOLD / BUY after the confidence threshold), ``label`` and ``confidence``.
"""

from __future__ import annotations

import contextlib
from importlib import metadata
from pathlib import Path
from typing import Any

import mlflow
import pandas as pd

from signal_pipeline.models.trained import TrainedEnsemble

ARTIFACT_KEY = "ensemble"
MODEL_CODE = Path(__file__).with_name("ensemble_model_code.py")
OUTPUT_COLUMNS = ("p_sell", "p_hold", "p_buy", "signal", "label", "confidence")
# What a fresh environment needs to run the model (pinned to the versions trained with).
_REQUIREMENTS = ("mlflow", "pandas", "numpy", "xgboost", "scikit-learn", "skops", "torch")


class EnsemblePyfunc(mlflow.pyfunc.PythonModel):
    """pyfunc wrapper around a saved ``TrainedEnsemble`` (artifact ``ensemble``)."""

    def load_context(self, context: mlflow.pyfunc.PythonModelContext) -> None:
        self.trained = TrainedEnsemble.load(context.artifacts[ARTIFACT_KEY])

    def predict(
        self,
        context: mlflow.pyfunc.PythonModelContext,
        model_input: pd.DataFrame,
        params: dict[str, Any] | None = None,
    ) -> pd.DataFrame:
        frame = pd.DataFrame(model_input)
        if "ts" in frame.columns:
            # MLflow's schema enforcement may hand the timestamps back without their zone;
            # every ts of the contracts is UTC.
            ts = pd.to_datetime(frame["ts"], utc=True)
            frame = frame.assign(ts=ts.astype("datetime64[ns, UTC]"))
        signals = self.trained.predict_signal(frame)
        return signals[list(OUTPUT_COLUMNS)].reset_index(drop=True)


def requirements() -> list[str]:
    """Pinned pip requirements of the logged model (the versions installed here)."""
    pins = []
    for name in _REQUIREMENTS:
        try:
            pins.append(f"{name}=={metadata.version(name)}")
        except metadata.PackageNotFoundError:
            pins.append(name)
    with contextlib.suppress(metadata.PackageNotFoundError):
        pins.append(f"signal-pipeline=={metadata.version('signal-pipeline')}")
    return pins


def to_model_input(features: pd.DataFrame, feature_names: list[str] | None = None) -> pd.DataFrame:
    """A feature table as the pyfunc model takes it: ``ts`` as timezone-naive UTC (MLflow's
    ``datetime`` type refuses zone-aware values), optionally only ``feature_names``."""
    frame = features
    if feature_names is not None:
        keys = [c for c in ("symbol", "ts") if c in frame.columns]
        frame = frame[[*keys, *feature_names]]
    if "ts" in frame.columns and getattr(frame["ts"].dtype, "tz", None) is not None:
        frame = frame.assign(ts=frame["ts"].dt.tz_convert("UTC").dt.tz_localize(None))
    return frame.reset_index(drop=True)


def input_example(features: pd.DataFrame, feature_names: list[str], rows: int = 5) -> pd.DataFrame:
    """The first ``rows`` complete rows of a feature table, keys + the trained features."""
    frame = features[[c for c in ("symbol", "ts") if c in features.columns] + feature_names]
    complete = frame.loc[frame[feature_names].notna().all(axis=1)]
    return to_model_input(complete.head(rows))


def log_ensemble_model(
    ensemble_folder: str | Path,
    example: pd.DataFrame,
    *,
    run_id: str,
    name: str = "ensemble",
) -> Any:
    """Log the saved ensemble into run ``run_id`` as a pyfunc model (models from code),
    with a signature inferred from ``example`` and its prediction, and ``example`` as the
    input example. Returns MLflow's ``ModelInfo`` (``model_uri``, ``model_id``, ...)."""
    from mlflow.models import infer_signature

    folder = Path(ensemble_folder)
    trained = TrainedEnsemble.load(folder)
    wrapper = EnsemblePyfunc()
    wrapper.trained = trained
    output = wrapper.predict(None, example)  # type: ignore[arg-type]
    signature = infer_signature(example, output)
    with mlflow.start_run(run_id=run_id):
        return mlflow.pyfunc.log_model(
            name=name,
            python_model=str(MODEL_CODE),
            artifacts={ARTIFACT_KEY: str(folder)},
            signature=signature,
            input_example=example,
            pip_requirements=requirements(),
        )
