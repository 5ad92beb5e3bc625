"""``TrainedEnsemble``: the deployable ensemble together with its training evidence.

It holds the calibrated :class:`SoftVotingEnsemble`, the out-of-fold frame and the metrics
of :func:`signal_pipeline.models.train_ensemble`, and the feature names and configuration
it was trained with. ``save(path)`` writes one folder, atomically (a temporary sibling
then a rename): ``ensemble/`` (members in native formats + ``ensemble.json`` with the
weights, threshold and calibrator), ``oof.parquet`` and ``training.json`` (feature
names, config, metrics). ``load(path)`` reproduces predictions exactly.
"""

from __future__ import annotations

import json
import os
import shutil
import uuid
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Self

import numpy as np
import pandas as pd

from signal_pipeline.models.base import KEY_COLUMNS, ModelError, with_key_columns
from signal_pipeline.models.ensemble import SoftVotingEnsemble

PROBA_COLUMNS: tuple[str, str, str] = ("p_sell", "p_hold", "p_buy")
TRAINING_FILE = "training.json"
OOF_FILE = "oof.parquet"


@dataclass
class TrainedEnsemble:
    """The result of :func:`train_ensemble`: deployable ensemble + its evidence."""

    ensemble: SoftVotingEnsemble
    oof: pd.DataFrame
    metrics: dict[str, Any]
    feature_names: list[str]
    config: dict[str, Any] = field(default_factory=dict)

    def predict_proba(self, X: Any) -> np.ndarray:
        return self.ensemble.predict_proba(self._features(X))

    def predict_signal(self, X: Any) -> pd.DataFrame:
        return self.ensemble.predict_signal(self._features(X))

    def _features(self, X: Any) -> Any:
        if not isinstance(X, pd.DataFrame):
            return X
        frame = with_key_columns(X, "X") if set(KEY_COLUMNS) & set(X.index.names or []) else X
        missing = [c for c in self.feature_names if c not in frame.columns]
        if missing:
            raise ModelError(f"X lacks feature columns {missing[:5]} the ensemble was trained on.")
        keys = [k for k in KEY_COLUMNS if k in frame.columns]
        return frame[[*keys, *self.feature_names]]

    def save(self, path: str | Path) -> Path:
        """Write to folder ``path`` atomically (a temporary sibling, then a rename)."""
        target = Path(path)
        target.parent.mkdir(parents=True, exist_ok=True)
        staging = target.parent / f".{target.name}.tmp-{uuid.uuid4().hex[:8]}"
        try:
            self.ensemble.save(staging / "ensemble")
            self.oof.to_parquet(staging / OOF_FILE, index=False)
            spec = {
                "feature_names": self.feature_names,
                "config": self.config,
                "metrics": self.metrics,
            }
            (staging / TRAINING_FILE).write_text(json.dumps(spec, indent=2, default=_json_default))
            if target.exists():
                shutil.rmtree(target)
            os.replace(staging, target)
        finally:
            if staging.exists():
                shutil.rmtree(staging)
        return target

    @classmethod
    def load(cls, path: str | Path) -> Self:
        folder = Path(path)
        file = folder / TRAINING_FILE
        if not file.is_file():
            raise ModelError(f"{file} not found: {folder} is not a TrainedEnsemble folder.")
        spec = json.loads(file.read_text())
        return cls(
            ensemble=SoftVotingEnsemble.load(folder / "ensemble"),
            oof=pd.read_parquet(folder / OOF_FILE),
            metrics=spec["metrics"],
            feature_names=spec["feature_names"],
            config=spec["config"],
        )


def _json_default(value: Any) -> Any:
    if isinstance(value, np.generic):
        return value.item()
    if isinstance(value, np.ndarray):
        return value.tolist()
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
