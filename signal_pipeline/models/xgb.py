"""XGBoost member: gradient-boosted trees, ``multi:softprob`` over SELL / HOLD / BUY.

Trained through XGBoost's native ``Booster`` API (``xgboost.train``), which keeps the class
columns under our control: when a class is missing from the training labels the booster is
trained on the classes present and the missing column is filled with 0. Saved as XGBoost's
own JSON model file (exact round trip) beside ``meta.json``.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import xgboost as xgb

from signal_pipeline.models.base import (
    ModelError,
    SignalModel,
    check_labels,
    check_sample_weight,
    expand_proba,
    feature_matrix,
    read_meta,
    write_meta,
)

MODEL_FILE = "model.json"


class XGBoostModel(SignalModel):
    """XGBoost classifier; params are the ``xgboost`` section of ``models.yaml``.

    Learned: ``booster_`` (None when training saw a single class), ``present_classes_``,
    ``prior_``, ``n_features_in_``, ``feature_names_in_``.
    """

    kind: ClassVar[str] = "xgboost"

    def _booster_params(self, n_present: int) -> dict[str, Any]:
        p = self.params
        if p.get("objective", "multi:softprob") != "multi:softprob":
            raise ModelError(
                f"xgboost objective {p['objective']!r}: this member needs 'multi:softprob' "
                "(class probabilities)."
            )
        n_jobs = p.get("n_jobs") or os.cpu_count() or 1
        return {
            "objective": "multi:softprob",
            "num_class": n_present,
            "max_depth": int(p.get("max_depth", 6)),
            "eta": float(p.get("learning_rate", 0.1)),
            "subsample": float(p.get("subsample", 1.0)),
            "colsample_bytree": float(p.get("colsample_bytree", 1.0)),
            "seed": int(p.get("random_state", 0)),
            "nthread": int(n_jobs),
            "eval_metric": "mlogloss",
            "tree_method": p.get("tree_method", "hist"),
        }

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Self:
        values, names = feature_matrix(X)
        labels = check_labels(y, len(values))
        weight = check_sample_weight(sample_weight, len(values))
        if len(values) == 0:
            raise ModelError("X has no rows: XGBoostModel needs training data.")
        present = np.unique(labels)
        self.present_classes_ = present
        self.feature_names_in_ = names
        self.n_features_in_ = len(names)
        counts = np.bincount(labels, weights=weight, minlength=3)
        self.prior_ = counts / counts.sum()
        if present.size == 1:
            self.booster_: xgb.Booster | None = None  # one class: its probability is 1
            return self
        encoded = np.searchsorted(present, labels)
        dtrain = xgb.DMatrix(values, label=encoded, weight=weight, feature_names=names)
        self.booster_ = xgb.train(
            self._booster_params(present.size),
            dtrain,
            num_boost_round=int(self.params.get("n_estimators", 100)),
        )
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        self._require_fitted()
        values, names = feature_matrix(X)
        self._check_features(names)
        if self.booster_ is None:
            return np.tile(self.prior_, (len(values), 1))
        raw = self.booster_.inplace_predict(values, validate_features=False)
        proba = np.asarray(raw, dtype=np.float64).reshape(len(values), -1)
        proba /= proba.sum(axis=1, keepdims=True)  # float32 softmax sums drift from 1
        return expand_proba(proba, self.present_classes_)

    def feature_importance(self, importance_type: str = "gain") -> dict[str, float]:
        """Importance per feature name (0 for features never split on)."""
        self._require_fitted()
        if self.booster_ is None:
            return dict.fromkeys(self.feature_names_in_, 0.0)
        scores = self.booster_.get_score(importance_type=importance_type)
        return {name: float(scores.get(name, 0.0)) for name in self.feature_names_in_}

    def save(self, path: str | Path) -> Path:
        self._require_fitted()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        if self.booster_ is not None:
            self.booster_.save_model(folder / MODEL_FILE)
        write_meta(
            folder,
            {
                **self._base_meta(),
                "prior_": self.prior_.tolist(),
                "has_booster": self.booster_ is not None,
            },
        )
        return folder

    @classmethod
    def load(cls, path: str | Path) -> Self:
        folder = Path(path)
        meta = read_meta(folder)
        if meta.get("kind") != cls.kind:
            raise ModelError(f"{folder} holds a {meta.get('kind')!r} model, not {cls.kind!r}.")
        model = cls(meta["params"])
        model.present_classes_ = np.asarray(meta["present_classes_"], dtype=np.int64)
        model.feature_names_in_ = list(meta["feature_names_in_"])
        model.n_features_in_ = len(model.feature_names_in_)
        model.prior_ = np.asarray(meta["prior_"], dtype=np.float64)
        model.booster_ = None
        if meta["has_booster"]:
            booster = xgb.Booster()
            booster.load_model(folder / MODEL_FILE)
            model.booster_ = booster
        return model
