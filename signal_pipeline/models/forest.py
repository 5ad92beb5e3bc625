"""Random Forest member: scikit-learn's ``RandomForestClassifier``, saved with ``skops.io``.

skops stores the estimator without pickle and, on load, refuses any type outside an
allow-list; we allow only types from scikit-learn and numpy, which is all a fitted forest
holds. The spec asks the forest for feature-importance rankings: see
:meth:`RandomForestModel.feature_importance` (impurity decrease, normalised to sum 1).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import skops.io as sio
from sklearn.ensemble import RandomForestClassifier

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

MODEL_FILE = "model.skops"
_TRUSTED_PREFIXES = ("sklearn.", "numpy.", "builtins.")
_FOREST_PARAMS = (
    "n_estimators",
    "max_depth",
    "min_samples_split",
    "min_samples_leaf",
    "max_features",
    "class_weight",
    "random_state",
    "n_jobs",
)


class RandomForestModel(SignalModel):
    """Random forest; params are the ``random_forest`` section of ``models.yaml``.

    Learned: ``estimator_`` (the fitted ``RandomForestClassifier``), ``present_classes_``,
    ``n_features_in_``, ``feature_names_in_``.
    """

    kind: ClassVar[str] = "random_forest"

    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Self:
        values, names = feature_matrix(X)
        labels = check_labels(y, len(values))
        weight = check_sample_weight(sample_weight, len(values))
        if len(values) == 0:
            raise ModelError("X has no rows: RandomForestModel needs training data.")
        kwargs = {k: self.params[k] for k in _FOREST_PARAMS if k in self.params}
        self.estimator_ = RandomForestClassifier(**kwargs)
        self.estimator_.fit(values, labels, sample_weight=weight)
        self.present_classes_ = self.estimator_.classes_.astype(np.int64)
        self.feature_names_in_ = names
        self.n_features_in_ = len(names)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        self._require_fitted()
        values, names = feature_matrix(X)
        self._check_features(names)
        proba = self.estimator_.predict_proba(values).astype(np.float64)
        return expand_proba(proba, self.present_classes_)

    def feature_importance(self) -> dict[str, float]:
        """Mean decrease in impurity per feature name, summing to 1."""
        self._require_fitted()
        return dict(
            zip(self.feature_names_in_, self.estimator_.feature_importances_.tolist(), strict=True)
        )

    def save(self, path: str | Path) -> Path:
        self._require_fitted()
        folder = Path(path)
        folder.mkdir(parents=True, exist_ok=True)
        sio.dump(self.estimator_, folder / MODEL_FILE)
        write_meta(folder, self._base_meta())
        return folder

    @classmethod
    def load(cls, path: str | Path) -> Self:
        folder = Path(path)
        meta = read_meta(folder)
        if meta.get("kind") != cls.kind:
            raise ModelError(f"{folder} holds a {meta.get('kind')!r} model, not {cls.kind!r}.")
        file = folder / MODEL_FILE
        untrusted = sio.get_untrusted_types(file=file)
        foreign = [t for t in untrusted if not t.startswith(_TRUSTED_PREFIXES)]
        if foreign:
            raise ModelError(
                f"{file} contains types outside scikit-learn/numpy: {foreign[:5]}; refusing to "
                "load it. Re-train the model or inspect the file with skops.io.get_untrusted_types."
            )
        model = cls(meta["params"])
        model.estimator_ = sio.load(file, trusted=untrusted)
        model.present_classes_ = np.asarray(meta["present_classes_"], dtype=np.int64)
        model.feature_names_in_ = list(meta["feature_names_in_"])
        model.n_features_in_ = len(model.feature_names_in_)
        return model
