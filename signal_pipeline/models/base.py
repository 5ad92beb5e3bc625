"""The model contract every ensemble member follows, and the model configuration.

A member follows scikit-learn's estimator contract: hyper-parameters are given to the
constructor as a params dict (merged over the member's section of ``config/models.yaml``),
``fit(X, y, sample_weight=None)`` returns ``self``, learned attributes end in ``_``, and
``predict_proba(X)`` returns an ``(n, 3)`` array whose columns are always SELL, HOLD, BUY,
even when a class never occurred in training (its column is then 0).

``X`` is a feature table: a DataFrame of float columns, keyed by ``symbol`` and ``ts``
either as columns or as index levels (keys are never features), or a plain 2-D array.
Each member saves itself into a folder in its library's native format plus a
``meta.json``; :func:`load_model` reads any of them back.
"""

from __future__ import annotations

import copy
import json
from abc import ABC, abstractmethod
from collections.abc import Mapping
from importlib import resources
from pathlib import Path
from typing import Any, ClassVar, Self

import numpy as np
import pandas as pd
import yaml

from signal_pipeline.labels import CLASS_NAMES

N_CLASSES = len(CLASS_NAMES)
KEY_COLUMNS: tuple[str, str] = ("symbol", "ts")
META_FILE = "meta.json"
FORMAT_VERSION = 1


class ModelError(ValueError):
    """Bad model input, configuration or artifact; the message names it and the fix."""


class ModelNotFittedError(ModelError):
    """A model was asked to predict or save before ``fit``."""


def _deep_merge(base: dict[str, Any], overrides: Mapping[str, Any]) -> dict[str, Any]:
    merged = copy.deepcopy(base)
    for key, value in overrides.items():
        if isinstance(value, Mapping) and isinstance(merged.get(key), dict):
            merged[key] = _deep_merge(merged[key], value)
        else:
            merged[key] = copy.deepcopy(value)
    return merged


def load_model_config(
    path: str | Path | None = None, overrides: Mapping[str, Any] | None = None
) -> dict[str, Any]:
    """The model configuration: ``config/models.yaml`` (or ``path``) with ``overrides``
    deep-merged over it (e.g. ``{"lstm": {"epochs": 3}}``)."""
    if path is None:
        # Anchored on the package itself: config/ has no __init__.py.
        text = resources.files("signal_pipeline").joinpath("config/models.yaml").read_text()
    else:
        text = Path(path).read_text()
    config = yaml.safe_load(text) or {}
    if not isinstance(config, dict):
        raise ModelError(f"model config {path or 'models.yaml'} is not a YAML mapping.")
    return _deep_merge(config, overrides or {})


def feature_matrix(X: pd.DataFrame | np.ndarray) -> tuple[np.ndarray, list[str]]:
    """Float64 feature values and names of ``X``, the key columns left out."""
    if isinstance(X, pd.DataFrame):
        frame = X.drop(columns=[c for c in KEY_COLUMNS if c in X.columns])
        non_numeric = [c for c in frame.columns if not pd.api.types.is_numeric_dtype(frame[c])]
        if non_numeric:
            raise ModelError(
                f"feature columns {non_numeric[:5]} are not numeric: a feature table holds "
                "one float column per feature plus the keys 'symbol' and 'ts'."
            )
        return frame.to_numpy(dtype=np.float64), [str(c) for c in frame.columns]
    values = np.asarray(X, dtype=np.float64)
    if values.ndim != 2:
        raise ModelError(f"X has shape {values.shape}: expected a 2-D (rows, features) array.")
    return values, [f"f{i}" for i in range(values.shape[1])]


def row_keys(X: pd.DataFrame | np.ndarray) -> pd.DataFrame | None:
    """The (symbol, ts) of each row of ``X`` from its columns or index levels, if present."""
    if not isinstance(X, pd.DataFrame):
        return None
    found: dict[str, Any] = {}
    for key in KEY_COLUMNS:
        # Pandas arrays, not numpy: a tz-aware ts would become an object array of Timestamps.
        if key in X.columns:
            found[key] = X[key].array
        elif key in (X.index.names or []):
            found[key] = X.index.get_level_values(key).array
    if len(found) < len(KEY_COLUMNS):
        return None
    return pd.DataFrame(found)


def with_key_columns(
    frame: pd.DataFrame, name: str, error: type[ModelError] = ModelError
) -> pd.DataFrame:
    """``frame`` with ``symbol`` and ``ts`` as columns (moved out of the index if there)."""
    index_keys = [k for k in KEY_COLUMNS if k in (frame.index.names or [])]
    if index_keys:
        frame = frame.reset_index(level=index_keys)
    missing = [k for k in KEY_COLUMNS if k not in frame.columns]
    if missing:
        raise error(
            f"{name} lack key(s) {missing}: key them by 'symbol' and 'ts' (columns or index)."
        )
    return frame.reset_index(drop=True)


def check_labels(y: Any, n_rows: int) -> np.ndarray:
    """Labels as int64 in {0, 1, 2}, one per row."""
    labels = np.asarray(y)
    if labels.shape != (n_rows,):
        raise ModelError(f"y has shape {labels.shape}: expected ({n_rows},), one label per row.")
    if labels.dtype.kind == "f" and not np.all(np.isfinite(labels)):
        raise ModelError("y contains NaN: drop unlabelled rows before fitting.")
    as_int = labels.astype(np.int64)
    if not np.all(as_int == labels) or not np.isin(as_int, np.arange(N_CLASSES)).all():
        bad = np.unique(labels[~np.isin(labels, np.arange(N_CLASSES))])[:5].tolist()
        raise ModelError(f"y contains {bad}: labels must be 0 (SELL), 1 (HOLD) or 2 (BUY).")
    return as_int


def check_sample_weight(sample_weight: Any, n_rows: int) -> np.ndarray | None:
    if sample_weight is None:
        return None
    weight = np.asarray(sample_weight, dtype=np.float64)
    if weight.shape != (n_rows,) or not np.all(np.isfinite(weight)) or np.any(weight < 0):
        raise ModelError(
            f"sample_weight has shape {weight.shape} or invalid values: expected ({n_rows},) "
            "finite non-negative weights."
        )
    return weight


def expand_proba(proba: np.ndarray, present: np.ndarray) -> np.ndarray:
    """Place columns for the classes ``present`` into an (n, 3) array, others 0."""
    full = np.zeros((proba.shape[0], N_CLASSES), dtype=np.float64)
    full[:, present] = proba
    return full


def write_meta(folder: Path, meta: Mapping[str, Any]) -> None:
    (folder / META_FILE).write_text(json.dumps(dict(meta), indent=2, sort_keys=True))


def read_meta(folder: Path) -> dict[str, Any]:
    path = Path(folder) / META_FILE
    if not path.is_file():
        raise ModelError(f"{path} not found: {folder} is not a folder written by model.save().")
    return json.loads(path.read_text())


class SignalModel(ABC):
    """Base of the ensemble members (scikit-learn estimator contract, 3 fixed classes)."""

    #: Key of this member in ``models.yaml`` and in saved metadata.
    kind: ClassVar[str]
    classes_: np.ndarray = np.arange(N_CLASSES)

    def __init__(self, params: Mapping[str, Any] | None = None, **overrides: Any) -> None:
        defaults = load_model_config().get(self.kind, {})
        self.params: dict[str, Any] = _deep_merge(defaults, {**(params or {}), **overrides})

    def get_params(self, deep: bool = True) -> dict[str, Any]:
        return {"params": copy.deepcopy(self.params)}

    def set_params(self, **params: Any) -> Self:
        self.params = _deep_merge(self.params, params.get("params", params))
        return self

    def clone(self) -> Self:
        """An unfitted copy with the same params (what cross-validation fits per fold)."""
        return type(self)(self.params)

    @abstractmethod
    def fit(self, X: Any, y: Any, sample_weight: Any = None) -> Self: ...

    @abstractmethod
    def predict_proba(self, X: Any) -> np.ndarray: ...

    def predict(self, X: Any) -> np.ndarray:
        return self.predict_proba(X).argmax(axis=1)

    @abstractmethod
    def save(self, path: str | Path) -> Path:
        """Write the fitted model into folder ``path`` (created); returns it."""

    @classmethod
    @abstractmethod
    def load(cls, path: str | Path) -> Self: ...

    def _require_fitted(self) -> None:
        if not hasattr(self, "n_features_in_"):
            raise ModelNotFittedError(
                f"{type(self).__name__} is not fitted: call fit(X, y) before predicting or saving."
            )

    def _check_features(self, names: list[str]) -> None:
        if len(names) != self.n_features_in_:
            raise ModelError(
                f"X has {len(names)} features but {type(self).__name__} was fitted on "
                f"{self.n_features_in_}: pass the same feature columns as in fit."
            )

    def _base_meta(self) -> dict[str, Any]:
        return {
            "kind": self.kind,
            "format_version": FORMAT_VERSION,
            "params": self.params,
            "feature_names_in_": list(self.feature_names_in_),
            "present_classes_": [int(c) for c in self.present_classes_],
        }


def model_class(kind: str) -> type[SignalModel]:
    """The member class registered under ``kind`` (``xgboost``, ``random_forest``, ``lstm``)."""
    from signal_pipeline.models.forest import RandomForestModel
    from signal_pipeline.models.lstm import LSTMModel
    from signal_pipeline.models.xgb import XGBoostModel

    classes: dict[str, type[SignalModel]] = {
        XGBoostModel.kind: XGBoostModel,
        RandomForestModel.kind: RandomForestModel,
        LSTMModel.kind: LSTMModel,
    }
    if kind not in classes:
        raise ModelError(f"unknown model kind {kind!r}: choose one of {sorted(classes)}.")
    return classes[kind]


def load_model(path: str | Path) -> SignalModel:
    """Load any member saved with ``save`` (its kind is read from ``meta.json``)."""
    return model_class(read_meta(Path(path))["kind"]).load(path)
