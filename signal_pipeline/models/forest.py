"""Random Forest member: scikit-learn's ``RandomForestClassifier``, saved with ``skops.io``.

skops stores the estimator without pickle and, on load, refuses any type outside an
allow-list; we allow only types from scikit-learn and numpy, which is all a fitted forest
holds. The spec asks the forest for feature-importance rankings: see
:meth:`RandomForestModel.feature_importance` (impurity decrease, normalised to sum 1).

Prediction does not go through scikit-learn: on one row its ``predict_proba`` spends
milliseconds on input validation and a joblib dispatch per tree. After ``fit`` and
``load`` the trees are flattened once into stacked arrays (:class:`FlatForest`) that a
compiled loop walks. It reproduces scikit-learn's arithmetic exactly (tested): features
cast to float32, ``x <= threshold`` compared in float64, NaN sent the way each split
learned (``missing_go_to_left``), leaf class fractions summed over the trees in order
(as ``n_jobs=1`` does) and divided by the number of trees; like scikit-learn it refuses
infinite values (and float64 values too large for float32).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import skops.io as sio
from numba import njit
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

_LEAF = -1  # scikit-learn's TREE_LEAF: a node without children


@njit(cache=True)
def _forest_proba(
    X: np.ndarray,
    feature: np.ndarray,
    threshold: np.ndarray,
    left: np.ndarray,
    right: np.ndarray,
    missing_left: np.ndarray,
    value: np.ndarray,
    roots: np.ndarray,
) -> np.ndarray:  # pragma: no cover - compiled; covered through FlatForest.predict_proba
    n_rows = X.shape[0]
    n_classes = value.shape[1]
    out = np.zeros((n_rows, n_classes), dtype=np.float64)
    for t in range(roots.shape[0]):
        for i in range(n_rows):
            node = roots[t]
            while left[node] != _LEAF:
                x = X[i, feature[node]]  # float32, promoted to float64 below
                if np.isnan(x):
                    node = left[node] if missing_left[node] else right[node]
                elif x <= threshold[node]:
                    node = left[node]
                else:
                    node = right[node]
            for k in range(n_classes):
                out[i, k] += value[node, k]
    n_trees = roots.shape[0]
    for i in range(n_rows):
        for k in range(n_classes):
            out[i, k] /= n_trees
    return out


class FlatForest:
    """The trees of a fitted ``RandomForestClassifier`` stacked into flat node arrays
    (child indices global over the stack, ``-1`` at leaves), evaluated by a compiled
    loop with scikit-learn's arithmetic (see the module docstring)."""

    def __init__(self, forest: RandomForestClassifier) -> None:
        n_classes = int(forest.n_classes_)
        features, thresholds, lefts, rights, missing, values, roots = [], [], [], [], [], [], []
        offset = 0
        for estimator in forest.estimators_:
            tree = estimator.tree_
            if tree.n_outputs != 1 or tree.value.shape[2] != n_classes:
                raise ModelError(
                    f"tree of shape {tree.value.shape} in a {n_classes}-class forest: only "
                    "single-output forests can be flattened."
                )
            left = tree.children_left.astype(np.int64)
            right = tree.children_right.astype(np.int64)
            is_leaf = left == _LEAF
            lefts.append(np.where(is_leaf, _LEAF, left + offset))
            rights.append(np.where(is_leaf, _LEAF, right + offset))
            features.append(np.where(is_leaf, 0, tree.feature).astype(np.int64))
            thresholds.append(tree.threshold.astype(np.float64))
            missing.append(np.asarray(tree.missing_go_to_left, dtype=np.bool_))
            # Leaf values are the class fractions predict_proba returns (scikit-learn >= 1.4).
            values.append(np.asarray(tree.value[:, 0, :], dtype=np.float64))
            roots.append(offset)
            offset += tree.node_count
        self.n_features = int(forest.n_features_in_)
        self.feature = np.ascontiguousarray(np.concatenate(features))
        self.threshold = np.ascontiguousarray(np.concatenate(thresholds))
        self.left = np.ascontiguousarray(np.concatenate(lefts))
        self.right = np.ascontiguousarray(np.concatenate(rights))
        self.missing_left = np.ascontiguousarray(np.concatenate(missing))
        self.value = np.ascontiguousarray(np.concatenate(values))
        self.roots = np.asarray(roots, dtype=np.int64)
        # Compile (or load from numba's cache) now, at fit/load, not on the first request.
        self.predict_proba(np.zeros((1, self.n_features)))

    def predict_proba(self, values: np.ndarray) -> np.ndarray:
        """(n, n_classes) probabilities of the float64 rows ``values``; equal to the
        forest's ``predict_proba`` with ``n_jobs=1``."""
        if values.ndim != 2 or values.shape[1] != self.n_features:
            raise ModelError(
                f"X has shape {values.shape}: the forest needs (rows, {self.n_features})."
            )
        with np.errstate(over="ignore"):
            X = np.ascontiguousarray(values, dtype=np.float32)
        if np.isinf(X).any():
            raise ModelError(
                "X contains infinity or a value too large for float32: the random forest "
                "accepts finite values and NaN only."
            )
        return _forest_proba(
            X,
            self.feature,
            self.threshold,
            self.left,
            self.right,
            self.missing_left,
            self.value,
            self.roots,
        )


class RandomForestModel(SignalModel):
    """Random forest; params are the ``random_forest`` section of ``models.yaml``.

    Learned: ``estimator_`` (the fitted ``RandomForestClassifier``), ``present_classes_``,
    ``n_features_in_``, ``feature_names_in_``; ``flat_`` (its :class:`FlatForest`, rebuilt
    from ``estimator_`` on load, never saved).
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
        self.flat_ = FlatForest(self.estimator_)
        self.present_classes_ = self.estimator_.classes_.astype(np.int64)
        self.feature_names_in_ = names
        self.n_features_in_ = len(names)
        return self

    def predict_proba(self, X: Any) -> np.ndarray:
        self._require_fitted()
        values, names = feature_matrix(X)
        self._check_features(names)
        proba = self._flat().predict_proba(values)
        return expand_proba(proba, self.present_classes_)

    def _flat(self) -> FlatForest:
        flat = getattr(self, "flat_", None)
        if flat is None:  # an estimator_ set by hand (fit and load build it)
            flat = self.flat_ = FlatForest(self.estimator_)
        return flat

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
        model.flat_ = FlatForest(model.estimator_)
        model.present_classes_ = np.asarray(meta["present_classes_"], dtype=np.int64)
        model.feature_names_in_ = list(meta["feature_names_in_"])
        model.n_features_in_ = len(model.feature_names_in_)
        return model
